import type { Registry } from "prom-client";
import { describeError, type Logger } from "../log.ts";
import { createSampler, type OpsSample } from "./sample.ts";
import type { SnapshotStore } from "./snapshot-store.ts";

export const SAMPLE_INTERVAL_MS = 1_000;
/** Samples each snapshot carries: a minute of history for the page's charts. */
export const HISTORY_SAMPLES = 60;
/** A snapshot outlives a few missed writes, then its instance drops off the page. */
const SNAPSHOT_TTL_MS = 5_000;

/** Every interval, samples this instance's registry and writes its snapshot (best effort). */
export function startOpsPublisher(opts: { instanceId: string; registry: Registry; store: SnapshotStore; log: Logger; intervalMs?: number }) {
  const { instanceId, store, log, intervalMs = SAMPLE_INTERVAL_MS } = opts;
  const sample = createSampler(opts.registry);
  const history: OpsSample[] = [];
  let lastFailure = 0;
  let running: Promise<void> | undefined;

  const tick = async () => {
    history.push(await sample());
    if (history.length > HISTORY_SAMPLES) history.shift();
    await store.write({ instanceId, samples: history }, SNAPSHOT_TTL_MS);
  };
  const timer = setInterval(() => {
    // A write still waiting (Redis slow) is not stacked on.
    running ??= tick()
      .catch((err) => {
        // Redis away: the page misses this instance until it is back; logged at most every 10 s.
        if (Date.now() - lastFailure > 10_000) {
          lastFailure = Date.now();
          log.warn("ops snapshot not written", describeError(err));
        }
      })
      .finally(() => (running = undefined));
  }, intervalMs);
  timer.unref?.();
  // The first sample is the baseline for rates; taken now so the first write has a real interval.
  void tick().catch(() => {});

  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

// What a ladder of lighter-generator runs adds up to, per step and target: the median of the
// repeats (one noisy run on a shared 2-core box decides nothing), the ratios ours / peer, and
// the largest step each target held under the latency bar. Pure, so it is tested on its own.

export interface LadderRun {
  target: "bun" | "peer";
  clients: number;
  exitCode: number;
  /** scripts/bench-delivery.ts --json, or null when the run failed. */
  result: any;
}

export interface StepSummary {
  clients: number;
  runs: number;
  /** Every repeat delivered everything (and, for ours, in order). */
  complete: boolean;
  p50: number;
  p95: number;
  p99: number;
  deliveriesPerSecond: number;
  /** Median CPU % of one core over the send phase, per process group. */
  cpu: { servers: number; postgres: number; redis: number; caddy: number; clients: number };
  bytesPerDelivery: number;
}

export interface Verdict {
  clients: number;
  ours: StepSummary;
  peer: StepSummary;
  /** ours p95 / peer p95 */
  ratio: number;
  /** The issue does not judge a step where both are under `floorMs`. */
  judged: boolean;
  met: boolean;
}

export function median(values: number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (!sorted.length) return Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);

/** A run counts when it reported and lost nothing; ours must also keep order (the peer does not promise it). */
export function runComplete(run: LadderRun): boolean {
  const r = run.result;
  if (!r) return false;
  const order = run.target === "bun" ? r.order.violations : 0;
  return order + r.order.duplicates + r.order.missing === 0 && r.deliveries.received >= r.deliveries.expected;
}

export function summarizeStep(runs: LadderRun[]): StepSummary {
  const reported = runs.filter((r) => r.result);
  const pick = (f: (r: any) => number) => median(reported.map((r) => f(r.result)));
  return {
    clients: runs[0]!.clients,
    runs: runs.length,
    complete: runs.length > 0 && runs.every(runComplete),
    p50: pick((r) => r.latencyMs.p50),
    p95: pick((r) => r.latencyMs.p95),
    p99: pick((r) => r.latencyMs.p99),
    deliveriesPerSecond: pick((r) => r.deliveries.perSecond),
    cpu: {
      servers: pick((r) => sum(r.servers.map((s: any) => s.cpuPercent))),
      postgres: pick((r) => r.storesCpuPercent.postgres),
      redis: pick((r) => r.storesCpuPercent.redis),
      caddy: pick((r) => r.storesCpuPercent.caddy ?? Number.NaN),
      clients: pick((r) => sum(r.clientProcesses.map((w: any) => w.cpuPercent))),
    },
    bytesPerDelivery: pick((r) => r.bytesPerDelivery.wire),
  };
}

export function summarizeLadder(runs: LadderRun[], opts: { ratioTarget: number; floorMs: number; barMs: number }) {
  const steps = [...new Set(runs.map((r) => r.clients))].sort((a, b) => a - b);
  const of = (target: LadderRun["target"]) =>
    steps.map((clients) => runs.filter((r) => r.target === target && r.clients === clients)).filter((rs) => rs.length).map(summarizeStep);
  const ours = of("bun");
  const peer = of("peer");
  const verdicts: Verdict[] = ours.flatMap((o) => {
    const p = peer.find((x) => x.clients === o.clients);
    if (!p) return [];
    const ratio = o.p95 / p.p95;
    const judged = !(o.p95 < opts.floorMs && p.p95 < opts.floorMs);
    return [{ clients: o.clients, ours: o, peer: p, ratio, judged, met: o.complete && (!judged || ratio <= opts.ratioTarget) }];
  });
  // Held: the largest step at which the median p95 stayed under the bar with nothing lost, every
  // step below it too (a step that broke once is not held again by luck above it).
  const held = (summaries: StepSummary[]) => {
    let best = 0;
    for (const s of summaries) {
      if (!(s.complete && s.p95 < opts.barMs)) break;
      best = s.clients;
    }
    return best;
  };
  return { steps, ours, peer, verdicts, held: { ours: held(ours), peer: held(peer) } };
}

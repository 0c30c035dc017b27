import { describe, expect, test } from "bun:test";
import { median, summarizeLadder, type LadderRun } from "./ladder.ts";

/** The parts of a bench-delivery --json report the ladder reads. */
function run(target: LadderRun["target"], clients: number, p95: number, extra: { missing?: number; violations?: number; failed?: boolean } = {}): LadderRun {
  if (extra.failed) return { target, clients, exitCode: 1, result: null };
  return {
    target,
    clients,
    exitCode: 0,
    result: {
      latencyMs: { p50: p95 / 4, p95, p99: p95 * 2 },
      deliveries: { perSecond: clients * 10, expected: 100, received: 100 - (extra.missing ?? 0) },
      order: { violations: extra.violations ?? 0, duplicates: 0, missing: extra.missing ?? 0 },
      servers: [{ cpuPercent: 20 }, { cpuPercent: 30 }],
      storesCpuPercent: { postgres: 10, redis: 2, caddy: 40 },
      clientProcesses: [{ cpuPercent: 15 }, { cpuPercent: 16 }],
      bytesPerDelivery: { wire: 470 },
    },
  };
}

const opts = { ratioTarget: 0.7, floorMs: 20, barMs: 100 };

describe("ladder summary", () => {
  test("median of odd and even counts, ignoring missing values", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([Number.NaN, 5])).toBe(5);
    expect(median([])).toBeNaN();
  });

  test("ratios from the medians; a step where both stay under the floor is not judged", () => {
    const s = summarizeLadder(
      [run("bun", 1000, 6), run("bun", 1000, 8), run("peer", 1000, 7), run("peer", 1000, 9), run("bun", 2000, 20), run("bun", 2000, 40), run("peer", 2000, 50), run("peer", 2000, 70)],
      opts,
    );
    const [first, second] = s.verdicts;
    expect(first).toMatchObject({ clients: 1000, judged: false, met: true });
    expect(second!.ours.p95).toBe(30);
    expect(second!.peer.p95).toBe(60);
    expect(second).toMatchObject({ clients: 2000, ratio: 0.5, judged: true, met: true });
    expect(second!.ours.cpu).toEqual({ servers: 50, postgres: 10, redis: 2, caddy: 40, clients: 31 });
  });

  test("a ratio above the target, or a lossy run, is not met", () => {
    const s = summarizeLadder([run("bun", 2000, 50), run("peer", 2000, 60), run("bun", 3000, 10, { missing: 1 }), run("peer", 3000, 900)], opts);
    expect(s.verdicts.map((v) => v.met)).toEqual([false, false]);
  });

  test("held: the largest step under the bar with every step below it held too", () => {
    const s = summarizeLadder(
      [
        run("bun", 1000, 10),
        run("bun", 2000, 50),
        run("bun", 3000, 99),
        run("bun", 4000, 150),
        run("peer", 1000, 20),
        run("peer", 2000, 120),
        run("peer", 3000, 90),
      ],
      opts,
    );
    expect(s.held).toEqual({ ours: 3000, peer: 1000 });
  });

  test("order violations break ours, not the peer (its order is not promised); a failed run breaks either", () => {
    const s = summarizeLadder([run("bun", 1000, 10, { violations: 3 }), run("peer", 1000, 10, { violations: 3 }), run("peer", 2000, 10, { failed: true })], opts);
    expect(s.ours[0]!.complete).toBe(false);
    expect(s.peer.map((p) => p.complete)).toEqual([true, false]);
    expect(s.held).toEqual({ ours: 0, peer: 1000 });
  });
});

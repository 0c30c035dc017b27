import { expect, test } from "bun:test";
import { drift, type Sample } from "./process-sampler.ts";

const MB = 1048576;
// One sample a second for 400 s: the server's RSS grows 0.1 MB a second, its connections stay
// at 500; Postgres stays flat; k6 exits at 350 s.
const samples: Sample[] = Array.from({ length: 401 }, (_, t) => ({
  t,
  procs: {
    "bun-1": { cpuMs: t * 100, rssBytes: (100 + t * 0.1) * MB, connections: 500 },
    postgres: { cpuMs: t * 50, rssBytes: 300 * MB },
    ...(t < 350 ? { k6: { cpuMs: t * 300, rssBytes: 200 * MB } } : {}),
  },
}));

test("drift compares the medians of an early window after warm-up with the last window of the load", () => {
  const rows = drift(samples, 20, 380);
  const bun = rows.find((r) => r.name === "bun-1")!;
  // early window 80..140 s (median 110 s), late 320..380 s (median 350 s)
  expect(bun.rssMb).toEqual({ early: 111, late: 135, change: 24 });
  expect(bun.connections).toEqual({ early: 500, late: 500, change: 0 });
  expect(rows.find((r) => r.name === "postgres")).toEqual({ name: "postgres", rssMb: { early: 300, late: 300, change: 0 } });
  // k6 is in only part of the late window: its median is over the samples it is in.
  expect(rows.find((r) => r.name === "k6")!.rssMb.late).toBe(200);
});

test("a run too short for both windows has no drift to report", () => {
  expect(drift(samples.slice(0, 50), 0, 49)).toEqual([]);
});

test("a bench report has a drift table only for runs whose load lasts five minutes or more", async () => {
  const { driftOf } = await import("./report.ts");
  const run = (endS: number) => ({ samples, chatFromS: 20, k6: { plan: { groups: [{ endS }] } } }) as unknown as Parameters<typeof driftOf>[0];
  expect(driftOf(run(60))).toBeNull();
  expect(driftOf(run(360))!.find((r) => r.name === "bun-1")!.rssMb.change).toBe(24);
});

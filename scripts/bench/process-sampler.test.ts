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

test("a tree's RSS counts shared pages once: at most the sum of its processes' RSS, and more than none", async () => {
  const { startSampler } = await import("./process-sampler.ts");
  // A parent with two children, all three the same binary (its file pages shared).
  const script = "const k = () => Bun.spawn(['bun', '-e', 'await Bun.sleep(5000)']); k(); k(); await Bun.sleep(5000);";
  const parent = Bun.spawn(["bun", "-e", script], { stdout: "ignore", stderr: "ignore" });
  try {
    await Bun.sleep(700);
    const sampler = startSampler(() => [{ name: "tree", pid: parent.pid, tree: true }], 100);
    await Bun.sleep(150);
    const samples = await sampler.stop();
    const rss = samples.at(-1)!.procs.tree!.rssBytes;
    let sum = 0;
    let members = 0;
    for (const entry of new Bun.Glob("[0-9]*").scanSync({ cwd: "/proc", onlyFiles: false })) {
      const stat = await Bun.file(`/proc/${entry}/stat`).text().catch(() => "");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(entry) === parent.pid || Number(fields[1]) === parent.pid) {
        sum += Number(fields[21]) * 4096;
        members++;
      }
    }
    expect(members).toBe(3);
    expect(rss).toBeGreaterThan(0);
    expect(rss).toBeLessThan(sum);
  } finally {
    parent.kill("SIGKILL");
  }
});

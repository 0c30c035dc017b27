// The lighter load generator, stepped up, against ours and the Socket.IO peer:
//   bun run bench:ladder [--steps 1000,2000,3000,4000] [--repeat 2] [--duration 20]
//                        [--room-size 50] [--send-every 5] [--users 1200] [--out load/results] [--perf]
// For when k6 runs out of CPU before the servers do (k6 parses every frame in JS): Bun clients
// in 2 processes through Caddy, rooms of --room-size sockets, every socket sending one message
// every --send-every seconds (the chat scenario's shape). Each step runs --repeat times per
// target, alternating ours and the peer so drift on the machine hits both; the report takes the
// median per step. Sockets share --users accounts, and one user's sockets all join the same room
// (several tabs of one person), so no socket gets another room's activity. Writes
// load/results/<date>-ladder/ (report.md, report.json, latency.svg). --perf samples the whole
// machine in every run (bench-delivery --perf) and adds where its CPU went, per process, user
// against kernel. Loopback only, every run bounded by bench-delivery's own deadlines.
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { runDelivery } from "./bench/delivery-run.ts";
import { intFlag } from "./bench/flags.ts";
import { summarizeLadder, type LadderRun, type StepSummary } from "./bench/ladder.ts";
import { loadAverage } from "./bench/process-sampler.ts";
import { lineChart } from "./bench/svg-chart.ts";
import type { RoleSplit } from "./lib/perf-split.ts";

const ROOT = resolve(import.meta.dir, "..");
const RATIO_TARGET = 0.7;
const FLOOR_MS = 20;
const BAR_MS = 100;

const { values } = parseArgs({
  options: {
    steps: { type: "string", default: "1000,2000,3000,4000" },
    repeat: { type: "string", default: "2" },
    duration: { type: "string", default: "20" },
    "room-size": { type: "string", default: "50" },
    "send-every": { type: "string", default: "5" },
    users: { type: "string", default: "1200" },
    out: { type: "string", default: "load/results" },
    perf: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});

const log = (msg: string) => process.stderr.write(`[ladder] ${msg}\n`);

function parseOptions() {
  const steps = values.steps!.split(",").map((s) => intFlag("steps", s.trim()));
  const roomSize = intFlag("room-size", values["room-size"]!);
  const users = intFlag("users", values.users!);
  const opts = {
    steps: [...new Set(steps)].sort((a, b) => a - b),
    repeat: intFlag("repeat", values.repeat!),
    durationS: intFlag("duration", values.duration!),
    roomSize,
    sendEveryS: intFlag("send-every", values["send-every"]!),
    users,
  };
  for (const clients of opts.steps) {
    const rooms = clients / roomSize;
    if (!Number.isInteger(rooms)) throw new Error(`step ${clients}: not a whole number of rooms of ${roomSize}`);
    // Client i is user i % users in room i % rooms: with users a multiple of rooms, a user's sockets share one room.
    if (clients > users && users % rooms !== 0) throw new Error(`step ${clients}: --users ${users} must be a multiple of its ${rooms} rooms`);
  }
  return opts;
}

function argsFor(clients: number, o: ReturnType<typeof parseOptions>) {
  return [
    "--caddy", "--instances", "2", "--client-procs", "2",
    "--clients", String(clients), "--rooms", String(clients / o.roomSize),
    "--users", String(Math.min(clients, o.users)), "--senders", String(clients),
    "--rate", String(Math.max(1, Math.round(clients / o.sendEveryS))), "--duration", String(o.durationS),
  ];
}

const f = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : "–");
const cpuCell = (s: StepSummary) => `${f(s.cpu.servers)} / ${f(s.cpu.postgres)} / ${f(s.cpu.redis)} / ${f(s.cpu.caddy)} / ${f(s.cpu.clients)}`;

/** Median % of a core per process group over each step's runs, total (kernel part), from perf. */
function perfSection(runs: LadderRun[]): string[] {
  const groups: [string, (role: string) => boolean][] = [
    ["servers", (r) => /^(bun|peer)-\d+$/.test(r)],
    ["caddy", (r) => r === "caddy"],
    ["postgres", (r) => r === "postgres"],
    ["redis", (r) => r === "redis"],
    ["generator", (r) => r.startsWith("client proc")],
    ["all but idle", (r) => r !== "idle"],
  ];
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? Number.NaN;
  const cell = (rs: LadderRun[], keep: (role: string) => boolean) => {
    const parts = rs.map((r) => (r.result?.perf ?? []).filter((x: RoleSplit) => keep(x.role)));
    const total = median(parts.map((ps) => ps.reduce((n: number, x: RoleSplit) => n + x.cpuPercent, 0)));
    const kernel = median(parts.map((ps) => ps.reduce((n: number, x: RoleSplit) => n + x.kernelPercent, 0)));
    return `${f(total)} (${f(kernel)})`;
  };
  const rows: string[] = [];
  for (const clients of [...new Set(runs.map((r) => r.clients))]) {
    for (const target of ["bun", "peer"] as const) {
      const rs = runs.filter((r) => r.clients === clients && r.target === target && r.result?.perf);
      if (rs.length) rows.push(`| ${clients} | ${target === "bun" ? "ours" : "peer"} | ${groups.map(([, keep]) => cell(rs, keep)).join(" | ")} |`);
    }
  }
  return [
    "## Where the machine's CPU went (perf record -a, medians, % of one core: total (kernel))",
    "",
    `| clients | target | ${groups.map(([name]) => name).join(" | ")} |`,
    `|---|---|${groups.map(() => "---").join("|")}|`,
    ...rows,
    "",
    "Per run, with the kernel part by system call: the perf-*.md files beside this report.",
    "",
  ];
}

async function main() {
  if (values.help) {
    console.log("bun run bench:ladder [--steps 1000,2000,3000,4000] [--repeat 2] [--duration 20] [--room-size 50] [--send-every 5] [--users 1200] [--out load/results] [--perf]");
    return;
  }
  const o = parseOptions();
  const stamp = new Date().toISOString().slice(0, 16).replace(/[:T]/g, "-");
  const outDir = resolve(ROOT, values.out!, `${stamp}-ladder`);
  mkdirSync(outDir, { recursive: true });
  const startedAt = new Date().toISOString();
  const loadBefore = await loadAverage();

  const runs: (LadderRun & { command: string; error?: string })[] = [];
  for (const clients of o.steps) {
    for (let k = 0; k < o.repeat; k++) {
      // ours first on even repeats, the peer first on odd ones
      const order: LadderRun["target"][] = k % 2 ? ["peer", "bun"] : ["bun", "peer"];
      for (const target of order) {
        const args = [...argsFor(clients, o), ...(values.perf ? ["--perf", join(outDir, `perf-${target}-${clients}-${k}.md`)] : [])];
        const done = await runDelivery(target, "v1", args, log).catch((err) => ({
          target,
          exitCode: 1,
          command: `bun run bench:delivery -- --target ${target} ${args.join(" ")}`,
          result: null,
          error: String(err),
        }));
        runs.push({ target, clients, exitCode: done.exitCode, result: done.result, command: done.command, error: done.error });
        const r = done.result;
        log(`${target} ${clients}: ${r ? `p95 ${r.latencyMs.p95} ms, ${r.deliveries.received}/${r.deliveries.expected} delivered` : "failed"}`);
      }
    }
  }

  const summary = summarizeLadder(runs, { ratioTarget: RATIO_TARGET, floorMs: FLOOR_MS, barMs: BAR_MS });
  const command = `bun run bench:ladder -- --steps ${o.steps.join(",")} --repeat ${o.repeat} --duration ${o.durationS} --room-size ${o.roomSize} --send-every ${o.sendEveryS} --users ${o.users}${values.perf ? " --perf" : ""}`;
  const md = [
    "# Ladder: the lighter load generator, ours vs the Socket.IO peer",
    "",
    `${startedAt}, ${navigator.hardwareConcurrency} cores, load average before ${loadBefore}, after ${await loadAverage()}. Two instances behind Caddy per target; Postgres, Redis, Caddy and the generator (2 Bun processes) on the same machine.`,
    "",
    "```",
    command,
    "```",
    "",
    `Rooms of ${o.roomSize} sockets, each socket sends a message every ${o.sendEveryS} s for ${o.durationS} s; ${o.repeat} run(s) per step and target, medians below. Ours speaks its default frames (v1).`,
    "",
    `| clients | deliveries/s ours / peer | p50 ours / peer (ms) | p95 ours / peer (ms) | p99 ours / peer (ms) | p95 ratio | target ≤ ${RATIO_TARGET} |`,
    "|---|---|---|---|---|---|---|",
    ...summary.verdicts.map(
      (v) =>
        `| ${v.clients} | ${f(v.ours.deliveriesPerSecond)} / ${f(v.peer.deliveriesPerSecond)} | ${f(v.ours.p50)} / ${f(v.peer.p50)} | ${f(v.ours.p95)} / ${f(v.peer.p95)} | ${f(v.ours.p99)} / ${f(v.peer.p99)} | ${f(v.ratio, 2)} | ${v.judged ? (v.met ? "met" : "missed") : `not judged (both < ${FLOOR_MS} ms)`}${v.ours.complete && v.peer.complete ? "" : " (a run lost or reordered messages)"} |`,
    ),
    "",
    `Largest step held at delivery p95 < ${BAR_MS} ms (every step below it too, nothing lost): ours ${summary.held.ours || "none"}, peer ${summary.held.peer || "none"} (ratio ${summary.held.peer ? f(summary.held.ours / summary.held.peer, 2) : "–"}, target ≥ 2).`,
    "",
    "## CPU per step (median % of one core over the send phase)",
    "",
    "| clients | ours: servers / postgres / redis / caddy / generator | peer: servers / postgres / redis / caddy / generator | wire bytes per delivery ours / peer |",
    "|---|---|---|---|",
    ...summary.verdicts.map((v) => `| ${v.clients} | ${cpuCell(v.ours)} | ${cpuCell(v.peer)} | ${f(v.ours.bytesPerDelivery, 1)} / ${f(v.peer.bytesPerDelivery, 1)} |`),
    "",
    ...(values.perf ? perfSection(runs) : []),
    "## Runs",
    "",
    "| target | clients | p50 / p95 / p99 (ms) | delivered / expected | order violations | load average after |",
    "|---|---|---|---|---|---|",
    ...runs.map((r) =>
      r.result
        ? `| ${r.target} | ${r.clients} | ${r.result.latencyMs.p50} / ${r.result.latencyMs.p95} / ${r.result.latencyMs.p99} | ${r.result.deliveries.received} / ${r.result.deliveries.expected} | ${r.result.order.violations} | ${r.result.machine.loadAverage} |`
        : `| ${r.target} | ${r.clients} | failed: ${r.error ?? `exit ${r.exitCode}`} | – | – | – |`,
    ),
    "",
    "![p95 vs clients](latency.svg)",
    "",
  ];
  writeFileSync(join(outDir, "report.md"), md.join("\n"));
  writeFileSync(join(outDir, "report.json"), JSON.stringify({ startedAt, command, options: o, summary, runs }, null, 2));
  writeFileSync(
    join(outDir, "latency.svg"),
    lineChart({
      title: "Delivery p95 vs clients (lighter generator, medians)",
      xLabel: "clients",
      yLabel: "p95 (ms)",
      series: [
        { name: "ours p95", points: summary.ours.map((s) => [s.clients, s.p95] as [number, number]) },
        { name: "peer p95", points: summary.peer.map((s) => [s.clients, s.p95] as [number, number]), dashed: true },
      ],
      hLine: { y: BAR_MS, label: `${BAR_MS} ms` },
    }),
  );
  console.log(md.slice(0, 20).join("\n"));
  console.log(`report: ${join(outDir, "report.md")}`);
}

await main();

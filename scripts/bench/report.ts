// Turns the k6 summaries and process samples of a bench run into report.json, report.md and
// SVG plots in the run's folder; with two targets, also the ratios ours / peer.
import { join } from "node:path";
import { drift, type Drift, type Sample } from "./process-sampler.ts";
import { lineChart, type Series } from "./svg-chart.ts";
import type { DeliveryRun } from "./delivery-run.ts";

export interface TargetRun {
  target: "bun" | "peer";
  /** Ours' wire encoding; null for the peer. */
  protocol: "v1" | "v2" | null;
  k6ExitCode: number;
  /** load/lib/summary.js's report. */
  k6: any;
  samples: Sample[];
  /** CPU and RSS over the chat phase: from this many seconds after sampling began (k6 setup done). */
  usage: Record<string, { cpuSeconds: number; peakRssMb: number; startRssMb: number; endRssMb: number }>;
  chatFromS: number;
  cpu: Series[];
  rss: Series[];
  /** Established TCP connections per server over time. */
  connections: Series[];
  servers: string[];
  load: { before: string; after: string };
  /** /metrics of each of our instances at the end of the run (ours only). */
  scrapes: string[];
}

/** Ours is named with its wire encoding (v1 JSON envelopes, v2 chat.v2 arrays); the peer has one. */
const labelFor = (protocol: string) => (target: "bun" | "peer") => (target === "bun" ? `ours (Bun, ${protocol})` : "peer (Socket.IO)");

export function derive(run: TargetRun) {
  const k = run.k6;
  const deliveries = k.counts.deliveriesReceived as number;
  const serverCpu = run.servers.reduce((s, n) => s + (run.usage[n]?.cpuSeconds ?? 0), 0);
  const storesCpu = ["caddy", "postgres", "redis"].reduce((s, n) => s + (run.usage[n]?.cpuSeconds ?? 0), 0);
  const measured = (k.windows as any[]).filter((w) => w.deliveries > 0);
  const peakUsers = measured.length ? Math.max(...measured.map((w) => w.users)) : k.plan.totalUsers;
  const rssGrowthMb = run.servers.reduce((s, n) => s + ((run.usage[n]?.peakRssMb ?? 0) - (run.usage[n]?.startRssMb ?? 0)), 0);
  return {
    target: run.target,
    passed: k.passed,
    aborted: k.aborted,
    users: k.plan.totalUsers,
    peakUsers,
    heldUsersAtTarget: k.heldUsersAtTarget,
    latencyMs: k.deliveryLatencyMs,
    httpP95Ms: k.httpDurationMs.p95,
    deliveries,
    expected: k.counts.deliveriesExpected,
    missing: k.counts.deliveriesMissing,
    connectionErrorRate: k.counts.connectionErrorRate,
    serverCpuSeconds: +serverCpu.toFixed(2),
    storesCpuSeconds: +storesCpu.toFixed(2),
    k6CpuSeconds: run.usage.k6?.cpuSeconds ?? null,
    serverCpuMsPerDelivery: deliveries ? +((serverCpu * 1000) / deliveries).toFixed(4) : null,
    wsBytesPerDelivery: deliveries ? +(k.counts.wsBytesReceived / deliveries).toFixed(1) : null,
    k6BytesInPerDelivery: deliveries ? +(k.counts.dataReceivedBytes / deliveries).toFixed(1) : null,
    serverPeakRssMb: +run.servers.reduce((s, n) => s + (run.usage[n]?.peakRssMb ?? 0), 0).toFixed(1),
    memoryPerConnectionKb: peakUsers ? +((rssGrowthMb * 1024) / peakUsers).toFixed(1) : null,
    load: run.load,
  };
}

type Derived = ReturnType<typeof derive>;

/** A long run's (a soak's) memory and connection drift, from its samples; null for short runs. */
export function driftOf(run: TargetRun, minLoadS = 300): Drift[] | null {
  const endS = Math.max(0, ...((run.k6.plan?.groups ?? []) as { endS: number }[]).map((g) => g.endS));
  if (endS < minLoadS) return null;
  const rows = drift(run.samples, run.chatFromS, run.chatFromS + endS);
  return rows.length ? rows : null;
}

const ratio = (a: number | null | undefined, b: number | null | undefined) =>
  a === null || a === undefined || b === null || b === undefined || b === 0 ? null : +(a / b).toFixed(2);

/** The window with the most users that both runs measured whole: latency there is at equal load. */
function equalLoadWindow(ours: TargetRun, peer: TargetRun) {
  const theirs = new Map((peer.k6.windows as any[]).map((w) => [w.id, w]));
  const both = (ours.k6.windows as any[]).filter((w) => w.deliveries > 0 && theirs.get(w.id)?.deliveries > 0);
  const pick = both.sort((a, b) => a.users - b.users || a.id - b.id).at(-1);
  return pick ? { ours: pick, peer: theirs.get(pick.id) } : null;
}

export function ratios(ours: Derived, peer: Derived, runs: { ours: TargetRun; peer: TargetRun }) {
  const at = equalLoadWindow(runs.ours, runs.peer);
  return {
    heldUsersAtTarget: ratio(ours.heldUsersAtTarget, peer.heldUsersAtTarget),
    equalLoad: at && { window: at.ours.id, users: at.ours.users, ours: at.ours, peer: at.peer },
    p50: ratio(at?.ours.p50, at?.peer.p50),
    p95: ratio(at?.ours.p95, at?.peer.p95),
    p99: ratio(at?.ours.p99, at?.peer.p99),
    serverCpuMsPerDelivery: ratio(ours.serverCpuMsPerDelivery, peer.serverCpuMsPerDelivery),
    wsBytesPerDelivery: ratio(ours.wsBytesPerDelivery, peer.wsBytesPerDelivery),
    memoryPerConnection: ratio(ours.memoryPerConnectionKb, peer.memoryPerConnectionKb),
  };
}

/** Windows with the same users merged, keeping the worst percentile of each: latency vs users. */
function byUsers(run: TargetRun, stat: "p50" | "p95" | "p99" | "deliveriesPerSecond"): [number, number][] {
  const out = new Map<number, number>();
  for (const w of run.k6.windows as any[]) {
    if (!w.deliveries || w[stat] === null) continue;
    out.set(w.users, Math.max(out.get(w.users) ?? 0, w[stat]));
  }
  return [...out].sort((a, b) => a[0] - b[0]);
}

const f = (n: unknown, digits = 1) => (n === null || n === undefined || Number.isNaN(n) ? "–" : typeof n === "number" ? n.toFixed(digits) : String(n));

export async function writeReport(opts: {
  outDir: string;
  scenario: string;
  /** Ours' wire encoding in this run. */
  protocol: "v1" | "v2";
  instances: number;
  k6Env: Record<string, string>;
  users: number;
  runs: TargetRun[];
  delivery?: DeliveryRun[];
}) {
  const { outDir, runs } = opts;
  const label = labelFor(opts.protocol);
  const derived = runs.map(derive);
  const ours = derived.find((d) => d.target === "bun");
  const peer = derived.find((d) => d.target === "peer");
  const oursRun = runs.find((r) => r.target === "bun");
  const peerRun = runs.find((r) => r.target === "peer");
  const cmp = ours && peer && oursRun && peerRun ? ratios(ours, peer, { ours: oursRun, peer: peerRun }) : null;

  const latencySeries: Series[] = runs.flatMap((r) =>
    (["p50", "p95", "p99"] as const).map((stat) => ({ name: `${label(r.target)} ${stat}`, points: byUsers(r, stat), dashed: r.target === "peer" })),
  );
  await Bun.write(
    join(outDir, "latency.svg"),
    lineChart({ title: `Delivery latency vs users (${opts.scenario})`, xLabel: "users connected", yLabel: "ms (worst window at that load)", series: latencySeries, hLine: { y: 100, label: "100 ms target" } }),
  );
  await Bun.write(
    join(outDir, "throughput.svg"),
    lineChart({
      title: `Deliveries per second vs users (${opts.scenario})`,
      xLabel: "users connected",
      yLabel: "deliveries/s",
      series: runs.map((r) => ({ name: label(r.target), points: byUsers(r, "deliveriesPerSecond"), dashed: r.target === "peer" })),
    }),
  );
  for (const r of runs) {
    await Bun.write(join(outDir, `cpu-${r.target}.svg`), lineChart({ title: `CPU per process, ${label(r.target)}`, xLabel: "seconds", yLabel: "% of one core", series: r.cpu }));
    await Bun.write(join(outDir, `memory-${r.target}.svg`), lineChart({ title: `RSS per process, ${label(r.target)}`, xLabel: "seconds", yLabel: "MB", series: r.rss }));
    await Bun.write(
      join(outDir, `connections-${r.target}.svg`),
      lineChart({ title: `Established connections per server, ${label(r.target)}`, xLabel: "seconds", yLabel: "TCP connections", series: r.connections }),
    );
    if (r.scrapes.length) await Bun.write(join(outDir, `metrics-${r.target}.txt`), r.scrapes.join("\n"));
  }

  const json = {
    scenario: opts.scenario,
    at: new Date().toISOString(),
    machine: { cpus: navigator.hardwareConcurrency },
    instances: opts.instances,
    protocol: opts.protocol,
    k6Env: opts.k6Env,
    users: opts.users,
    targets: derived,
    ratiosOursOverPeer: cmp,
    deliveryBench: opts.delivery ?? [],
    runs: runs.map((r) => ({ target: r.target, k6ExitCode: r.k6ExitCode, usage: r.usage, drift: driftOf(r), k6: r.k6 })),
  };
  await Bun.write(join(outDir, "report.json"), JSON.stringify(json, null, 2));

  const env = Object.entries(opts.k6Env).map(([k, v]) => ` --set ${k}=${v}`).join("");
  const md: string[] = [
    `# Bench: ${opts.scenario}${cmp ? " — ours vs the Socket.IO peer" : ""}`,
    "",
    `${json.at}, ${json.machine.cpus} cores, ${opts.instances} instances behind Caddy per target; k6, Postgres, Redis and Caddy on the same machine.`,
    "",
    "```",
    `bun run bench -- --scenario ${opts.scenario}${cmp ? " --compare" : runs[0]?.target === "peer" ? " --target peer" : ""}${opts.protocol === "v2" ? " --protocol v2" : ""} --instances ${opts.instances}${env}`,
    "```",
    "",
    "| | " + derived.map((d) => label(d.target)).join(" | ") + " |",
    "|---|" + derived.map(() => "---|").join(""),
    ...(
      [
        ["thresholds", (d: Derived) => (d.passed ? "passed" : d.aborted ? "broken (run stopped)" : "broken")],
        ["load average before → after", (d: Derived) => `${d.load.before} → ${d.load.after}`],
        ["users (planned / largest measured)", (d: Derived) => `${d.users} / ${d.peakUsers}`],
        ["largest users at delivery p95 < 100 ms", (d: Derived) => String(d.heldUsersAtTarget)],
        ["delivery p50 / p95 / p99 / max (ms)", (d: Derived) => `${f(d.latencyMs.p50)} / ${f(d.latencyMs.p95)} / ${f(d.latencyMs.p99)} / ${f(d.latencyMs.max)}`],
        ["HTTP p95 (ms, chat phase)", (d: Derived) => f(d.httpP95Ms)],
        ["deliveries received / expected / missing", (d: Derived) => `${d.deliveries} / ${d.expected} / ${d.missing}`],
        ["connection errors", (d: Derived) => `${f(d.connectionErrorRate * 100, 2)} %`],
        ["server CPU-seconds (all instances)", (d: Derived) => f(d.serverCpuSeconds, 2)],
        ["Caddy + Postgres + Redis CPU-seconds", (d: Derived) => f(d.storesCpuSeconds, 2)],
        ["k6 CPU-seconds", (d: Derived) => f(d.k6CpuSeconds, 2)],
        ["server CPU-ms per delivered message", (d: Derived) => f(d.serverCpuMsPerDelivery, 4)],
        ["WebSocket bytes received per delivered message", (d: Derived) => f(d.wsBytesPerDelivery)],
        ["all bytes k6 received per delivered message", (d: Derived) => f(d.k6BytesInPerDelivery)],
        ["server RSS peak (sum) / per connection", (d: Derived) => `${f(d.serverPeakRssMb)} MB / ${f(d.memoryPerConnectionKb)} KB`],
      ] as [string, (d: Derived) => string][]
    ).map(([name, get]) => `| ${name} | ${derived.map(get).join(" | ")} |`),
    "",
  ];
  if (cmp) {
    md.push(
      "## Ratios, ours ÷ peer",
      "",
      "| measure | ratio | better when |",
      "|---|---|---|",
      `| largest users at p95 < 100 ms | ${f(cmp.heldUsersAtTarget, 2)} | > 1 (target ≥ 2) |`,
      `| delivery p50 / p95 / p99 at equal load${cmp.equalLoad ? ` (${cmp.equalLoad.users} users, window ${cmp.equalLoad.window}: ours ${f(cmp.equalLoad.ours.p95)} ms p95, peer ${f(cmp.equalLoad.peer.p95)} ms)` : ""} | ${f(cmp.p50, 2)} / ${f(cmp.p95, 2)} / ${f(cmp.p99, 2)} | < 1 (target p95 ≤ 0.7) |`,
      `| server CPU per delivered message | ${f(cmp.serverCpuMsPerDelivery, 2)} | < 1 |`,
      `| WebSocket bytes per delivered message | ${f(cmp.wsBytesPerDelivery, 2)} | < 1 (target ≤ 1) |`,
      `| server memory per connection | ${f(cmp.memoryPerConnection, 2)} | < 1 |`,
      "",
    );
  }
  const failedDelivery = (opts.delivery ?? []).filter((d) => !d.result);
  for (const d of failedDelivery) md.push(`The lighter load generator failed against ${label(d.target)}: ${d.error ?? `exit ${d.exitCode}`}`, "");
  const delivered = (opts.delivery ?? []).filter((d) => d.result);
  if (delivered.length) {
    md.push(
      "## The lighter load generator (scripts/bench-delivery.ts)",
      "",
      "Bun WebSocket clients in 2 processes through Caddy, the same rooms and send rate; it parses less per frame than k6's JS.",
      "",
      "| | " + delivered.map((d) => label(d.target)).join(" | ") + " |",
      "|---|" + delivered.map(() => "---|").join(""),
    );
    const row = (name: string, get: (r: any) => string) => md.push(`| ${name} | ${delivered.map((d) => get(d.result)).join(" | ")} |`);
    row("clients / rooms / msg/s in", (r) => `${r.clients} / ${r.rooms} / ${r.targetRate}`);
    row("deliveries expected / received / missing", (r) => `${r.deliveries.expected} / ${r.deliveries.received} / ${r.order.missing}`);
    row("deliveries/s", (r) => String(r.deliveries.perSecond));
    row("latency p50 / p95 / p99 / max (ms)", (r) => `${r.latencyMs.p50} / ${r.latencyMs.p95} / ${r.latencyMs.p99} / ${r.latencyMs.max}`);
    row("order violations", (r) => String(r.order.violations));
    row("server CPU %", (r) => r.servers.map((x: any) => `${x.cpuPercent}`).join(" + "));
    row("server RSS MB (peak)", (r) => r.servers.map((x: any) => `${x.peakRssMb}`).join(" + "));
    row("postgres / redis / caddy CPU %", (r) => `${r.storesCpuPercent.postgres} / ${r.storesCpuPercent.redis} / ${r.storesCpuPercent.caddy}`);
    row("client processes CPU %", (r) => r.clientProcesses.map((w: any) => `${w.cpuPercent}`).join(" + "));
    row("load average", (r) => r.machine.loadAverage);
    md.push("", ...delivered.map((d) => `\`${d.command}\``), "");
  }
  md.push("## Per window", "", "Delivery latency per measurement window (ms), with the users connected throughout it.", "");
  md.push("| window | users | " + runs.map((r) => `${label(r.target)} deliveries/s, p50 / p95 / p99`).join(" | ") + " |");
  md.push("|---|---|" + runs.map(() => "---|").join(""));
  const windows = runs[0]!.k6.windows as any[];
  for (const w of windows) {
    const cells = runs.map((r) => {
      const x = (r.k6.windows as any[]).find((y) => y.id === w.id);
      return x?.deliveries ? `${f(x.deliveriesPerSecond, 0)}, ${f(x.p50)} / ${f(x.p95)} / ${f(x.p99)}` : "–";
    });
    md.push(`| ${w.id} (${w.fromS}–${w.toS} s) | ${w.users} | ${cells.join(" | ")} |`);
  }
  md.push("", "## Processes", "", "| process | " + runs.map((r) => `${label(r.target)} CPU-s, peak RSS MB`).join(" | ") + " |", "|---|" + runs.map(() => "---|").join(""));
  const names = [...new Set(runs.flatMap((r) => Object.keys(r.usage)))];
  for (const n of names) md.push(`| ${n} | ${runs.map((r) => (r.usage[n] ? `${f(r.usage[n]!.cpuSeconds, 2)}, ${f(r.usage[n]!.peakRssMb)}` : "–")).join(" | ")} |`);
  const drifts = runs.map((r) => ({ r, rows: driftOf(r) })).filter((d) => d.rows);
  if (drifts.length) {
    md.push("", "## Drift", "", "Median over the second minute of the load against its last minute: RSS in MB, and a server's established connections.", "");
    md.push("| process | " + drifts.map(({ r }) => `${label(r.target)} RSS early → late (change)`).join(" | ") + " | connections early → late |", "|---|" + drifts.map(() => "---|").join("") + "---|");
    const names = [...new Set(drifts.flatMap(({ rows }) => rows!.map((x) => x.name)))];
    for (const n of names) {
      const cells = drifts.map(({ rows }) => {
        const x = rows!.find((y) => y.name === n);
        return x ? `${f(x.rssMb.early)} → ${f(x.rssMb.late)} (${x.rssMb.change >= 0 ? "+" : ""}${f(x.rssMb.change)})` : "–";
      });
      const conn = drifts.map(({ rows }) => rows!.find((y) => y.name === n)?.connections).find(Boolean);
      md.push(`| ${n} | ${cells.join(" | ")} | ${conn ? `${f(conn.early, 0)} → ${f(conn.late, 0)}` : "–"} |`);
    }
  }
  md.push(
    "",
    "## Plots",
    "",
    "![latency vs users](latency.svg)",
    "",
    "![throughput vs users](throughput.svg)",
    "",
    ...runs.flatMap((r) => [`![CPU ${r.target}](cpu-${r.target}.svg)`, "", `![memory ${r.target}](memory-${r.target}.svg)`, "", `![connections ${r.target}](connections-${r.target}.svg)`, ""]),
    "Bytes are the WebSocket payloads k6 received (every frame, acks and pings included) divided by the deliveries; ",
    "CPU and RSS come from /proc, sampled every second, and are counted over the chat phase only (from the end of k6's setup, which signs every user in: " +
      runs.map((r) => `${label(r.target)} ${r.chatFromS.toFixed(0)} s after sampling began`).join(", ") +
      "). Delivery latency is sampled on one receiving socket in LATENCY_EVERY; deliveries and bytes count every socket. Other work on the machine skews every number: see the load average.",
    "",
  );
  const path = join(outDir, "report.md");
  await Bun.write(path, md.join("\n"));
  return path;
}

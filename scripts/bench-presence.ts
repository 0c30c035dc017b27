// Presence in one big room, the seed's load scenario: N users in one room, each
// sending a message every 5 s, on two instances with real processes.
//   bun run bench:presence [--users 200,500,1000] [--duration 20] [--client-procs 2] [--json]
// For each N: throwaway users (rows and sessions written directly: hashing
// passwords is not what is measured), one public room, N WebSockets spread over
// the instances, all joined; then --duration seconds of traffic. Prints, per N:
// deliveries/s, delivery latency p50/p95/p99 (now - sentAt), and the presence
// bytes (`presence` + `presence_diff`) against the message bytes received, for the
// join phase and for the traffic phase. A benchmark, not a test; loopback only,
// every phase has a deadline.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createSessions } from "../src/auth/session.ts";
import { createUsers } from "../src/auth/users.ts";
import { createMemoryCache } from "../src/cache/cache-memory.ts";
import { openDatabase } from "../src/db/client.ts";
import Redis from "ioredis";
import { startCluster, type Cluster } from "./cluster.ts";
import { readLines } from "./lib/process.ts";

const { values: flags } = parseArgs({
  options: {
    users: { type: "string", default: "200,500,1000" },
    duration: { type: "string", default: "20" },
    "client-procs": { type: "string", default: "2" },
    json: { type: "boolean", default: false },
    worker: { type: "string" },
    "worker-index": { type: "string" },
  },
});

const REPORT = "@@";
const SEND_EVERY_MS = 5_000;
const say = (kind: string, data: unknown) => process.stdout.write(`${REPORT}${kind} ${JSON.stringify(data)}\n`);

interface Plan {
  roomId: string;
  redisUrl: string;
  workers: number;
  durationMs: number;
  clients: { index: number; wsUrl: string; token: string }[];
}

interface Bytes {
  presence: number;
  presenceFrames: number;
  messages: number;
  messageFrames: number;
}

interface WorkerResult {
  join: Bytes;
  traffic: Bytes;
  firstLists: number;
  sent: number;
  received: number;
  latency: Record<string, number>;
  /** Last `total` seen, counted over the sockets still open at the end. */
  totals: Record<string, number>;
  /** Sockets the server closed during the run, by close code (4008: too slow to read). */
  closes: Record<string, number>;
  /** The shared presence set at the end of the traffic (before the sockets close): entries per instance. */
  presenceInRedis: Record<string, number>;
  /** A few presence diffs received during the traffic: when (ms after it started) and the total. */
  diffsDuringTraffic: { atMs: number; total: number }[];
}

// ---------------------------------------------------------------- worker mode

async function runWorker(planPath: string, me: number) {
  const plan = (await Bun.file(planPath).json()) as Plan;
  const mine = plan.clients.filter((c) => c.index % plan.workers === me);
  const empty = (): Bytes => ({ presence: 0, presenceFrames: 0, messages: 0, messageFrames: 0 });
  let phase: Bytes = empty();
  const join = phase;
  const latency = new Map<number, number>();
  const totals = new Map<number, number>();
  let firstLists = 0;
  let received = 0;
  let sent = 0;
  let counting = false;
  let trafficStart = 0;
  const diffsDuringTraffic: { atMs: number; total: number }[] = [];
  const closes: Record<string, number> = {};
  const closed = new Set<number>();

  const open = (c: Plan["clients"][number]) =>
    new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(`${c.wsUrl}?token=${encodeURIComponent(c.token)}`);
      const timer = setTimeout(() => reject(new Error(`client ${c.index}: no joined in 60 s`)), 60_000);
      ws.onopen = () => ws.send(JSON.stringify({ event: "join_room", data: { roomId: plan.roomId }, ref: 1 }));
      ws.onclose = (e) => {
        closes[e.code] = (closes[e.code] ?? 0) + 1;
        closed.add(c.index);
        reject(new Error(`client ${c.index}: closed ${e.code}`));
      };
      ws.onmessage = (e) => {
        const text = e.data as string;
        const f = JSON.parse(text);
        const bytes = Buffer.byteLength(text);
        if (f.event === "presence" || f.event === "presence_diff") {
          phase.presence += bytes;
          phase.presenceFrames += 1;
          if (f.event === "presence") firstLists += 1;
          if (f.event === "presence_diff" && counting && diffsDuringTraffic.length < 3) {
            diffsDuringTraffic.push({ atMs: Date.now() - trafficStart, total: f.data.total });
          }
          totals.set(c.index, f.data.total);
        } else if (f.event === "new_message") {
          phase.messages += bytes;
          phase.messageFrames += 1;
          if (counting && typeof f.data.sentAt === "number") {
            const ms = Date.now() - f.data.sentAt;
            latency.set(ms, (latency.get(ms) ?? 0) + 1);
            received += 1;
          }
        } else if (f.event === "joined") {
          clearTimeout(timer);
          resolve(ws);
        } else if (f.event === "error" && f.ref === 1) {
          reject(new Error(`client ${c.index}: ${f.data.message}`));
        }
      };
    });

  const sockets: WebSocket[] = [];
  for (let i = 0; i < mine.length; i += 50) sockets.push(...(await Promise.all(mine.slice(i, i + 50).map(open))));
  say("ready", { connected: sockets.length });

  const input = (console as unknown as AsyncIterable<string>)[Symbol.asyncIterator]();
  const next = async () => {
    const { value, done } = await input.next();
    if (done) process.exit(0);
    return value.trim();
  };
  const t0 = Number((await next()).split(" ")[1]);
  await Bun.sleep(Math.max(0, t0 - Date.now()));
  phase = empty();
  const traffic = phase;
  counting = true;
  trafficStart = Date.now();
  // Each socket sends every 5 s, at its own offset within the period.
  const timers = sockets.map((ws, i) => {
    const offset = ((mine[i]!.index * 7919) % SEND_EVERY_MS) | 0;
    const tick = () => {
      if (ws.readyState !== WebSocket.OPEN) return;
      ws.send(JSON.stringify({ event: "send_message", data: { roomId: plan.roomId, content: `hello from ${mine[i]!.index}`, timestamp: Date.now() } }));
      sent += 1;
    };
    let interval: Timer | undefined;
    const start = setTimeout(() => {
      tick();
      interval = setInterval(tick, SEND_EVERY_MS);
    }, offset);
    return () => (clearTimeout(start), clearInterval(interval));
  });
  await Bun.sleep(plan.durationMs);
  for (const stop of timers) stop();
  await Bun.sleep(1_000); // let the last deliveries land (not counted as sent after this)
  counting = false;
  await Bun.sleep(2_500); // one more presence heartbeat before the totals are read
  const presenceInRedis: Record<string, number> = {};
  if (me === 0) {
    const redis = new Redis(plan.redisUrl);
    const members = await redis.zrange(`presence:${plan.roomId}`, "0", "-1").finally(() => redis.disconnect());
    for (const m of members) presenceInRedis[m.split("\t")[0]!] = (presenceInRedis[m.split("\t")[0]!] ?? 0) + 1;
  }
  const result: WorkerResult = {
    join,
    traffic,
    firstLists,
    sent,
    received,
    latency: Object.fromEntries(latency),
    totals: Object.fromEntries(
      [...totals]
        .filter(([index]) => !closed.has(index))
        .reduce((m, [, t]) => m.set(t, (m.get(t) ?? 0) + 1), new Map<number, number>()),
    ),
    closes,
    presenceInRedis,
    diffsDuringTraffic,
  };
  say("result", result);
  // Sockets close only once every client process has reported: one closing early would
  // show up in the others' presence.
  await next();
  for (const ws of sockets) ws.onclose = null;
  for (const ws of sockets) ws.close(1000);
  process.exit(0);
}

// ---------------------------------------------------------------- orchestrator

function spawnWorker(planPath: string, index: number) {
  const proc = Bun.spawn(["bun", import.meta.path, "--worker", planPath, "--worker-index", String(index)], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "inherit",
  });
  const waiters = new Map<string, (data: any) => void>();
  const failed = proc.exited.then((code) => Promise.reject(new Error(`client process ${index} exited with ${code}`)));
  failed.catch(() => {});
  const waitFor = <T>(kind: string) => Promise.race([new Promise<T>((resolve) => waiters.set(kind, resolve)), failed]);
  const ready = waitFor<{ connected: number }>("ready");
  const result = waitFor<WorkerResult>("result");
  void readLines(proc.stdout, (line) => {
    if (!line.startsWith(REPORT)) return void process.stderr.write(`[client ${index}] ${line}\n`);
    const space = line.indexOf(" ");
    waiters.get(line.slice(REPORT.length, space))?.(JSON.parse(line.slice(space + 1)));
  });
  return {
    proc,
    ready,
    result,
    tell(line: string) {
      proc.stdin.write(`${line}\n`);
      proc.stdin.flush();
    },
  };
}

async function withDeadline<T>(what: string, ms: number, work: Promise<T>): Promise<T> {
  let timer: Timer | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: over ${ms / 1000} s`)), ms)));
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function percentile(hist: Map<number, number>, total: number, p: number) {
  const rank = Math.ceil((p / 100) * total);
  let seen = 0;
  for (const [ms, count] of [...hist].sort((a, b) => a[0] - b[0])) if ((seen += count) >= rank) return ms;
  return NaN;
}

async function runOne(cluster: Cluster, dir: string, n: number, durationMs: number, procs: number) {
  const log = (msg: string) => process.stderr.write(`[bench N=${n}] ${msg}\n`);
  // Bulk set-up, not requests: no request-sized statement deadline.
  const database = await openDatabase({ url: cluster.databaseUrl, dataDir: dir, poolSize: 8, statementTimeoutMs: 600_000 });
  const tag = Date.now().toString(36);
  let accounts: { id: string; token: string }[];
  try {
    const users = createUsers(database.db);
    const sessions = createSessions(database.db, createMemoryCache(), 1);
    accounts = [];
    for (let i = 0; i < n; i += 100) {
      accounts.push(
        ...(await Promise.all(
          Array.from({ length: Math.min(100, n - i) }, async (_, j) => {
            const { user: row } = await users.create({ email: `bp${tag}${i + j}@example.com`, username: `bp${tag}${i + j}`, passwordHash: "unused" });
            return { id: row.id, token: (await sessions.create(row.id)).token };
          }),
        )),
      );
    }
  } finally {
    await database.close();
  }
  const urls = cluster.instances.map((i) => i.url);
  const res = await fetch(`${urls[0]}/api/rooms`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${accounts[0]!.token}` },
    body: JSON.stringify({ name: `presence bench ${tag}` }),
  });
  const room = (await res.json()) as { id: string };
  const plan: Plan = {
    roomId: room.id,
    redisUrl: cluster.redisUrl,
    workers: procs,
    durationMs,
    clients: accounts.map((a, i) => ({ index: i, wsUrl: `${urls[i % urls.length]!.replace(/^http/, "ws")}/ws`, token: a.token })),
  };
  const planPath = join(dir, `plan-${n}.json`);
  await Bun.write(planPath, JSON.stringify(plan));
  const joinStarted = Date.now();
  const workers = Array.from({ length: procs }, (_, k) => spawnWorker(planPath, k));
  try {
    await withDeadline("joining", 180_000, Promise.all(workers.map((w) => w.ready)));
    const joinMs = Date.now() - joinStarted;
    log(`${n} sockets joined in ${(joinMs / 1000).toFixed(1)} s; traffic for ${durationMs / 1000} s`);
    await Bun.sleep(2_500); // the last diffs of the join phase
    const t0 = Date.now() + 200;
    for (const w of workers) w.tell(`go ${t0}`);
    // How long each instance takes to answer /healthz meanwhile: its event loop's delay.
    const healthMaxMs = urls.map(() => 0);
    let probing = true;
    const probes = urls.map(async (base, n) => {
      while (probing) {
        const started = performance.now();
        await fetch(`${base}/healthz`).then((r) => r.text()).catch(() => "");
        healthMaxMs[n] = Math.max(healthMaxMs[n]!, Math.round(performance.now() - started));
        await Bun.sleep(250);
      }
    });
    const results = await withDeadline("traffic", durationMs + 60_000, Promise.all(workers.map((w) => w.result))).finally(() => {
      probing = false;
    });
    await Promise.all(probes);
    for (const w of workers) w.tell("close");
    const loadAverage = (await Bun.file("/proc/loadavg").text()).split(" ").slice(0, 3).join(" ");
    const sum = (pick: (r: WorkerResult) => number) => results.reduce((a, r) => a + pick(r), 0);
    const hist = new Map<number, number>();
    for (const r of results) for (const [k, v] of Object.entries(r.latency)) hist.set(Number(k), (hist.get(Number(k)) ?? 0) + v);
    const received = sum((r) => r.received);
    const totals: Record<string, number> = {};
    for (const r of results) for (const [t, c] of Object.entries(r.totals)) totals[t] = (totals[t] ?? 0) + c;
    const closes: Record<string, number> = {};
    for (const r of results) for (const [code, c] of Object.entries(r.closes)) closes[code] = (closes[code] ?? 0) + c;
    return {
      users: n,
      joinSeconds: joinMs / 1000,
      firstListsPerSocket: sum((r) => r.firstLists) / n,
      finalTotals: totals,
      closedByServer: closes,
      presenceInRedis: results[0]!.presenceInRedis,
      diffsDuringTraffic: results.flatMap((r) => r.diffsDuringTraffic).slice(0, 6),
      healthMaxMs,
      joinPresenceBytesPerMember: Math.round(sum((r) => r.join.presence) / n),
      sent: sum((r) => r.sent),
      deliveriesPerSecond: Math.round(received / (durationMs / 1000)),
      p50: percentile(hist, received, 50),
      p95: percentile(hist, received, 95),
      p99: percentile(hist, received, 99),
      trafficPresenceBytes: sum((r) => r.traffic.presence),
      trafficMessageBytes: sum((r) => r.traffic.messages),
      totalPresenceBytes: sum((r) => r.join.presence + r.traffic.presence),
      totalMessageBytes: sum((r) => r.join.messages + r.traffic.messages),
      loadAverage,
    };
  } finally {
    for (const w of workers) if (w.proc.exitCode === null) w.proc.kill("SIGKILL");
  }
}

async function runBench() {
  const sizes = flags.users.split(",").map((s) => Number(s.trim()));
  if (sizes.some((n) => !Number.isInteger(n) || n < 2 || n > 5_000)) throw new Error("--users: integers from 2 to 5000, comma-separated");
  const durationS = Number(flags.duration);
  if (!Number.isInteger(durationS) || durationS < 5 || durationS > 300) throw new Error("--duration: 5..300 seconds");
  const procs = Number(flags["client-procs"]);
  if (!Number.isInteger(procs) || procs < 1 || procs > 8) throw new Error("--client-procs: 1..8");
  const dir = mkdtempSync(join(tmpdir(), "chat-bench-presence-"));
  let cluster: Cluster | undefined;
  const teardown = async () => {
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  process.on("SIGINT", () => void teardown().then(() => process.exit(130)));
  const watchdog = setTimeout(() => void teardown().then(() => process.exit(2)), (sizes.length * (durationS + 240) + 60) * 1000);
  try {
    process.stderr.write("[bench] starting Postgres, Redis and 2 instances\n");
    cluster = await startCluster({ instances: 2, caddy: false, env: { RATE_LIMIT_MULTIPLIER: "1000", LOG_LEVEL: "warn" } });
    const rows = [];
    for (const n of sizes) rows.push(await runOne(cluster, dir, n, durationS * 1000, procs));
    if (flags.json) return console.log(JSON.stringify(rows, null, 2));
    console.log(`\nN users in one room, each sending every 5 s, 2 instances, ${durationS} s of traffic (PRESENCE_LIST_MAX default 100)\n`);
    console.log("| N | deliveries/s | delivery p50 / p95 / p99 | presence : message bytes (traffic) | presence bytes per member while joining | first lists per socket | load (1/5/15 min) |");
    console.log("|---|---|---|---|---|---|---|");
    for (const r of rows) {
      const ratio = r.trafficMessageBytes ? (r.trafficPresenceBytes / r.trafficMessageBytes).toFixed(4) : "n/a";
      console.log(
        `| ${r.users} | ${r.deliveriesPerSecond.toLocaleString("en")} | ${r.p50} / ${r.p95} / ${r.p99} ms | ` +
          `${r.trafficPresenceBytes.toLocaleString("en")} : ${r.trafficMessageBytes.toLocaleString("en")} (${ratio}) | ` +
          `${r.joinPresenceBytesPerMember.toLocaleString("en")} B | ${r.firstListsPerSocket} | ${r.loadAverage} |`,
      );
    }
    for (const r of rows) {
      console.log(
        `N=${r.users}: joined in ${r.joinSeconds} s; sockets closed by the server ${JSON.stringify(r.closedByServer)}; ` +
          `last total seen by the open ones ${JSON.stringify(r.finalTotals)}; presence entries in Redis ${JSON.stringify(r.presenceInRedis)}; diffs during traffic ${JSON.stringify(r.diffsDuringTraffic)}; slowest /healthz per instance during traffic ${r.healthMaxMs.join(", ")} ms`,
      );
    }
  } finally {
    clearTimeout(watchdog);
    await teardown();
  }
}

if (flags.worker) await runWorker(flags.worker, Number(flags["worker-index"] ?? 0));
else await runBench();

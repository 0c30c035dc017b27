// Real-time delivery across instances, measured end to end with real processes:
//   bun run bench:delivery [--clients 200] [--rooms 10] [--rate 200] [--duration 10]
//                          [--instances 2] [--users N] [--senders N] [--client-procs 1] [--caddy] [--json]
//                          [--target bun|peer] [--protocol v1|v2] [--cpu-prof DIR] [--perf FILE.md]
// Starts throwaway Postgres + Redis and N instances (RATE_LIMIT_MULTIPLIER=1000),
// registers users over HTTP, creates rooms, then K client processes (this script
// in worker mode) open the WebSockets (spread over the instances and rooms, or all
// through Caddy with --caddy) and join. For --duration seconds the senders send
// --rate messages/s in total; every receiver records now - sentAt per new_message
// and checks its room's envelope `seq`: increasing, with no gap or duplicate.
// --protocol v2 asks for the lean encoding (Sec-WebSocket-Protocol: chat.v2); the
// report gives the bytes received per delivered message either way (frame payloads
// plus the WebSocket frame headers, counted by the clients). --cpu-prof DIR runs the
// instances under `bun --cpu-prof` (a .cpuprofile and a .md summary each, in DIR).
// --perf FILE.md samples the whole machine with `perf record` while measuring and writes where
// its CPU went, per process (instances, Caddy, Postgres, Redis, client processes), user space
// against kernel, the kernel part by system call (scripts/lib/perf-split.ts); both targets.
// A benchmark, not a test: it prints numbers and exits 0 unless something broke.
// --target peer runs the same against the benchmark peer (load/peers/socketio: Node +
// Socket.IO), with seeded users signing in instead of registering; its delivery order is not
// part of its contract, so order violations are reported but only completeness fails it.
// Its Socket.IO frames are counted the same way (payload + header bytes). --protocol is
// ours only (the peer has one encoding).
// Loopback only; every phase has a deadline.
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Subprocess } from "bun";
import { wireFor, wsUrl, type Wire, type WireEvent } from "../load/lib/wire.js";
import { childEnv } from "../src/env.ts";
import { createV2Decoder, PROTOCOL_V2 } from "../src/protocol-v2.ts";
import { intFlag } from "./bench/flags.ts";
import { startCluster } from "./cluster.ts";
import { procStat, processTree, readLines } from "./lib/process.ts";
import { formatSplit, PERF_HZ, recordMachine, summarizeRecording, type RoleSplit } from "./lib/perf-split.ts";
import { startPeerCluster } from "./peer-cluster.ts";
import { SEED_PASSWORD } from "./seed.ts";
import { startPostgres, startRedis, type Service } from "./services.ts";

const { values: flags } = parseArgs({
  options: {
    clients: { type: "string", default: "200" },
    rooms: { type: "string", default: "10" },
    rate: { type: "string", default: "200" },
    duration: { type: "string", default: "10" },
    instances: { type: "string", default: "2" },
    users: { type: "string" },
    senders: { type: "string" },
    "client-procs": { type: "string", default: "1" },
    caddy: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    target: { type: "string", default: "bun" },
    protocol: { type: "string", default: "v1" },
    "cpu-prof": { type: "string" },
    perf: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
    // Internal: worker mode.
    worker: { type: "string" },
    "worker-index": { type: "string" },
  },
});

const REPORT = "@@";

interface ClientPlan {
  index: number;
  /** http(s) base of the server this client connects to. */
  base: string;
  token: string;
  roomId: string;
  sender: boolean;
}

interface Plan {
  target: "bun" | "peer";
  protocol: "v1" | "v2";
  durationMs: number;
  rate: number;
  workers: number;
  senders: number;
  clients: ClientPlan[];
}

interface WorkerResult {
  worker: number;
  connected: number;
  sent: number;
  acked: number;
  received: number;
  /** Frames and their bytes received from "go" to "finish": payload, and payload + WebSocket headers. */
  frames: number;
  payloadBytes: number;
  wireBytes: number;
  newMessageBytes: number;
  /** Latency in whole ms (Date.now() resolution) -> count. */
  latency: Record<string, number>;
  ackLatency: Record<string, number>;
  orderViolations: number;
  duplicates: number;
  missing: number;
  errors: Record<string, number>;
  closes: Record<string, number>;
  firstDeliveryAt: number;
  lastDeliveryAt: number;
  cpuMs: number;
  rssBytes: number;
}

// ---------------------------------------------------------------- worker mode

interface ClientSocket {
  plan: ClientPlan;
  ws: WebSocket;
  wire: ReturnType<typeof wireFor>;
  last: number;
  seqs: number[];
  own: number[];
}

async function runWorker(planPath: string, me: number) {
  const plan = (await Bun.file(planPath).json()) as Plan;
  const mine = plan.clients.filter((c) => c.index % plan.workers === me);
  const latency = new Map<number, number>();
  const ackLatency = new Map<number, number>();
  const pendingAcks = new Map<string, number>();
  const errors: Record<string, number> = {};
  const closes: Record<string, number> = {};
  let received = 0;
  let acked = 0;
  let sent = 0;
  let orderViolations = 0;
  let firstDeliveryAt = 0;
  let lastDeliveryAt = 0;
  let finishing = false;
  let measuring = false;
  let frames = 0;
  let payloadBytes = 0;
  let wireBytes = 0;
  let newMessageBytes = 0;
  // Server frames carry no mask: 2 header bytes up to 125, 4 up to 65,535, else 10.
  const headerBytes = (n: number) => (n < 126 ? 2 : n < 65536 ? 4 : 10);
  const bump = (map: Map<number, number>, key: number) => map.set(key, (map.get(key) ?? 0) + 1);

  const open = (client: ClientPlan) =>
    new Promise<ClientSocket>((resolve, reject) => {
      const wire = benchWireFor(plan.target, plan.protocol, client.token);
      const ws = new WebSocket(wsUrl(plan.target, client.base, client.token), wire.protocols);
      const socket: ClientSocket = { plan: client, ws, wire, last: 0, seqs: [], own: [] };
      const timer = setTimeout(() => reject(new Error(`client ${client.index}: no joined in 20 s`)), 20_000);
      const handle = (ev: WireEvent) => {
        switch (ev.type) {
          case "ready":
            wire.join(ws, client.roomId, 1);
            break;
          case "message": {
            const now = Date.now();
            if (typeof ev.sentAt === "number") bump(latency, now - ev.sentAt);
            if (ev.seq <= socket.last) orderViolations++;
            else socket.last = ev.seq;
            socket.seqs.push(ev.seq);
            received++;
            if (!firstDeliveryAt) firstDeliveryAt = now;
            lastDeliveryAt = now;
            break;
          }
          case "ack": {
            acked++;
            socket.own.push(ev.seq);
            const at = pendingAcks.get(ev.clientMsgId);
            if (at !== undefined) {
              bump(ackLatency, Date.now() - at);
              pendingAcks.delete(ev.clientMsgId);
            }
            break;
          }
          case "joined":
            clearTimeout(timer);
            resolve(socket);
            break;
          case "error":
            errors[ev.code] = (errors[ev.code] ?? 0) + 1;
            if (ev.ref === 1 || ev.code === "connect_error") reject(new Error(`client ${client.index}: join failed: ${ev.message}`));
            break;
        }
      };
      ws.onopen = () => wire.onOpen().forEach(handle);
      ws.onclose = (ev) => {
        clearTimeout(timer);
        if (!finishing) closes[ev.code] = (closes[ev.code] ?? 0) + 1;
        reject(new Error(`client ${client.index}: closed ${ev.code} ${ev.reason}`));
      };
      ws.onmessage = (ev) => {
        const text = ev.data as string;
        const events = wire.parse(text, ws);
        // Every payload here is ASCII (UUIDs, numbers, "bench message N"): length = bytes.
        if (measuring) {
          frames++;
          payloadBytes += text.length;
          wireBytes += text.length + headerBytes(text.length);
          if (events.some((e) => e.type === "message")) newMessageBytes += text.length;
        }
        for (const e of events) handle(e);
      };
    });

  // Connect in batches so a few thousand handshakes do not all queue at once.
  const sockets: ClientSocket[] = [];
  for (let i = 0; i < mine.length; i += 100) {
    sockets.push(...(await Promise.all(mine.slice(i, i + 100).map(open))));
  }
  say("ready", { connected: sockets.length });

  const senders = sockets.filter((s) => s.plan.sender);
  const input = (console as unknown as AsyncIterable<string>)[Symbol.asyncIterator]();
  const nextCommand = async () => {
    const { value, done } = await input.next();
    if (done) process.exit(0); // the parent is gone
    return value.trim();
  };

  const go = await nextCommand();
  measuring = true;
  const t0 = Number(go.split(" ")[1]);
  const cpuStart = process.cpuUsage();
  const progress = setInterval(() => say("progress", { received, acked, sent }), 250);
  if (senders.length > 0) {
    // This worker's share of the total rate, spread round-robin over its senders.
    const rate = (plan.rate * senders.length) / plan.senders;
    await Bun.sleep(Math.max(0, t0 - Date.now()));
    const end = t0 + plan.durationMs;
    let turn = 0;
    let scheduled = 0;
    while (Date.now() < end) {
      const due = Math.floor((rate * (Date.now() - t0)) / 1000);
      for (; scheduled < due; scheduled++) {
        const s = senders[turn++ % senders.length]!;
        if (s.ws.readyState !== WebSocket.OPEN) continue; // counted as not sent
        const clientMsgId = `w${me}-${sent}`;
        const timestamp = Date.now();
        pendingAcks.set(clientMsgId, timestamp);
        s.wire.send(s.ws, { roomId: s.plan.roomId, content: `bench message ${sent}`, clientMsgId, timestamp }, sent + 2);
        sent++;
      }
      await Bun.sleep(5);
    }
  }

  const finish = await nextCommand();
  measuring = false;
  clearInterval(progress);
  const cpu = process.cpuUsage(cpuStart);
  const lastSeqs = JSON.parse(finish.slice(finish.indexOf(" ") + 1)) as Record<string, number>;
  let duplicates = 0;
  let missing = 0;
  for (const s of sockets) {
    const have = new Set(s.seqs);
    duplicates += s.seqs.length - have.size;
    for (const seq of s.own) have.add(seq);
    const last = lastSeqs[s.plan.roomId] ?? 0;
    for (let seq = 1; seq <= last; seq++) if (!have.has(seq)) missing++;
  }
  finishing = true;
  for (const s of sockets) s.ws.close(1000);
  const result: WorkerResult = {
    worker: me,
    connected: sockets.length,
    sent,
    acked,
    received,
    frames,
    payloadBytes,
    wireBytes,
    newMessageBytes,
    latency: Object.fromEntries(latency),
    ackLatency: Object.fromEntries(ackLatency),
    orderViolations,
    duplicates,
    missing,
    errors,
    closes,
    firstDeliveryAt,
    lastDeliveryAt,
    cpuMs: (cpu.user + cpu.system) / 1000,
    rssBytes: process.memoryUsage().rss,
  };
  say("result", result);
  process.exit(0);
}

/**
 * The wire of one client: load/lib/wire.js for v1 and the peer; for our v2 the same
 * frames sent, and received frames decoded by the product's own lean decoder.
 */
function benchWireFor(target: "bun" | "peer", protocol: "v1" | "v2", token: string): Wire & { protocols?: string[] } {
  const wire = wireFor(target, token);
  if (target !== "bun" || protocol === "v1") return wire;
  const decoder = createV2Decoder();
  return {
    ...wire,
    protocols: [PROTOCOL_V2],
    parse(text: string): WireEvent[] {
      const f = decoder.decode(text);
      switch (f.event) {
        case "new_message":
          return [{ type: "message", roomId: f.data.roomId, seq: f.seq!, sentAt: f.data.sentAt }];
        case "message_ack":
          return [{ type: "ack", ref: f.ref, clientMsgId: f.data.clientMsgId, seq: f.data.seq }];
        case "joined":
          return [{ type: "joined", ref: f.ref, roomId: f.data.roomId, lastSeq: f.data.lastSeq }];
        case "error":
          return [{ type: "error", ref: f.ref, code: f.data.code, message: f.data.message }];
        default:
          return [];
      }
    },
  };
}

function say(kind: string, data: unknown) {
  process.stdout.write(`${REPORT}${kind} ${JSON.stringify(data)}\n`);
}

// ---------------------------------------------------------------- orchestrator

async function withDeadline<T>(what: string, ms: number, work: Promise<T>): Promise<T> {
  let timer: Timer | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result in ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `task` over `items` with at most `limit` at once. */
async function pool<T, R>(items: T[], limit: number, task: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const run = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await task(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
  return out;
}

async function post(url: string, body: unknown, token?: string) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const json = (await res.json().catch(() => null)) as any;
  if (res.status >= 300) throw new Error(`POST ${url}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

function percentile(hist: Map<number, number>, total: number, p: number): number {
  if (total === 0) return NaN;
  const rank = Math.ceil((p / 100) * total);
  let seen = 0;
  for (const [ms, count] of [...hist].sort((a, b) => a[0] - b[0])) {
    seen += count;
    if (seen >= rank) return ms;
  }
  return NaN;
}

function merge(into: Map<number, number>, from: Record<string, number>) {
  for (const [k, v] of Object.entries(from)) into.set(Number(k), (into.get(Number(k)) ?? 0) + v);
}

/** VmRSS and CPU time (utime + stime) of a process, from /proc. */
async function procStats(pid: number): Promise<{ rssBytes: number; cpuMs: number } | null> {
  try {
    const status = await Bun.file(`/proc/${pid}/status`).text();
    const stat = await Bun.file(`/proc/${pid}/stat`).text();
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
    return { rssBytes: rssKb * 1024, cpuMs: ticks * 10 };
  } catch {
    return null;
  }
}

/** CPU time of a process and all its descendants (Postgres forks a backend per connection). */
async function treeCpuMs(root: number): Promise<number> {
  let total = 0;
  for (const pid of await processTree(root)) total += (await procStat(pid))?.cpuMs ?? 0;
  return total;
}

interface Worker {
  proc: Subprocess<"pipe", "pipe", "inherit">;
  ready: Promise<number>;
  result: Promise<WorkerResult>;
  progress: { received: number; acked: number; sent: number };
  tell(line: string): void;
}

function spawnWorker(planPath: string, index: number): Worker {
  const proc = Bun.spawn(["bun", import.meta.path, "--worker", planPath, "--worker-index", String(index)], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "inherit",
  });
  let onReady!: (n: number) => void;
  let onResult!: (r: WorkerResult) => void;
  let onFail!: (e: Error) => void;
  const ready = new Promise<number>((resolve, reject) => {
    onReady = resolve;
    onFail = reject;
  });
  const result = new Promise<WorkerResult>((resolve, reject) => {
    onResult = resolve;
    void proc.exited.then((code) => reject(new Error(`client process ${index} exited with ${code}`)));
  });
  void proc.exited.then((code) => onFail(new Error(`client process ${index} exited with ${code}`)));
  // Awaited later; a process that dies first must not be an unhandled rejection meanwhile.
  ready.catch(() => {});
  result.catch(() => {});
  const worker: Worker = {
    proc,
    ready,
    result,
    progress: { received: 0, acked: 0, sent: 0 },
    tell(line) {
      proc.stdin.write(`${line}\n`);
      proc.stdin.flush();
    },
  };
  void readLines(proc.stdout, (line) => {
    if (!line.startsWith(REPORT)) return void process.stderr.write(`[client ${index}] ${line}\n`);
    const space = line.indexOf(" ");
    const kind = line.slice(REPORT.length, space);
    const data = JSON.parse(line.slice(space + 1));
    if (kind === "ready") onReady(data.connected);
    else if (kind === "progress") worker.progress = data;
    else if (kind === "result") onResult(data);
  });
  return worker;
}

interface BenchCluster {
  url: string;
  instances: { id: string; url: string; proc: Subprocess; output(): string }[];
  pg?: Service;
  redis?: Service;
  caddy?: { proc: Subprocess };
  stop(): Promise<void>;
}

const startOurs = (instances: number): Promise<BenchCluster> =>
  startCluster({
    instances,
    caddy: flags.caddy,
    // Clients share users (--users): lift the per-user socket cap for the benchmark.
    env: {
      RATE_LIMIT_MULTIPLIER: "1000",
      LOG_LEVEL: "warn",
      WS_MAX_SOCKETS_PER_USER: "10000",
      // Bun reads its own flags from BUN_OPTIONS; the profile is written when the instance exits.
      ...(flags["cpu-prof"] ? { BUN_OPTIONS: `--cpu-prof --cpu-prof-md --cpu-prof-dir=${flags["cpu-prof"]}` } : {}),
    },
  });

/** Stores, the product's schema and `users` seeded accounts, then the peer's processes. */
async function startPeer(dir: string, instances: number, users: number): Promise<BenchCluster> {
  const storeDir = join(dir, "stores");
  mkdirSync(storeDir, { recursive: true });
  chmodSync(dir, 0o711);
  const [pg, redis] = await Promise.all([startPostgres(join(storeDir, "pg"), { maxConnections: 200 }), startRedis(storeDir)]);
  try {
    const seed = Bun.spawnSync(["bun", "scripts/seed.ts", "--users", String(users), "--rooms", "0"], {
      cwd: join(import.meta.dir, ".."),
      env: childEnv({ DATABASE_URL: pg.url }),
      stdout: "ignore",
      stderr: "inherit",
    });
    if (seed.exitCode !== 0) throw new Error("seeding failed");
    const peer = await startPeerCluster({ instances, databaseUrl: pg.url, redisUrl: redis.url, caddy: flags.caddy });
    return {
      ...peer,
      pg,
      redis,
      async stop() {
        await peer.stop();
        await Promise.allSettled([pg.stop(), redis.stop()]);
      },
    };
  } catch (err) {
    await Promise.allSettled([pg.stop(), redis.stop()]);
    throw err;
  }
}

async function runBench() {
  if (flags.help) {
    console.log(
      "bun run bench:delivery [--clients 200] [--rooms 10] [--rate 200] [--duration 10] [--instances 2]\n" +
        "                       [--users N] [--senders N] [--client-procs 1] [--caddy] [--json] [--target bun|peer]\n" +
          "                       [--protocol v1|v2] [--cpu-prof DIR] [--perf FILE.md]",
    );
    return;
  }
  const clients = intFlag("clients", flags.clients, 2);
  const rooms = intFlag("rooms", flags.rooms);
  const rate = intFlag("rate", flags.rate);
  const durationS = intFlag("duration", flags.duration);
  const instances = intFlag("instances", flags.instances);
  const users = intFlag("users", flags.users ?? String(Math.min(clients, 200)));
  const senders = intFlag("senders", flags.senders ?? String(Math.min(clients, Math.max(rooms, Math.ceil(rate / 20)))));
  const procs = intFlag("client-procs", flags["client-procs"]);
  const target = flags.target as "bun" | "peer";
  if (target !== "bun" && target !== "peer") throw new Error("--target must be bun or peer");
  const protocol = flags.protocol;
  if (protocol !== "v1" && protocol !== "v2") throw new Error(`--protocol must be v1 or v2, got ${protocol}`);
  if (target === "peer" && protocol !== "v1") throw new Error("--protocol v2 is ours only (the peer speaks Socket.IO)");
  if (flags["cpu-prof"] && target !== "bun") throw new Error("--cpu-prof profiles our Bun instances only");
  if (rooms * 2 > clients) throw new Error("--clients must be at least twice --rooms (a room needs a receiver)");
  if (senders > clients) throw new Error("--senders must not exceed --clients");
  const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

  const dir = mkdtempSync(join(tmpdir(), "chat-bench-"));
  let cluster: BenchCluster | undefined;
  const workers: Worker[] = [];
  const teardown = async () => {
    for (const w of workers) if (w.proc.exitCode === null) w.proc.kill("SIGKILL");
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  process.on("SIGINT", () => void teardown().then(() => process.exit(130)));
  process.on("SIGTERM", () => void teardown().then(() => process.exit(143)));
  // Nothing here may run unbounded.
  const watchdog = setTimeout(() => {
    log("watchdog: the run took too long, stopping");
    void teardown().then(() => process.exit(2));
  }, (durationS + 300) * 1000);

  try {
    log(`starting Postgres, Redis and ${instances} ${target} instance(s)${flags.caddy ? " behind Caddy" : ""}`);
    cluster = target === "bun" ? await startOurs(instances) : await startPeer(dir, instances, users);
    const c = cluster;
    const httpUrls = c.instances.map((i) => i.url);

    const started = Date.now();
    const run = Date.now().toString(36);
    const accounts = await withDeadline(
      target === "bun" ? "registering users" : "signing in seeded users",
      120_000,
      pool(Array.from({ length: users }, (_, i) => i), 16, async (i) => {
        const base = httpUrls[i % httpUrls.length];
        // The peer has no sign-up: its users come from bun run seed (user1@example.com…).
        const res =
          target === "bun"
            ? await post(`${base}/api/auth/register`, { email: `b${run}x${i}@example.com`, username: `b${run}x${i}`.slice(0, 32), password: "bench password" })
            : await post(`${base}/api/auth/login`, { email: `user${i + 1}@example.com`, password: SEED_PASSWORD });
        return { id: res.user.id as string, token: res.token as string };
      }),
    );
    log(`${users} users ${target === "bun" ? "registered" : "signed in"} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const roomList = await pool(Array.from({ length: rooms }, (_, r) => r), 8, async (r) => {
      const room = await post(`${httpUrls[0]}/api/rooms`, { name: `bench ${run} ${r}` }, accounts[0]!.token);
      return room.id as string;
    });

    // Client i: user i % users, room i % rooms, instance i % instances (or Caddy); the
    // first `senders` clients send, so every room with a sender gets one early.
    const wsBases = flags.caddy ? [c.url] : httpUrls;
    const plan: Plan = {
      target,
      protocol,
      durationMs: durationS * 1000,
      rate,
      workers: procs,
      senders,
      clients: Array.from({ length: clients }, (_, i) => ({
        index: i,
        base: wsBases[i % wsBases.length]!,
        token: accounts[i % users]!.token,
        roomId: roomList[i % rooms]!,
        sender: i < senders,
      })),
    };
    const planPath = join(dir, "plan.json");
    await Bun.write(planPath, JSON.stringify(plan));
    const socketsPerRoom = new Map<string, number>();
    for (const cl of plan.clients) socketsPerRoom.set(cl.roomId, (socketsPerRoom.get(cl.roomId) ?? 0) + 1);

    log(`connecting ${clients} WebSocket clients from ${procs} process(es)`);
    for (let k = 0; k < procs; k++) workers.push(spawnWorker(planPath, k));
    const connected = (await withDeadline("connecting clients", 180_000, Promise.all(workers.map((w) => w.ready)))).reduce(
      (a, b) => a + b,
      0,
    );
    log(`${connected} clients joined; sending ${rate} msg/s from ${senders} senders for ${durationS} s`);

    const storePids = { postgres: c.pg?.process.pid, redis: c.redis?.process.pid, caddy: c.caddy?.proc.pid };
    const storeCpu = async () => ({
      postgres: storePids.postgres ? await treeCpuMs(storePids.postgres) : 0,
      redis: storePids.redis ? await treeCpuMs(storePids.redis) : 0,
      caddy: storePids.caddy ? await treeCpuMs(storePids.caddy) : 0,
    });
    const storesBefore = await storeCpu();
    const before = await Promise.all(c.instances.map((i) => procStats(i.proc.pid)));
    const peakRss = c.instances.map(() => 0);
    const sampler = setInterval(async () => {
      for (const [n, inst] of c.instances.entries()) {
        const s = await procStats(inst.proc.pid);
        if (s) peakRss[n] = Math.max(peakRss[n]!, s.rssBytes);
      }
    }, 250);
    const t0 = Date.now() + 200;
    for (const w of workers) w.tell(`go ${t0}`);
    // Kept beside the summary, for `perf report -i` afterwards.
    const perfData = flags.perf ? flags.perf.replace(/(\.md)?$/, ".data") : undefined;
    const recording = perfData ? recordMachine(perfData, durationS) : undefined;
    await Bun.sleep(t0 + durationS * 1000 - Date.now());
    const sendEnd = Date.now();
    const after = await Promise.all(c.instances.map((i) => procStats(i.proc.pid)));
    const storesAfter = await storeCpu();
    // Other work on the machine skews every number here: report it.
    const loadAverage = (await Bun.file("/proc/loadavg").text().catch(() => "")).split(" ").slice(0, 3).join(" ");

    // Drain: wait until every committed message reached every receiver, or 15 s.
    const lastSeqs = async () => {
      const out: Record<string, number> = {};
      await Promise.all(
        roomList.map(async (id) => {
          const res = await fetch(`${httpUrls[0]}/api/rooms/${id}`, {
            headers: { authorization: `Bearer ${accounts[0]!.token}` },
            signal: AbortSignal.timeout(10_000),
          });
          out[id] = ((await res.json()) as { lastSeq: number }).lastSeq;
        }),
      );
      return out;
    };
    const expectedFor = (seqs: Record<string, number>) =>
      Object.entries(seqs).reduce((sum, [id, last]) => sum + last * ((socketsPerRoom.get(id) ?? 1) - 1), 0);
    let seqs = await lastSeqs();
    const drainDeadline = Date.now() + 15_000;
    while (Date.now() < drainDeadline) {
      await Bun.sleep(250);
      const now = await lastSeqs();
      const stable = JSON.stringify(now) === JSON.stringify(seqs);
      seqs = now;
      const received = workers.reduce((sum, w) => sum + w.progress.received, 0);
      const sent = workers.reduce((sum, w) => sum + w.progress.sent, 0);
      const acked = workers.reduce((sum, w) => sum + w.progress.acked, 0);
      if (stable && acked >= sent && received >= expectedFor(seqs)) break;
    }
    clearInterval(sampler);
    let perfSplit: RoleSplit[] | undefined;
    if (recording && perfData) {
      await recording.done;
      const roles = new Map<number, string>();
      for (const inst of c.instances) roles.set(inst.proc.pid, inst.id);
      for (const [k, w] of workers.entries()) roles.set(w.proc.pid, `client proc ${k}`);
      roles.set(process.pid, "bench script");
      for (const [role, root] of Object.entries(storePids)) if (root) for (const pid of await processTree(root)) roles.set(pid, role);
      // A Postgres backend that closed before now (the peer's pool lets idle ones go) by its name.
      const byName: Record<string, string> = { postgres: "postgres", "redis-server": "redis", caddy: "caddy" };
      perfSplit = await summarizeRecording(perfData, durationS, (pid, comm) => roles.get(pid) ?? byName[comm]);
    }
    for (const w of workers) w.tell(`finish ${JSON.stringify(seqs)}`);
    const results = await withDeadline("collecting results", 60_000, Promise.all(workers.map((w) => w.result)));
    const endStats = await Promise.all(c.instances.map((i) => procStats(i.proc.pid)));

    const sum = (f: (r: WorkerResult) => number) => results.reduce((a, r) => a + f(r), 0);
    const latency = new Map<number, number>();
    const ackLatency = new Map<number, number>();
    for (const r of results) {
      merge(latency, r.latency);
      merge(ackLatency, r.ackLatency);
    }
    const countErrors = (pick: (r: WorkerResult) => Record<string, number>) => {
      const out: Record<string, number> = {};
      for (const r of results) for (const [k, v] of Object.entries(pick(r))) out[k] = (out[k] ?? 0) + v;
      return out;
    };
    const received = sum((r) => r.received);
    const expected = expectedFor(seqs);
    const firstAt = Math.min(...results.filter((r) => r.firstDeliveryAt).map((r) => r.firstDeliveryAt));
    const lastAt = Math.max(...results.map((r) => r.lastDeliveryAt));
    const windowS = (sendEnd - t0) / 1000;
    const pct = (h: Map<number, number>, p: number) => percentile(h, [...h.values()].reduce((a, b) => a + b, 0), p);
    const report = {
      target,
      clients: connected,
      rooms,
      instances,
      users,
      senders,
      clientProcs: procs,
      protocol: target === "bun" ? protocol : "socket.io",
      viaCaddy: flags.caddy,
      durationS,
      targetRate: rate,
      messages: { sent: sum((r) => r.sent), acked: sum((r) => r.acked), committed: Object.values(seqs).reduce((a, b) => a + b, 0) },
      deliveries: {
        expected,
        received,
        perSecond: Math.round(received / Math.max(0.001, (lastAt - Math.min(firstAt, t0)) / 1000)),
      },
      // Every frame the clients got while measuring (acks, presence diffs included), per delivered message.
      bytesPerDelivery: {
        frames: sum((r) => r.frames),
        payload: +(sum((r) => r.payloadBytes) / Math.max(1, received)).toFixed(1),
        wire: +(sum((r) => r.wireBytes) / Math.max(1, received)).toFixed(1),
        newMessageFrame: +(sum((r) => r.newMessageBytes) / Math.max(1, received)).toFixed(1),
      },
      latencyMs: {
        p50: pct(latency, 50),
        p95: pct(latency, 95),
        p99: pct(latency, 99),
        max: Math.max(...latency.keys()),
      },
      ackLatencyMs: { p50: pct(ackLatency, 50), p99: pct(ackLatency, 99) },
      order: {
        violations: sum((r) => r.orderViolations),
        duplicates: sum((r) => r.duplicates),
        missing: sum((r) => r.missing),
      },
      errorFrames: countErrors((r) => r.errors),
      unexpectedCloses: countErrors((r) => r.closes),
      servers: c.instances.map((inst, n) => ({
        id: inst.id,
        rssMb: +((endStats[n]?.rssBytes ?? 0) / 1048576).toFixed(1),
        peakRssMb: +(Math.max(peakRss[n]!, endStats[n]?.rssBytes ?? 0) / 1048576).toFixed(1),
        cpuPercent: before[n] && after[n] ? Math.round(((after[n]!.cpuMs - before[n]!.cpuMs) / 1000 / windowS) * 100) : null,
      })),
      machine: { cpus: navigator.hardwareConcurrency, loadAverage },
      storesCpuPercent: {
        postgres: Math.round(((storesAfter.postgres - storesBefore.postgres) / 1000 / windowS) * 100),
        redis: Math.round(((storesAfter.redis - storesBefore.redis) / 1000 / windowS) * 100),
        caddy: flags.caddy ? Math.round(((storesAfter.caddy - storesBefore.caddy) / 1000 / windowS) * 100) : null,
      },
      clientProcesses: results.map((r) => ({
        worker: r.worker,
        clients: r.connected,
        rssMb: +(r.rssBytes / 1048576).toFixed(1),
        cpuPercent: Math.round((r.cpuMs / 1000 / ((lastAt - t0) / 1000)) * 100),
      })),
    };
    if (flags.json) console.log(JSON.stringify({ ...report, perf: perfSplit }, null, 2));
    else printReport(report);
    if (flags.perf && perfSplit) {
      const command = `bun run bench:delivery -- ${process.argv.slice(2).join(" ")}`;
      await Bun.write(flags.perf, `# Where the machine's CPU went: ${target}, ${connected} clients\n\n\`${command}\`, perf record -a at ${PERF_HZ} Hz over the ${durationS} s of sending; load average ${loadAverage}.\n\n${formatSplit(perfSplit)}\n`);
      log(`perf split written to ${flags.perf}`);
    }
    // Order is part of our contract, not of the peer's: there only completeness counts.
    const orderBroken = target === "bun" ? report.order.violations : 0;
    const broken = orderBroken + report.order.duplicates + report.order.missing > 0 || received < expected;
    clearTimeout(watchdog);
    await teardown();
    process.exit(broken ? 1 : 0);
  } catch (err) {
    log(`failed: ${(err as Error).stack ?? err}`);
    if (cluster) for (const i of cluster.instances) if (i.output().trim()) log(`${i.id} output:\n${i.output().slice(-4000)}`);
    clearTimeout(watchdog);
    await teardown();
    process.exit(1);
  }
}

function printReport(r: any) {
  const rows: [string, string][] = [
    ["target", r.target],
    ["clients / rooms / instances", `${r.clients} / ${r.rooms} / ${r.instances}${r.viaCaddy ? " (via Caddy)" : ""}`],
    ["users / senders / client procs", `${r.users} / ${r.senders} / ${r.clientProcs}`],
    ["duration / target rate", `${r.durationS} s / ${r.targetRate} msg/s`],
    ["messages sent / acked / committed", `${r.messages.sent} / ${r.messages.acked} / ${r.messages.committed}`],
    ["deliveries expected / received", `${r.deliveries.expected} / ${r.deliveries.received}`],
    ["deliveries/s", `${r.deliveries.perSecond}`],
    ["protocol", r.protocol],
    [
      "bytes per delivery: frames / wire / new_message",
      `${r.bytesPerDelivery.payload} / ${r.bytesPerDelivery.wire} / ${r.bytesPerDelivery.newMessageFrame} B (${r.bytesPerDelivery.frames} frames)`,
    ],
    ["latency p50 / p95 / p99 / max", `${r.latencyMs.p50} / ${r.latencyMs.p95} / ${r.latencyMs.p99} / ${r.latencyMs.max} ms`],
    ["ack latency p50 / p99", `${r.ackLatencyMs.p50} / ${r.ackLatencyMs.p99} ms`],
    ["order violations / duplicates / missing", `${r.order.violations} / ${r.order.duplicates} / ${r.order.missing}`],
    ["error frames", JSON.stringify(r.errorFrames)],
    ["unexpected closes", JSON.stringify(r.unexpectedCloses)],
    ...r.servers.map((s: any) => [`server ${s.id}`, `RSS ${s.rssMb} MB (peak ${s.peakRssMb} MB), CPU ${s.cpuPercent}%`] as [string, string]),
    ["machine cpus / load average (1 5 15 min)", `${r.machine.cpus} / ${r.machine.loadAverage}`],
    [
      r.viaCaddy ? "postgres / redis / caddy CPU" : "postgres / redis CPU",
      `${r.storesCpuPercent.postgres}% / ${r.storesCpuPercent.redis}%` + (r.viaCaddy ? ` / ${r.storesCpuPercent.caddy}%` : ""),
    ],
    ...r.clientProcesses.map(
      (w: any) => [`client proc ${w.worker}`, `${w.clients} clients, RSS ${w.rssMb} MB, CPU ${w.cpuPercent}%`] as [string, string],
    ),
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
}

if (flags.worker) await runWorker(flags.worker, Number(flags["worker-index"] ?? 0));
else await runBench();

// Runs one k6 scenario against a cluster behind Caddy and writes a dated report:
//   bun run bench [--scenario chat] [--target bun|peer] [--compare] [--protocol v1|v2]
//                 [--instances 2] [--set KEY=VALUE]… [--out load/results] [--delivery USERS]
//                 [--cpu-prof DIR] [--server-env KEY=VALUE]…
// Starts throwaway Postgres + Redis, seeds the users the scenario needs (bun run seed),
// starts the cluster (ours, or the Socket.IO peer from load/peers/socketio), samples CPU and
// memory of every process while k6 runs, and writes load/results/<date>-<scenario>[-compare]/
// with report.md, report.json and SVG plots. --compare runs the same scenario against ours
// and the peer, one after the other on the same stores, and reports the ratios.
// --protocol v2 runs ours with the lean encoding (subprotocol chat.v2, PROTOCOL=v2 for k6,
// --protocol v2 for the lighter generator); v1, what unmodified clients get, is the default.
// The peer has one encoding either way.
// --set passes k6 environment (USERS=2000, DURATION_S=30, …) to the scenario.
// --delivery USERS also runs the project's lighter load generator (scripts/bench-delivery.ts,
// Bun clients in 2 processes, through Caddy) against each target with USERS sockets in rooms of
// ROOM_SIZE, one message per user every SEND_EVERY_S, for when k6 itself runs out of CPU.
// --cpu-prof DIR runs our instances under `bun --cpu-prof` (a .cpuprofile and a .md each, in DIR).
import { mkdirSync, mkdtempSync, chmodSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import Redis from "ioredis";
import postgres from "postgres";
import { childEnv } from "../src/env.ts";
import { startCluster } from "./cluster.ts";
import { startPeerCluster } from "./peer-cluster.ts";
import { startPostgres, startRedis, type Service } from "./services.ts";
import { connectionSeries, cpuSeries, loadAverage, rssSeries, startSampler, summarize, type Watched } from "./bench/process-sampler.ts";
import { runDelivery } from "./bench/delivery-run.ts";
import { writeReport, type TargetRun } from "./bench/report.ts";

const ROOT = resolve(import.meta.dir, "..");
/** What load/lib/session.js's setup() logs when the chat phase starts. */
const CHAT_PHASE_MARK = "bench: chat phase starts";
const SCENARIOS = ["smoke", "chat", "stress", "spike", "soak"] as const;
type Scenario = (typeof SCENARIOS)[number];
type Target = "bun" | "peer";
type Protocol = "v1" | "v2";

const { values } = parseArgs({
  options: {
    scenario: { type: "string", default: "chat" },
    target: { type: "string", default: "bun" },
    compare: { type: "boolean", default: false },
    protocol: { type: "string", default: "v1" },
    instances: { type: "string", default: "2" },
    set: { type: "string", multiple: true, default: [] },
    "server-env": { type: "string", multiple: true, default: [] },
    out: { type: "string", default: "load/results" },
    delivery: { type: "string" },
    "cpu-prof": { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

function parseOptions() {
  const scenario = values.scenario as Scenario;
  if (!SCENARIOS.includes(scenario)) throw new Error(`--scenario must be one of ${SCENARIOS.join(", ")}`);
  const target = values.target as Target;
  if (target !== "bun" && target !== "peer") throw new Error("--target must be bun or peer");
  const protocol = values.protocol as Protocol;
  if (protocol !== "v1" && protocol !== "v2") throw new Error(`--protocol must be v1 or v2, got ${values.protocol}`);
  if (protocol === "v2" && !values.compare && target === "peer") throw new Error("--protocol v2 is ours only (the peer speaks Socket.IO)");
  if (values.set?.some((pair) => pair.startsWith("PROTOCOL="))) throw new Error("choose the encoding with --protocol, not --set PROTOCOL=");
  const instances = Number(values.instances);
  if (!Number.isInteger(instances) || instances < 1 || instances > 16) throw new Error("--instances must be 1..16");
  const k6Env = keyValues("--set", values.set);
  // For our instances (e.g. DB_POOL_SIZE=20); src/env.ts checks them when they start.
  const serverEnv = keyValues("--server-env", values["server-env"]);
  const targets: Target[] = values.compare ? ["bun", "peer"] : [target];
  const deliveryUsers = values.delivery === undefined ? 0 : Number(values.delivery);
  if (!Number.isInteger(deliveryUsers) || deliveryUsers < 0) throw new Error("--delivery takes a number of users");
  return { scenario, targets, protocol, instances, k6Env, serverEnv, deliveryUsers };
}

/** KEY=VALUE pairs of a repeated flag, keys in upper case. */
function keyValues(flag: string, pairs: string[] = []) {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const match = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(pair);
    if (!match) throw new Error(`${flag} takes KEY=VALUE with an upper-case key, got ${pair}`);
    out[match[1]!] = match[2]!;
  }
  return out;
}

function k6Binary() {
  const install = Bun.spawnSync(["bash", "scripts/ensure-k6.sh"], { cwd: ROOT, stdout: "pipe", stderr: "inherit" });
  if (install.exitCode !== 0) throw new Error("k6 is not available (scripts/ensure-k6.sh failed)");
  return install.stdout.toString().trim();
}

/** Users the scenario will log in: its VUs times sockets per VU, read from `k6 inspect`. */
function usersNeeded(k6: string, script: string, env: Record<string, string>) {
  // `k6 inspect` does not read the environment as `k6 run` does: pass the settings as -e.
  const flags = Object.entries(env).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
  const inspect = Bun.spawnSync([k6, "inspect", ...flags, script], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  if (inspect.exitCode !== 0) throw new Error(`k6 inspect ${script} failed: ${inspect.stderr.toString()}`);
  const options = JSON.parse(inspect.stdout.toString()) as { scenarios: Record<string, { vus?: number }> };
  const vus = Object.values(options.scenarios).reduce((n, s) => n + (s.vus ?? 0), 0);
  return vus * Number(env.SOCKETS_PER_VU ?? 10);
}

/** What a run has under way (its cluster, k6): stopped on Ctrl-C or SIGTERM before the stores. */
const running = new Set<() => Promise<unknown> | void>();

async function runTarget(opts: {
  target: Target;
  protocol: Protocol;
  scenario: Scenario;
  instances: number;
  k6: string;
  k6Env: Record<string, string>;
  serverEnv: Record<string, string>;
  pg: Service;
  redis: Service;
  outDir: string;
}): Promise<TargetRun> {
  const { target, pg, redis } = opts;
  log(`${target}: starting ${opts.instances} instance(s) behind Caddy`);
  const cluster =
    target === "bun"
      ? await startCluster({
          instances: opts.instances,
          databaseUrl: pg.url,
          redisUrl: redis.url,
          env: {
            RATE_LIMIT_MULTIPLIER: "1000",
            LOG_LEVEL: "warn",
            ...opts.serverEnv,
            ...(values["cpu-prof"] ? { BUN_OPTIONS: `--cpu-prof --cpu-prof-md --cpu-prof-dir=${resolve(values["cpu-prof"])}` } : {}),
          },
        })
      : await startPeerCluster({ instances: opts.instances, databaseUrl: pg.url, redisUrl: redis.url });
  const stopCluster = () => cluster.stop();
  running.add(stopCluster);
  const servers: Watched[] = cluster.instances.map((i) => ({ name: i.id, pid: i.proc.pid, port: i.port }));
  let k6Pid = 0;
  const watched = (): Watched[] => [
    ...servers,
    { name: "caddy", pid: cluster.caddy!.proc.pid },
    { name: "postgres", pid: pg.process.pid, tree: true },
    { name: "redis", pid: redis.process.pid },
    ...(k6Pid ? [{ name: "k6", pid: k6Pid }] : []),
  ];
  const summaryFile = join(opts.outDir, `k6-${target}.json`);
  const loadBefore = await loadAverage();
  try {
    // Each target starts from the same settled database: what the previous run or the seed
    // left (dead rows, stale statistics, dirty pages) is cleaned up now, not during the run.
    await settleDatabase(pg.url);
    await takeStatementStats(pg.url); // start counting from here: the seed and migrations are not the load
    await takeRedisStats(redis.url);
    const sampler = startSampler(watched, 1000);
    await Bun.sleep(1500); // a baseline before any socket opens
    log(`${target}: k6 run load/${opts.scenario}.js against ${cluster.url}`);
    const proc = Bun.spawn([opts.k6, "run", "--no-usage-report", "-q", `load/${opts.scenario}.js`], {
      cwd: ROOT,
      env: childEnv({ ...opts.k6Env, TARGET: target, PROTOCOL: target === "bun" ? opts.protocol : "v1", BASE_URL: cluster.url, SUMMARY_FILE: summaryFile }),
      stdout: "pipe",
      stderr: "pipe",
    });
    k6Pid = proc.pid;
    const stopK6 = () => proc.kill("SIGKILL");
    running.add(stopK6);
    void proc.exited.then(() => running.delete(stopK6));
    // setup() logs CHAT_PHASE_MARK once every user is signed in: CPU is counted from there,
    // so the sign-ins (argon2, slow on purpose) are not charged to the deliveries.
    let chatFromS = 0;
    const readStderr = async () => {
      let text = "";
      const decoder = new TextDecoder();
      const reader = proc.stderr.getReader();
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        text += decoder.decode(r.value, { stream: true });
        if (!chatFromS && text.includes(CHAT_PHASE_MARK)) chatFromS = sampler.elapsed();
      }
      return text;
    };
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), readStderr(), proc.exited]);
    const samples = await sampler.stop();
    await Bun.write(join(opts.outDir, `k6-${target}.log`), `${stdout}\n${stderr}`);
    await Bun.write(join(opts.outDir, `pg-statements-${target}.txt`), await takeStatementStats(pg.url));
    await Bun.write(join(opts.outDir, `redis-commands-${target}.txt`), await takeRedisStats(redis.url));
    process.stderr.write(stdout);
    const k6 = await Bun.file(summaryFile).json().catch(() => null);
    if (!k6) throw new Error(`k6 wrote no summary (exit ${code}):\n${stderr.slice(-3000)}`);
    let scrapes: string[] = [];
    if (target === "bun") {
      scrapes = await Promise.all(cluster.instances.map((i) => fetch(`${i.url}/metrics`).then((r) => r.text()).catch(() => "")));
    }
    return {
      target,
      protocol: target === "bun" ? opts.protocol : null,
      k6ExitCode: code,
      k6,
      samples,
      usage: summarize(samples, chatFromS),
      chatFromS,
      cpu: cpuSeries(samples),
      rss: rssSeries(samples),
      connections: connectionSeries(samples),
      servers: servers.map((s) => s.name),
      load: { before: loadBefore, after: await loadAverage() },
      scrapes,
    };
  } finally {
    running.delete(stopCluster);
    await cluster.stop();
  }
}

/** VACUUM (ANALYZE) and a checkpoint, so neither target pays for autovacuum or writes the other caused. */
async function settleDatabase(url: string) {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe("VACUUM (ANALYZE)");
    await sql.unsafe("CHECKPOINT");
  } finally {
    await sql.end();
  }
}

/** Postgres's costliest statements since the last call (then reset), for the report folder. */
async function takeStatementStats(url: string) {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`;
    // Planning is outside total_exec_time (track_planning is on for benchmark servers).
    const rows = await sql<{ calls: string; total_ms: number; mean_ms: number; plan_ms: number; plans: string; rows: string; query: string }[]>`
      SELECT calls, round(total_exec_time::numeric, 1)::float8 AS total_ms, round(mean_exec_time::numeric, 3)::float8 AS mean_ms,
             round(total_plan_time::numeric, 1)::float8 AS plan_ms, plans, rows, regexp_replace(query, '[[:space:]]+', ' ', 'g') AS query
      FROM pg_stat_statements ORDER BY total_exec_time + total_plan_time DESC LIMIT 25`;
    const [all] = await sql<{ exec_ms: number; plan_ms: number }[]>`
      SELECT round(sum(total_exec_time)::numeric, 1)::float8 AS exec_ms, round(sum(total_plan_time)::numeric, 1)::float8 AS plan_ms FROM pg_stat_statements`;
    await sql`SELECT pg_stat_statements_reset()`;
    const head = `all statements: ${all?.exec_ms ?? 0} ms executing, ${all?.plan_ms ?? 0} ms planning\n\n`;
    return head + rows.map((r) => `${r.total_ms} ms total, ${r.calls} calls, ${r.mean_ms} ms mean, ${r.rows} rows, planned ${r.plans} times in ${r.plan_ms} ms\n  ${r.query.slice(0, 400)}\n`).join("\n");
  } catch (err) {
    return `pg_stat_statements unavailable: ${String(err)}\n`;
  } finally {
    await sql.end();
  }
}

/** Redis's commands by count and time since the last call (then reset), for the report folder. */
async function takeRedisStats(url: string) {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    const info = (await redis.info("commandstats")) as string;
    await redis.config("RESETSTAT");
    const rows = [...info.matchAll(/^cmdstat_(\S+):calls=(\d+),usec=(\d+)/gm)].map((m) => ({ cmd: m[1]!, calls: Number(m[2]), usec: Number(m[3]) }));
    rows.sort((a, b) => b.usec - a.usec);
    return rows.map((r) => `${r.cmd.padEnd(24)} ${String(r.calls).padStart(9)} calls ${(r.usec / 1000).toFixed(1).padStart(9)} ms`).join("\n") + "\n";
  } catch (err) {
    return `INFO commandstats unavailable: ${String(err)}\n`;
  } finally {
    redis.disconnect();
  }
}

async function main() {
  if (values.help) {
    console.log("bun run bench [--scenario smoke|chat|stress|spike|soak] [--target bun|peer] [--compare] [--protocol v1|v2] [--instances 2] [--set KEY=VALUE]… [--delivery USERS] [--cpu-prof DIR] [--server-env KEY=VALUE]…");
    return;
  }
  const { scenario, targets, protocol, instances, k6Env, serverEnv, deliveryUsers } = parseOptions();
  const k6 = k6Binary();
  const users = usersNeeded(k6, `load/${scenario}.js`, k6Env);
  const stamp = new Date().toISOString().slice(0, 16).replace(/[:T]/g, "-");
  const outDir = resolve(ROOT, values.out!, `${stamp}-${scenario}${values.compare ? "-compare" : targets[0] === "peer" ? "-peer" : ""}${protocol === "v2" ? "-v2" : ""}`);
  mkdirSync(outDir, { recursive: true });

  const dir = mkdtempSync(join(tmpdir(), "chat-bench-"));
  chmodSync(dir, 0o711);
  const stores: Service[] = [];
  const teardown = async () => {
    await Promise.allSettled([...running].map(async (stop) => stop()));
    await Promise.allSettled(stores.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  process.on("SIGINT", () => void teardown().then(() => process.exit(130)));
  process.on("SIGTERM", () => void teardown().then(() => process.exit(143)));
  try {
    const [pg, redis] = await Promise.all([startPostgres(join(dir, "pg"), { maxConnections: 200, statementStats: true }), startRedis(mkdirp(join(dir, "redis")))]);
    stores.push(pg, redis);
    const firstUser = Number(k6Env.FIRST_USER ?? 1);
    log(`seeding ${users + firstUser - 1} users`);
    const seed = Bun.spawnSync(["bun", "scripts/seed.ts", "--users", String(users + firstUser - 1), "--rooms", "0"], {
      cwd: ROOT,
      env: childEnv({ DATABASE_URL: pg.url }),
      stdout: "inherit",
      stderr: "inherit",
    });
    if (seed.exitCode !== 0) throw new Error("seeding failed");

    const runs: TargetRun[] = [];
    for (const target of targets) runs.push(await runTarget({ target, protocol, scenario, instances, k6, k6Env, serverEnv, pg, redis, outDir }));
    // The lighter generator starts its own stores and cluster per target.
    const delivery = [];
    for (const target of deliveryUsers ? targets : []) {
      // A failed extra run is written into the report; the k6 runs above still count.
      delivery.push(await runDeliveryBench(target, target === "bun" ? protocol : "v1", instances, deliveryUsers, k6Env).catch((err) => ({ target, protocol: target === "bun" ? protocol : null, exitCode: 1, command: "", result: null, error: String(err) })));
    }
    const report = await writeReport({ outDir, scenario, protocol, instances, k6Env, users, runs, delivery });
    console.log(`report: ${report}`);
    const failed = runs.filter((r) => r.k6ExitCode !== 0);
    if (failed.length) log(`k6 thresholds failed for: ${failed.map((r) => r.target).join(", ")} (see the report)`);
    await teardown();
    // A broken threshold (expected for stress) is part of the report, not a failure of the benchmark.
    process.exit(0);
  } catch (err) {
    log(`failed: ${(err as Error).stack ?? err}`);
    await teardown();
    process.exit(1);
  }
}

/** scripts/bench-delivery.ts at the chat scenario's shape: rooms of ROOM_SIZE, a message per user every SEND_EVERY_S. */
function runDeliveryBench(target: Target, protocol: Protocol, instances: number, users: number, k6Env: Record<string, string>) {
  const roomSize = Number(k6Env.ROOM_SIZE ?? 50);
  const sendEvery = Number(k6Env.SEND_EVERY_S ?? 5);
  const args = [
    "--caddy", "--instances", String(instances),
    "--clients", String(users), "--rooms", String(Math.max(1, Math.floor(users / roomSize))),
    "--users", String(users), "--senders", String(users), "--rate", String(Math.max(1, Math.round(users / sendEvery))),
    "--duration", k6Env.DELIVERY_DURATION_S ?? "30", "--client-procs", "2",
  ];
  return runDelivery(target, protocol, args, (msg) => log(`${target}: ${msg}`));
}

function mkdirp(path: string) {
  mkdirSync(path, { recursive: true });
  return path;
}

await main();

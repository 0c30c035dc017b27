// N server instances behind Caddy, against Postgres and Redis.
//   bun run cluster [--instances N] [--port 8080] [--no-caddy]
//   bun run cluster:roll   rolling restart of the running cluster (SIGHUP to it)
// Starts throwaway Postgres and Redis (scripts/services.ts) unless DATABASE_URL
// and REDIS_URL are set, N instances (INSTANCE_ID bun-1..N) on free loopback
// ports, then Caddy with the repo's Caddyfile; Ctrl-C or SIGTERM tears it all down.
// A crashed instance is started again with backoff; SIGHUP restarts them one by one.
// `startCluster()` is the same thing for system tests and benchmarks.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { Subprocess } from "bun";
import { childEnv, loadEnv } from "../src/env.ts";
import { captureOutput, stopProcess, waitReady, type CapturedOutput } from "./lib/process.ts";
import { freePort, startPostgres, startRedis, type RestartableService, type Service } from "./services.ts";

const ROOT = resolve(import.meta.dir, "..");
const OUTPUT_KEPT = 64 * 1024;
/** The running `bun run cluster`'s pid, for `bun run cluster:roll`. */
export const PID_FILE = join(ROOT, ".data", "cluster.pid");

export interface ClusterOptions {
  /** Number of server instances (default 2). */
  instances?: number;
  /** Caddy's port; 0 or unset: a free one. */
  port?: number;
  /** Put Caddy in front (default true). Without it `url` is the first instance's. */
  caddy?: boolean;
  /** Use these stores instead of starting throwaway ones. */
  databaseUrl?: string;
  redisUrl?: string;
  /** Extra environment for every instance (RATE_LIMIT_MULTIPLIER, LOG_LEVEL, …). */
  env?: Record<string, string>;
  /** Echo instance output to this process's stderr, each line prefixed with the instance id. */
  echo?: boolean;
  /** How long to wait for each instance's /readyz (default 60 s). */
  readyTimeoutMs?: number;
  /**
   * Start an instance again when it exits on its own (a crash), after a backoff that
   * doubles per crash in a row (0.5 s .. 15 s) and resets once it stayed up for 30 s.
   * On for `bun run cluster`; off by default, so tests that kill on purpose see it dead.
   */
  supervise?: boolean;
  /** Where supervision and rolling restarts report (default: stderr). */
  log?: (line: string) => void;
}

export interface ClusterInstance {
  id: string;
  url: string;
  port: number;
  /** The current process (a new one after restart()). */
  readonly proc: Subprocess;
  /** Everything the current process wrote so far (the last 64 KiB). */
  output(): string;
  /** Signals the process (SIGTERM: graceful drain) and waits for it to exit; returns its exit code. */
  stop(signal?: NodeJS.Signals): Promise<number>;
  /** Stops the process if it still runs, starts it again on the same port, waits for /readyz. */
  restart(): Promise<void>;
  /** Times the supervisor started this instance again after a crash. */
  readonly crashRestarts: number;
  waitReady(timeoutMs?: number): Promise<void>;
}

export interface CaddyProcess {
  url: string;
  port: number;
  /** The current process (a new one after restart()). */
  readonly proc: Subprocess;
  output(): string;
  /** SIGTERM, and wait for it to exit (the offline e2e stops everything the page talks to). */
  stop(): Promise<void>;
  /** Stopped if running, then started again on the same port. */
  restart(): Promise<void>;
  /** Caddy's own metrics, on a loopback-only listener (the same port across restarts). */
  metricsUrl: string;
}

export interface Cluster {
  /** Caddy's URL, or the first instance's without Caddy. */
  url: string;
  instances: ClusterInstance[];
  /** Throwaway stores this cluster started; undefined when URLs were given. */
  pg?: Service;
  redis?: RestartableService;
  caddy?: CaddyProcess;
  databaseUrl: string;
  redisUrl: string;
  /**
   * Rolling restart: one instance at a time, SIGTERM (it drains: /readyz 503, sockets
   * closed with 1012 so clients resume elsewhere), start it again, wait for its /readyz
   * and for Caddy's next health check, then the next one. Never two down at once.
   */
  roll(): Promise<void>;
  stop(): Promise<void>;
}

/** After an instance is ready again: Caddy's active check (health_interval 1s) must see it before the next goes. */
const CADDY_NOTICE_MS = 1_500;

export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  const count = opts.instances ?? 2;
  if (!Number.isInteger(count) || count < 1) throw new Error(`instances must be a positive integer, got ${count}`);
  const dir = mkdtempSync(join(tmpdir(), "chat-cluster-"));
  // Postgres runs as its own user when we are root: it must reach its directory below.
  chmodSync(dir, 0o711);
  const instances: ClusterInstance[] = [];
  let pg: Service | undefined;
  let redis: RestartableService | undefined;
  let caddy: Cluster["caddy"];

  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  let stopped = false;
  let rolling: Promise<void> | undefined;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await rolling?.catch(() => {});
    if (caddy) await stopProcess(caddy.proc, "SIGTERM");
    await Promise.allSettled(instances.map((i) => i.stop("SIGTERM")));
    await Promise.allSettled([pg?.stop(), redis?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    // allSettled: when one store fails to start, the other must be up (and known) before stop().
    const [databaseUrl, redisUrl] = settled<string>(
      await Promise.allSettled([
        opts.databaseUrl ?? startPostgres(join(dir, "pg"), { maxConnections: 100 + 20 * count }).then((s) => (pg = s).url),
        opts.redisUrl ?? startRedis(mkdirp(join(dir, "redis"))).then((s) => (redis = s).url),
      ]),
    ) as [string, string];
    for (let n = 1; n <= count; n++) {
      instances.push(
        startInstance({
          id: `bun-${n}`,
          port: freePort(),
          env: {
            DATABASE_URL: databaseUrl,
            REDIS_URL: redisUrl,
            DATA_DIR: mkdirp(join(dir, `bun-${n}`)),
            // Caddy reaches the instances from loopback: its X-Forwarded-For is the one believed.
            ...(opts.caddy ?? true ? { TRUSTED_PROXIES: "127.0.0.1" } : {}),
            ...opts.env,
          },
          echo: opts.echo ?? false,
          supervise: opts.supervise ?? false,
          log,
        }),
      );
    }
    await Promise.all(instances.map((i) => i.waitReady(opts.readyTimeoutMs)));
    const maxBodyBytes = loadEnv(opts.env ?? {}).MAX_BODY_BYTES;
    if (opts.caddy ?? true) caddy = await startCaddy(dir, opts.port || freePort(), instances, maxBodyBytes);
    return {
      url: caddy?.url ?? instances[0]!.url,
      instances,
      pg,
      redis,
      caddy,
      databaseUrl,
      redisUrl,
      roll() {
        rolling ??= (async () => {
          try {
            for (const instance of instances) {
              if (stopped) return;
              const started = performance.now();
              log(`[cluster] rolling: restarting ${instance.id}`);
              await instance.restart();
              if (caddy) await Bun.sleep(CADDY_NOTICE_MS);
              log(`[cluster] rolling: ${instance.id} ready again after ${Math.round(performance.now() - started)} ms`);
            }
            log("[cluster] rolling restart done");
          } finally {
            rolling = undefined;
          }
        })();
        return rolling;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

function settled<T>(results: PromiseSettledResult<T>[]): T[] {
  for (const r of results) if (r.status === "rejected") throw r.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

export function mkdirp(path: string) {
  mkdirSync(path, { recursive: true });
  return path;
}

const BACKOFF = { firstMs: 500, maxMs: 15_000, stableMs: 30_000 };

function startInstance(spec: {
  id: string;
  port: number;
  env: Record<string, string>;
  echo: boolean;
  supervise: boolean;
  log: (line: string) => void;
}): ClusterInstance {
  const url = `http://127.0.0.1:${spec.port}`;
  let proc: Subprocess<"ignore", "pipe", "pipe">;
  let out: CapturedOutput;
  // Set while we stop it ourselves: such an exit is not a crash.
  let stopping = false;
  let crashRestarts = 0;
  let crashesInARow = 0;
  let startedAt = 0;
  let backoffTimer: Timer | undefined;

  const onExit = (exited: Subprocess, code: number) => {
    if (stopping || !spec.supervise || exited !== proc) return;
    if (performance.now() - startedAt > BACKOFF.stableMs) crashesInARow = 0;
    const delay = Math.min(BACKOFF.maxMs, BACKOFF.firstMs * 2 ** crashesInARow);
    crashesInARow++;
    spec.log(`[cluster] ${spec.id} crashed (exit ${code}${exited.signalCode ? `, ${exited.signalCode}` : ""}); restarting in ${delay} ms`);
    backoffTimer = setTimeout(() => {
      backoffTimer = undefined;
      if (stopping) return;
      crashRestarts++;
      spawn();
      instance.waitReady().then(
        () => spec.log(`[cluster] ${spec.id} restarted (pid ${proc.pid})`),
        (err) => spec.log(`[cluster] ${spec.id} did not come back: ${(err as Error).message.split("\n")[0]}`),
      );
    }, delay);
  };

  const spawn = () => {
    startedAt = performance.now();
    proc = Bun.spawn(["bun", "--max-http-header-size=1048576", "src/main.ts"], {
      cwd: ROOT,
      env: childEnv({
        NODE_ENV: "production",
        LOG_LEVEL: "info",
        ...spec.env,
        HOST: "127.0.0.1",
        PORT: String(spec.port),
        INSTANCE_ID: spec.id,
      }),
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    out = captureOutput(proc, { keepBytes: OUTPUT_KEPT, echoPrefix: spec.echo ? `[${spec.id}]` : undefined });
    const current = proc;
    void current.exited.then((code) => onExit(current, code));
  };
  spawn();

  const stopOnPurpose = async (signal: NodeJS.Signals) => {
    stopping = true;
    clearTimeout(backoffTimer);
    backoffTimer = undefined;
    return stopProcess(proc, signal);
  };

  const instance: ClusterInstance = {
    id: spec.id,
    url,
    port: spec.port,
    get proc() {
      return proc;
    },
    get crashRestarts() {
      return crashRestarts;
    },
    output: () => out.text(),
    stop: (signal = "SIGTERM") => stopOnPurpose(signal),
    async restart() {
      await stopOnPurpose("SIGTERM");
      spawn();
      stopping = false;
      await instance.waitReady();
    },
    waitReady: (timeoutMs = 60_000) => waitReady(url, { timeoutMs, proc, output: () => out.text(), what: spec.id }),
  };
  return instance;
}

/** Caddy with the repo's Caddyfile in front of the given upstream ports (also used for the benchmark peer). */
export async function startCaddy(dir: string, port: number, instances: { port: number }[], maxBodyBytes = 1_048_576): Promise<CaddyProcess> {
  const caddyBin = Bun.which("caddy");
  if (!caddyBin) throw new Error("caddy not found: run scripts/ensure-tools.sh --cluster");
  const home = mkdirp(join(dir, "caddy"));
  const url = `http://127.0.0.1:${port}`;
  // The metrics listener keeps its port across restarts.
  const metricsPort = freePort();
  const spawn = async () => {
    const proc = Bun.spawn([caddyBin, "run", "--config", join(ROOT, "Caddyfile"), "--adapter", "caddyfile"], {
      cwd: ROOT,
      env: childEnv({
        CADDY_PORT: String(port),
        CADDY_BIND: "127.0.0.1",
        UPSTREAMS: instances.map((i) => `127.0.0.1:${i.port}`).join(" "),
        // Caddy refuses what the instances would refuse anyway, before they see it.
        CADDY_MAX_BODY_BYTES: String(maxBodyBytes),
        CADDY_METRICS_PORT: String(metricsPort),
        // Caddy keeps its autosave and data under these; keep them throwaway.
        HOME: home,
        XDG_CONFIG_HOME: home,
        XDG_DATA_HOME: home,
      }),
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const out = captureOutput(proc, { keepBytes: OUTPUT_KEPT });
    try {
      await waitReady(url, { timeoutMs: 15_000, proc, output: out.text, what: "caddy" });
    } catch (err) {
      await stopProcess(proc, "SIGKILL");
      throw err;
    }
    return { proc, out };
  };
  let current = await spawn();
  return {
    url,
    port,
    metricsUrl: `http://127.0.0.2:${metricsPort}/metrics`,
    get proc() {
      return current.proc;
    },
    output: () => current.out.text(),
    async stop() {
      await stopProcess(current.proc, "SIGTERM");
    },
    async restart() {
      await stopProcess(current.proc, "SIGTERM");
      current = await spawn();
    },
  };
}

async function main() {
  const { values } = parseArgs({
    options: {
      instances: { type: "string", default: "2" },
      port: { type: "string", default: "8080" },
      "no-caddy": { type: "boolean", default: false },
      "pid-file": { type: "string", default: PID_FILE },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log("bun run cluster [--instances N] [--port 8080] [--no-caddy] [--pid-file .data/cluster.pid]");
    return;
  }
  const instances = Number(values.instances);
  const port = Number(values.port);
  if (!Number.isInteger(instances) || instances < 1) throw new Error("--instances must be a positive integer");
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error("--port must be 1-65535");

  const env = loadEnv();
  if (Boolean(env.DATABASE_URL) !== Boolean(env.REDIS_URL)) {
    console.error("[cluster] DATABASE_URL and REDIS_URL go together: set both, or neither for throwaway ones");
  }
  console.error(
    `[cluster] starting ${instances} instance(s)` +
      (env.DATABASE_URL ? "" : ", throwaway Postgres") +
      (env.REDIS_URL ? "" : ", throwaway Redis"),
  );
  const cluster = await startCluster({
    instances,
    port,
    caddy: !values["no-caddy"],
    databaseUrl: env.DATABASE_URL,
    redisUrl: env.REDIS_URL,
    echo: true,
    supervise: true,
  });
  // `bun run cluster:roll` finds this process here and sends it SIGHUP.
  const pidFile = resolve(values["pid-file"]!);
  mkdirSync(dirname(pidFile), { recursive: true });
  writeFileSync(pidFile, String(process.pid));

  let exiting = false;
  const exit = async (code: number) => {
    if (exiting) return;
    exiting = true;
    console.error("[cluster] stopping");
    await cluster.stop();
    rmSync(pidFile, { force: true });
    process.exit(code);
  };
  process.on("SIGINT", () => void exit(130));
  process.on("SIGTERM", () => void exit(143));
  process.on("SIGHUP", () => {
    if (exiting) return;
    void cluster.roll().catch((err) => console.error(`[cluster] rolling restart failed: ${(err as Error).message}`));
  });
  if (cluster.caddy) {
    void cluster.caddy.proc.exited.then((code) => {
      if (exiting) return;
      console.error(`[cluster] caddy exited with ${code}:\n${cluster.caddy!.output()}`);
      void exit(1);
    });
  }

  if (cluster.pg) console.error(`[cluster] postgres ${cluster.pg.url}`);
  if (cluster.redis) console.error(`[cluster] redis    ${cluster.redis.url}`);
  for (const i of cluster.instances) console.error(`[cluster] ${i.id}    ${i.url}`);
  console.log(`Cluster ready: ${cluster.url}  (Ctrl-C to stop; bun run cluster:roll for a rolling restart)`);
}

if (import.meta.main) {
  main().catch((err) => {
    console.error(`[cluster] ${(err as Error).message ?? err}`);
    process.exit(1);
  });
}

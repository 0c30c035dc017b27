// Throwaway PostgreSQL and Redis servers on free loopback ports, under a temp dir.
// Used by the test runner, the cluster script and the benchmarks; never touches
// a developer's own databases.
import { chownSync, existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { signalTree, stopProcess, waitUntil } from "./lib/process.ts";

export interface Service {
  url: string;
  port: number;
  process: Subprocess;
  stop(): Promise<void>;
}

export function freePort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const { port } = listener;
  listener.stop(true);
  return port;
}

function postgresBin(name: string): string {
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) {
    const path = join(root, v, "bin", name);
    if (existsSync(path)) return path;
  }
  const onPath = Bun.which(name);
  if (onPath) return onPath;
  throw new Error(`${name} not found: run scripts/ensure-tools.sh --services`);
}

const isRoot = process.getuid?.() === 0;
// initdb and postgres refuse to run as root: drop to the postgres user.
const asPostgres = (cmd: string[]) => (isRoot ? ["runuser", "-u", "postgres", "--", ...cmd] : cmd);

/**
 * `port`: a given one (default: free); an existing data directory under `dir` is reused, not
 * initialised again. `durable`: keep fsync on (data a developer keeps); off for throwaway servers.
 * `statementStats`: load pg_stat_statements (benchmarks read where Postgres spends its time).
 */
export async function startPostgres(
  dir: string,
  opts: { maxConnections?: number; port?: number; durable?: boolean; statementStats?: boolean } = {},
): Promise<PostgresService> {
  const data = join(dir, "pg-data");
  const sockets = join(dir, "pg-sock");
  mkdirSync(data, { recursive: true });
  mkdirSync(sockets, { recursive: true });
  if (isRoot) {
    const { uid, gid } = await postgresUser();
    for (const d of [dir, data, sockets]) chownSync(d, uid, gid);
  }
  if (!existsSync(join(data, "PG_VERSION"))) {
    const init = Bun.spawnSync(
      asPostgres([postgresBin("initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]),
      { stdout: "ignore", stderr: "pipe" },
    );
    if (init.exitCode !== 0) throw new Error(`initdb failed: ${init.stderr.toString()}`);
  }
  const port = opts.port ?? freePort();
  const spawn = () =>
    Bun.spawn(
      asPostgres([
        postgresBin("postgres"),
        "-D", data,
        "-p", String(port),
        "-k", sockets,
        "-c", "listen_addresses=127.0.0.1",
        "-c", `max_connections=${opts.maxConnections ?? 300}`,
        ...(opts.durable ? [] : ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]),
        "-c", "shared_buffers=128MB",
        ...(opts.statementStats ? ["-c", "shared_preload_libraries=pg_stat_statements", "-c", "pg_stat_statements.track=all", "-c", "pg_stat_statements.track_planning=on"] : []),
      ]),
      { stdout: "ignore", stderr: "ignore" },
    );
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const isReady = postgresBin("pg_isready");
  const started = async (proc: Subprocess) => {
    await waitUntil(
      async () => Bun.spawnSync([isReady, "-h", "127.0.0.1", "-p", String(port), "-U", "postgres"]).exitCode === 0,
      "postgres",
      proc,
    );
    return proc;
  };
  const service: PostgresService = {
    url,
    port,
    process: await started(spawn()),
    stop: () => stopPostgres(service.process, data),
    async restart() {
      await stopPostgres(service.process, data);
      service.process = await started(spawn());
    },
    freeze: async () => signalTree(await postmasterPid(data), "SIGSTOP"),
    // Under runuser, runuser stops itself when its child stops, and never reaps the server unless
    // it is continued too: after the server, so it does not see a stopped child and stop again.
    async thaw() {
      await signalTree(await postmasterPid(data), "SIGCONT");
      await Bun.sleep(50);
      service.process.kill("SIGCONT");
    },
  };
  return service;
}

export interface PostgresService extends Service {
  /** Fast shutdown, then the same server again on the same port and data (kept). */
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT the postmaster and every backend: a server that hangs without closing anything. */
  freeze(): Promise<void>;
  thaw(): Promise<void>;
}

async function postmasterPid(data: string): Promise<number> {
  const pidFile = await Bun.file(join(data, "postmaster.pid")).text().catch(() => "");
  const pid = Number(pidFile.split("\n")[0]);
  if (!(pid > 0)) throw new Error(`no postmaster.pid under ${data}`);
  return pid;
}

// SIGINT is Postgres's fast shutdown. Under runuser the server is runuser's child,
// and runuser ignores SIGINT (and a SIGKILL to it would orphan the server), so
// signal the postmaster itself, by the pid in its postmaster.pid.
async function stopPostgres(proc: Subprocess, data: string) {
  const pid = await postmasterPid(data).catch(() => 0);
  if (proc.exitCode === null && pid > 0) {
    try {
      process.kill(pid, "SIGINT");
    } catch {}
  }
  await stopProcess(proc, "SIGINT");
}

async function postgresUser() {
  const line = (await Bun.file("/etc/passwd").text()).split("\n").find((l) => l.startsWith("postgres:"));
  if (!line) throw new Error("no postgres user: install postgresql (scripts/ensure-tools.sh --services)");
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

export interface RestartableService extends Service {
  /** Stops the server, then starts it again on the same port and directory (data is not kept). */
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT: a server that hangs without closing its connections. */
  freeze(): Promise<void>;
  thaw(): Promise<void>;
}

/**
 * `port`: start on a given port, e.g. to bring a stopped Redis back where clients expect it.
 * `persist`: keep data in `dir` across restarts (append-only file), for `bun run services`.
 */
export async function startRedis(dir: string, port = freePort(), opts: { persist?: boolean } = {}): Promise<RestartableService> {
  const persist = opts.persist ?? false;
  const service: RestartableService = {
    url: `redis://127.0.0.1:${port}`,
    port,
    process: await spawnRedis(dir, port, persist),
    stop: async () => void (await stopProcess(service.process)),
    async restart() {
      await stopProcess(service.process);
      service.process = await spawnRedis(dir, port, persist);
    },
    freeze: async () => void service.process.kill("SIGSTOP"),
    thaw: async () => void service.process.kill("SIGCONT"),
  };
  return service;
}

async function spawnRedis(dir: string, port: number, persist: boolean): Promise<Subprocess> {
  const server = Bun.which("redis-server") ?? "/usr/bin/redis-server";
  const proc = Bun.spawn(
    [server, "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", persist ? "yes" : "no", "--dir", dir,
      "--daemonize", "no", "--protected-mode", "no", "--maxclients", "20000"],
    { stdout: "ignore", stderr: "ignore" },
  );
  await waitUntil(
    async () => {
      const socket = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
      socket.end();
      return true;
    },
    "redis",
    proc,
  );
  return proc;
}

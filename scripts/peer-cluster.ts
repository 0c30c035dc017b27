// The benchmark peer (load/peers/socketio: Node + Express + Socket.IO) as a cluster:
// N Node processes behind the same Caddyfile as ours, against given Postgres and Redis.
// The database must already carry the product's schema (migrations run by the caller).
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { childEnv } from "../src/env.ts";
import { startCaddy, type Cluster } from "./cluster.ts";
import { stopProcess } from "./lib/process.ts";
import { freePort } from "./services.ts";

const ROOT = resolve(import.meta.dir, "..");
export const PEER_DIR = join(ROOT, "load/peers/socketio");

/** Installs the peer's own dependencies (npm, from its lockfile) when they are missing. */
export function ensurePeerInstalled() {
  if (existsSync(join(PEER_DIR, "node_modules/socket.io"))) return;
  const npm = Bun.which("npm");
  if (!npm) throw new Error("npm not found: the peer needs Node 20 and npm");
  const done = Bun.spawnSync([npm, "ci", "--no-audit", "--no-fund"], { cwd: PEER_DIR, stdout: "inherit", stderr: "inherit" });
  if (done.exitCode !== 0) throw new Error("npm ci in load/peers/socketio failed");
}

export interface PeerInstance {
  id: string;
  url: string;
  port: number;
  readonly proc: Subprocess;
  output(): string;
}

export type PeerCluster = Pick<Cluster, "url" | "caddy" | "stop"> & { instances: PeerInstance[] };

export async function startPeerCluster(opts: {
  instances: number;
  databaseUrl: string;
  redisUrl: string;
  port?: number;
  caddy?: boolean;
}): Promise<PeerCluster> {
  ensurePeerInstalled();
  const node = Bun.which("node");
  if (!node) throw new Error("node not found: the peer needs Node 20");
  const dir = mkdtempSync(join(tmpdir(), "chat-peer-"));
  const instances: PeerInstance[] = [];
  let caddy: PeerCluster["caddy"];
  const stop = async () => {
    if (caddy) await stopProcess(caddy.proc, "SIGTERM");
    await Promise.allSettled(instances.map((i) => stopProcess(i.proc, "SIGTERM")));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let n = 1; n <= opts.instances; n++) {
      const port = freePort();
      const id = `peer-${n}`;
      let text = "";
      const proc = Bun.spawn([node, "server.js"], {
        cwd: PEER_DIR,
        env: childEnv({
          NODE_ENV: "production",
          DATABASE_URL: opts.databaseUrl,
          REDIS_URL: opts.redisUrl,
          PORT: String(port),
          HOST: "127.0.0.1",
          INSTANCE_ID: id,
        }),
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
      });
      for (const stream of [proc.stdout, proc.stderr]) {
        void (async () => {
          for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) text = (text + new TextDecoder().decode(chunk)).slice(-65536);
        })();
      }
      instances.push({ id, url: `http://127.0.0.1:${port}`, port, proc, output: () => text });
    }
    await Promise.all(instances.map((i) => waitReady(i)));
    if (opts.caddy ?? true) caddy = await startCaddy(dir, opts.port || freePort(), instances);
    return { url: caddy?.url ?? instances[0]!.url, instances, caddy, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function waitReady(instance: PeerInstance, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (instance.proc.exitCode !== null) throw new Error(`${instance.id} exited with ${instance.proc.exitCode}:\n${instance.output()}`);
    const res = await fetch(`${instance.url}/readyz`, { signal: AbortSignal.timeout(2_000) }).catch(() => null);
    if (res?.status === 200) return;
    await Bun.sleep(100);
  }
  throw new Error(`${instance.id} not ready after ${timeoutMs} ms:\n${instance.output()}`);
}

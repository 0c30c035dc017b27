// Scale-out with real processes: two instances behind the repo's Caddy, sharing
// the test runner's Postgres (a fresh database) and Redis. Response cache and
// rate limits across instances, routing around a killed instance, supervision,
// a rolling restart under traffic, and the commands' clean shutdown.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import postgres from "postgres";
import Redis from "ioredis";
import { freePort } from "../../scripts/services.ts";
import { startCluster, type Cluster } from "../../scripts/cluster.ts";
import { rollUnderLoad } from "../../scripts/roll-under-load.ts";
import { childEnv } from "../../src/env.ts";
import { call, register } from "../support/http-client.ts";
import { createDatabase, serverEnv } from "../support/test-app.ts";

const ROOT = resolve(import.meta.dir, "../..");

describe("two instances behind Caddy", () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster({
      instances: 2,
      databaseUrl: await createDatabase(),
      redisUrl: serverEnv().REDIS_URL,
      // Multiplier 1: searches 10 at once, then one every 500 ms, shared by both instances;
      // the rows the other tests lean on raised instead.
      env: {
        RATE_LIMIT_MULTIPLIER: "1",
        RATE_LIMITS: "search=10/5,register=1000/60,room_create=1000/60,send=100000/10",
        LOG_LEVEL: "warn",
      },
    });
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  test("cache: MISS, then HIT, then a write through the other instance is seen at once", async () => {
    const [one, two] = cluster.instances as [Cluster["instances"][0], Cluster["instances"][0]];
    const owner = await register(cluster.url);
    const room = (await call(cluster.url, "POST", "/api/rooms", { token: owner.token, body: { name: `cache ${Date.now()}` } })).body;
    const path = `/api/rooms/${room.id}/messages`;
    const miss = await call(one.url, "GET", path, { token: owner.token });
    expect(miss.headers.get("x-cache")).toBe("MISS");
    const hitOther = await call(two.url, "GET", path, { token: owner.token });
    expect(hitOther.headers.get("x-cache")).toBe("HIT");
    const hitCaddy = await call(cluster.url, "GET", path, { token: owner.token });
    expect(hitCaddy.headers.get("x-cache")).toBe("HIT");
    expect(hitCaddy.headers.get("cache-control")).toBe("private, no-cache");

    const sent = await call(two.url, "POST", path, { token: owner.token, body: { content: "via two", clientMsgId: "c1" } });
    expect(sent.status).toBe(201);
    const after = await call(one.url, "GET", path, { token: owner.token });
    expect(after.headers.get("x-cache")).toBe("MISS");
    expect(after.body.data.map((m: { content: string }) => m.content)).toEqual(["via two"]);
    const roomView = await call(one.url, "GET", `/api/rooms/${room.id}`, { token: owner.token });
    expect(roomView.body.lastSeq).toBe(1);
  });

  test("cache: 304 on a matching ETag through Caddy, compressed or not", async () => {
    const owner = await register(cluster.url);
    const room = (await call(cluster.url, "POST", "/api/rooms", { token: owner.token, body: { name: `etag ${Date.now()}` } })).body;
    // Enough messages for the page to pass Caddy's compression threshold.
    for (let i = 0; i < 5; i++) {
      await call(cluster.url, "POST", `/api/rooms/${room.id}/messages`, { token: owner.token, body: { content: "x".repeat(300), clientMsgId: `e${i}` } });
    }
    for (const encoding of ["identity", "gzip"]) {
      const first = await fetch(`${cluster.url}/api/rooms/${room.id}/messages`, { headers: { authorization: `Bearer ${owner.token}`, "accept-encoding": encoding } });
      await first.arrayBuffer();
      if (encoding === "gzip") expect(first.headers.get("content-encoding")).toBe("gzip");
      const etag = first.headers.get("etag")!;
      expect(etag).toBeTruthy();
      for (let i = 0; i < 4; i++) {
        // Through Caddy, so both instances answer some of these.
        const again = await fetch(`${cluster.url}/api/rooms/${room.id}/messages`, {
          headers: { authorization: `Bearer ${owner.token}`, "accept-encoding": encoding, "if-none-match": etag },
        });
        expect(again.status).toBe(304);
        expect((await again.arrayBuffer()).byteLength).toBe(0);
      }
    }
  });

  test("the PWA through Caddy: hashed assets immutable, index.html and /sw.js revalidated, compressed or not", async () => {
    const shell = await fetch(`${cluster.url}/`, { headers: { "accept-encoding": "identity" } });
    expect(shell.status).toBe(200);
    expect(shell.headers.get("content-type")).toStartWith("text/html");
    expect(shell.headers.get("cache-control")).toBe("no-cache");
    const html = await shell.text();
    // Every file the shell names by a fingerprinted path, fetched through Caddy as a browser would.
    const hashed = [...html.matchAll(/(?:src|href)="(\/[^"]+-[a-z0-9]{8,}\.(?:js|css|png|webmanifest))"/g)].map((m) => m[1]!);
    expect(hashed.length).toBeGreaterThan(0);
    for (const path of new Set(hashed)) {
      for (const encoding of ["identity", "gzip"]) {
        const res = await fetch(`${cluster.url}${path}`, { headers: { "accept-encoding": encoding }, decompress: false } as RequestInit);
        expect(res.status).toBe(200);
        expect(res.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
        if (encoding === "gzip" && /\.(js|css)$/.test(path)) expect(res.headers.get("content-encoding")).toBe("gzip");
        await res.arrayBuffer();
      }
    }
    for (const path of ["/index.html", "/sw.js", "/rooms/anything"]) {
      for (const encoding of ["identity", "gzip"]) {
        const res = await fetch(`${cluster.url}${path}`, { headers: { "accept-encoding": encoding }, decompress: false } as RequestInit);
        expect(res.status).toBe(200);
        expect(res.headers.get("cache-control")).toBe("no-cache");
        await res.arrayBuffer();
      }
    }
    // Both instances answer the same files (each serves dist/web itself).
    for (const instance of cluster.instances) {
      const res = await fetch(`${instance.url}${hashed[0]}`);
      expect(res.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
      await res.arrayBuffer();
    }
  });

  test("rate limit: 429 after a burst, shared across instances, and the window slides", async () => {
    const [one, two] = cluster.instances as [Cluster["instances"][0], Cluster["instances"][0]];
    const user = await register(cluster.url);
    const search = (base: string) => call(base, "GET", "/api/search?q=hello", { token: user.token });
    // Ten at once, spent alternately on both instances.
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await search(i % 2 ? one.url : two.url)).status);
    expect(statuses).toEqual(Array(10).fill(200));
    const refusedOne = await search(one.url);
    const refusedTwo = await search(two.url);
    const refusedCaddy = await search(cluster.url);
    for (const refused of [refusedOne, refusedTwo, refusedCaddy]) {
      expect(refused.status).toBe(429);
      expect(refused.body).toEqual({ error: { code: "rate_limited", message: expect.any(String) } });
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    }
    // 10 per 5 s refill one every 500 ms: after 600 ms one more passes, the next is refused.
    await Bun.sleep(600);
    expect((await search(two.url)).status).toBe(200);
    expect((await search(one.url)).status).toBe(429);
  }, 60_000);

  test("an instance killed: Caddy routes around it and no request fails after", async () => {
    const user = await register(cluster.url);
    const [victim] = cluster.instances;
    const statuses: number[] = [];
    let running = true;
    const load = (async () => {
      while (running) statuses.push((await call(cluster.url, "GET", "/api/me", { token: user.token }).catch(() => ({ status: 0 }))).status);
    })();
    await Bun.sleep(300);
    const killedAt = statuses.length;
    process.kill(victim!.proc.pid, "SIGKILL");
    // The active check runs every second; lb_try_duration retries the connection refused meanwhile.
    await Bun.sleep(1_500);
    const afterInterval = statuses.length;
    await Bun.sleep(1_000);
    running = false;
    await load;
    expect(statuses.slice(afterInterval).length).toBeGreaterThan(20);
    expect(statuses.slice(afterInterval).every((s) => s === 200)).toBe(true);
    expect(statuses.slice(killedAt).filter((s) => s !== 200)).toEqual([]);
    await victim!.restart();
  }, 30_000);

  test("a rolling restart under traffic loses no message and fails at most 0.1% of requests", async () => {
    const result = await rollUnderLoad(cluster, { senders: 3, receivers: 6, sendEveryMs: 100, httpReaders: 3, marginMs: 1_000 });
    expect(result.messages).toBeGreaterThan(50);
    expect({ lost: result.lost, duplicated: result.duplicated, outOfOrder: result.outOfOrder }).toEqual({ lost: 0, duplicated: 0, outOfOrder: 0 });
    expect(result.reconnects).toBeGreaterThan(0);
    expect(result.http.total).toBeGreaterThan(100);
    expect(result.http.failed / result.http.total).toBeLessThanOrEqual(0.001);
  }, 90_000);
});

describe("cluster supervision", () => {
  test("a crashed instance is started again with backoff, and the restart is logged", async () => {
    const lines: string[] = [];
    const cluster = await startCluster({
      instances: 1,
      caddy: false,
      databaseUrl: await createDatabase(),
      redisUrl: serverEnv().REDIS_URL,
      env: { LOG_LEVEL: "warn" },
      supervise: true,
      log: (line) => lines.push(line),
    });
    try {
      const [instance] = cluster.instances;
      const firstPid = instance!.proc.pid;
      process.kill(firstPid, "SIGKILL");
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline && !lines.some((l) => l.includes("restarted"))) await Bun.sleep(100);
      expect(lines.find((l) => l.includes("crashed"))).toMatch(/bun-1 crashed \(exit \d+, SIGKILL\); restarting in 500 ms/);
      expect(lines.some((l) => l.includes("bun-1 restarted"))).toBe(true);
      expect(instance!.proc.pid).not.toBe(firstPid);
      expect(instance!.crashRestarts).toBe(1);
      expect((await call(instance!.url, "GET", "/readyz")).status).toBe(200);
      // A second crash in a row waits twice as long.
      process.kill(instance!.proc.pid, "SIGKILL");
      const again = Date.now() + 20_000;
      while (Date.now() < again && lines.filter((l) => l.includes("crashed")).length < 2) await Bun.sleep(50);
      expect(lines.filter((l) => l.includes("crashed"))[1]).toContain("restarting in 1000 ms");
      // Stopped on purpose: not a crash, not restarted.
      await instance!.stop("SIGTERM");
      await Bun.sleep(1_500);
      expect(lines.filter((l) => l.includes("crashed")).length).toBe(2);
    } finally {
      await cluster.stop();
    }
  }, 60_000);
});

/** Every process below `pid` (from /proc), so a test can check none is left. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {}
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ");
  } catch {
    return false;
  }
};

async function readUntil(stream: ReadableStream<Uint8Array>, pattern: RegExp, timeoutMs: number): Promise<string> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(text)) {
    const chunk = await Promise.race([reader.read(), Bun.sleep(Math.max(0, deadline - Date.now())).then(() => null)]);
    if (!chunk || chunk.done) throw new Error(`no ${pattern} in output:\n${text}`);
    text += decoder.decode(chunk.value, { stream: true });
  }
  reader.releaseLock();
  return text;
}

describe("commands", () => {
  test("bun run cluster: cluster:roll restarts it instance by instance; SIGTERM leaves no process behind", async () => {
    const port = freePort();
    const pidFile = join(mkdtempSync(join(tmpdir(), "chat-cluster-pid-")), "cluster.pid");
    const proc = Bun.spawn(["bun", "scripts/cluster.ts", "--instances", "2", "--port", String(port), "--pid-file", pidFile], {
      cwd: ROOT,
      env: childEnv({ DATABASE_URL: "", REDIS_URL: "", LOG_LEVEL: "warn" }),
      stdout: "pipe",
      stderr: "pipe",
    });
    try {
      await readUntil(proc.stdout, /Cluster ready/, 60_000);
      expect((await call(`http://127.0.0.1:${port}`, "GET", "/readyz")).status).toBe(200);
      expect(Number(readFileSync(pidFile, "utf8"))).toBe(proc.pid);
      const before = descendants(proc.pid);
      const roll = Bun.spawnSync(["bun", "scripts/cluster-roll.ts", "--pid-file", pidFile], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
      expect(roll.exitCode).toBe(0);
      const log = await readUntil(proc.stderr, /rolling restart done/, 60_000);
      expect(log).toMatch(/rolling: restarting bun-1[\s\S]*bun-1 ready again[\s\S]*restarting bun-2[\s\S]*bun-2 ready again/);
      expect((await call(`http://127.0.0.1:${port}`, "GET", "/readyz")).status).toBe(200);
      // The two instances are new processes; Postgres, Redis and Caddy are the same.
      expect(descendants(proc.pid).filter((p) => !before.includes(p)).length).toBeGreaterThanOrEqual(2);
      const tree = descendants(proc.pid);
      // Postgres (and its workers), Redis, two instances, Caddy.
      expect(tree.length).toBeGreaterThanOrEqual(5);
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(143);
      await Bun.sleep(200);
      expect(tree.filter(alive)).toEqual([]);
      expect(await fetch(`http://127.0.0.1:${port}/readyz`).then(() => "answered", () => "refused")).toBe("refused");
      expect(existsSync(pidFile)).toBe(false);
    } finally {
      if (proc.exitCode === null) proc.kill("SIGKILL");
    }
  }, 90_000);

  test("bun run services: Postgres and Redis with data kept under the given dir, printed URLs, clean stop", async () => {
    const dir = mkdtempSync(join(tmpdir(), "chat-services-"));
    const start = () =>
      Bun.spawn(["bun", "scripts/dev-services.ts", "--dir", dir, "--pg-port", String(freePort()), "--redis-port", String(freePort())], {
        cwd: ROOT,
        env: childEnv({}),
        stdout: "pipe",
        stderr: "ignore",
      });
    try {
      let proc = start();
      const out = await readUntil(proc.stdout, /REDIS_URL=\S+\n/, 60_000);
      const databaseUrl = /DATABASE_URL=(\S+)/.exec(out)![1]!;
      const redisUrl = /REDIS_URL=(\S+)/.exec(out)![1]!;
      let sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
      await sql`create table kept (v text)`;
      await sql`insert into kept values ('still here')`;
      await sql.end();
      let redis = new Redis(redisUrl);
      await redis.set("kept", "still here");
      redis.disconnect();
      const tree = descendants(proc.pid);
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
      await Bun.sleep(200);
      expect(tree.filter(alive)).toEqual([]);

      // Started again on the same directory: the data is there.
      proc = start();
      const again = await readUntil(proc.stdout, /REDIS_URL=\S+\n/, 60_000);
      sql = postgres(/DATABASE_URL=(\S+)/.exec(again)![1]!, { max: 1, onnotice: () => {} });
      expect((await sql`select v from kept`)[0]!.v).toBe("still here");
      await sql.end();
      redis = new Redis(/REDIS_URL=(\S+)/.exec(again)![1]!);
      expect(await redis.get("kept")).toBe("still here");
      redis.disconnect();
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);

  test("Caddyfile: plain HTTP on loopback by default; with DOMAIN, automatic HTTPS on :443 with HTTP/1.1, 2 and 3", () => {
    const adapt = (env: Record<string, string>) => {
      const run = Bun.spawnSync(["caddy", "adapt", "--config", join(ROOT, "Caddyfile"), "--adapter", "caddyfile"], {
        env: childEnv({ UPSTREAMS: "127.0.0.1:3001 127.0.0.1:3002", ...env }),
        stdout: "pipe",
        stderr: "pipe",
      });
      expect(run.exitCode).toBe(0);
      return JSON.parse(run.stdout.toString()).apps.http.servers.srv0;
    };
    const local = adapt({ CADDY_PORT: "8080" });
    expect(local.listen).toEqual(["127.0.0.1:8080"]);
    // No host matcher and no TLS: any Host (localhost, 127.0.0.1) over plain HTTP.
    expect(local.routes[0].match).toBeUndefined();
    expect(local.tls_connection_policies).toBeUndefined();
    const production = adapt({ DOMAIN: "chat.example.com", CADDY_PORT: "443", CADDY_BIND: "0.0.0.0" });
    expect(production.listen).toEqual(["0.0.0.0:443"]);
    expect(production.routes[0].match).toEqual([{ host: ["chat.example.com"] }]);
    expect(production.protocols).toEqual(["h1", "h2", "h3"]);
  });
});

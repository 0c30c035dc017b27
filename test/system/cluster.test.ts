// Two real instances behind real Caddy (the repo's Caddyfile), sharing the test
// runner's Postgres (a fresh database) and Redis.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startCluster, type Cluster } from "../../scripts/cluster.ts";
import { call, register } from "../support/http-client.ts";
import { createDatabase, serverEnv } from "../support/test-app.ts";

let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster({
    instances: 2,
    databaseUrl: await createDatabase(),
    redisUrl: serverEnv().REDIS_URL,
    env: { RATE_LIMIT_MULTIPLIER: "100", LOG_LEVEL: "warn" },
  });
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

describe("cluster behind Caddy", () => {
  test("/readyz answers 200 through Caddy, and requests reach both instances", async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 30 && seen.size < 2; i++) {
      const res = await call(cluster.url, "GET", "/readyz");
      expect(res.status).toBe(200);
      expect(res.body.status).toBe("ready");
      seen.add(res.body.instance);
    }
    expect([...seen].sort()).toEqual(["bun-1", "bun-2"]);
  });

  test("register, login and /api/me work through Caddy", async () => {
    const user = await register(cluster.url);
    const login = await call(cluster.url, "POST", "/api/auth/login", {
      body: { email: user.email, password: user.password },
    });
    expect(login.status).toBe(200);
    expect(login.body.user.id).toBe(user.id);
    const me = await call(cluster.url, "GET", "/api/me", { token: login.body.token });
    expect(me.status).toBe(200);
    expect(me.body.user).toEqual({ id: user.id, email: user.email, username: user.username });
  });

  test("a token issued by one instance works on the other", async () => {
    const [one, two] = cluster.instances;
    const user = await register(one!.url);
    const me = await call(two!.url, "GET", "/api/me", { token: user.token });
    expect(me.status).toBe(200);
    expect(me.body.user.id).toBe(user.id);

    const login = await call(two!.url, "POST", "/api/auth/login", { body: { email: user.email, password: user.password } });
    expect(login.status).toBe(200);
    expect((await call(one!.url, "GET", "/api/me", { token: login.body.token })).status).toBe(200);
  });

  test("Caddy compresses HTTP responses", async () => {
    const res = await fetch(`${cluster.url}/api/openapi.json`, { headers: { "accept-encoding": "gzip" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-encoding")).toBe("gzip");
    expect((await res.json()).openapi).toBeString();
  });

  test("WebSocket through Caddy: a message sent on one instance reaches a client behind Caddy", async () => {
    const [alice, bob] = [await register(cluster.url), await register(cluster.url)];
    const open = (base: string, token: string) =>
      new Promise<{ ws: WebSocket; frames: any[] }>((resolve, reject) => {
        const ws = new WebSocket(`${base.replace(/^http/, "ws")}/ws?token=${token}`);
        const frames: any[] = [];
        ws.onmessage = (ev) => frames.push(JSON.parse(ev.data as string));
        ws.onopen = () => resolve({ ws, frames });
        ws.onerror = () => reject(new Error(`WebSocket to ${base} failed`));
      });
    const until = async (frames: any[], match: (f: any) => boolean) => {
      const deadline = Date.now() + 5_000;
      while (Date.now() < deadline) {
        const found = frames.find(match);
        if (found) return found;
        await Bun.sleep(20);
      }
      throw new Error(`no matching frame; got ${JSON.stringify(frames.map((f) => f.event))}`);
    };
    const sender = await open(cluster.instances[0]!.url, alice.token);
    const receiver = await open(cluster.url, bob.token);
    try {
      for (const [n, c] of [sender, receiver].entries()) {
        c.ws.send(JSON.stringify({ event: "join_room", data: { roomId: "general" }, ref: n + 1 }));
        await until(c.frames, (f) => f.event === "joined");
      }
      const timestamp = Date.now();
      sender.ws.send(
        JSON.stringify({ event: "send_message", data: { roomId: "general", content: "through caddy", clientMsgId: "c1", timestamp } }),
      );
      const got = await until(receiver.frames, (f) => f.event === "new_message");
      expect(got.data.content).toBe("through caddy");
      expect(got.data.sentAt).toBe(timestamp);
      expect(got.seq).toBe(got.data.seq);
    } finally {
      sender.ws.close();
      receiver.ws.close();
    }
  });

  test("every oversized body gets 413 JSON, directly and through Caddy, chunked or not, and no instance is taken out", async () => {
    const user = await register(cluster.url);
    const big = new Uint8Array(5 * 1024 * 1024).fill(97);
    const chunked = () =>
      new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < 5; i++) controller.enqueue(big.subarray(i * 1024 * 1024, (i + 1) * 1024 * 1024));
          controller.close();
        },
      });
    const post = async (base: string, body: BodyInit) => {
      const res = await fetch(`${base}/api/rooms`, {
        method: "POST",
        headers: { authorization: `Bearer ${user.token}`, "content-type": "application/json" },
        body,
        signal: AbortSignal.timeout(10_000),
      });
      return { status: res.status, type: res.headers.get("content-type"), body: await res.json() };
    };
    for (const base of [cluster.url, cluster.instances[0]!.url]) {
      for (let i = 0; i < 5; i++) {
        for (const body of [big, chunked()]) {
          const res = await post(base, body);
          expect(res.status).toBe(413);
          expect(res.type).toStartWith("application/json");
          expect(res.body.error.code).toBe("payload_too_large");
        }
      }
    }
    // Both instances still take requests right after: none was marked failed.
    const seen = new Set<string>();
    for (let i = 0; i < 40 && seen.size < 2; i++) {
      const res = await call(cluster.url, "GET", "/readyz");
      expect(res.status).toBe(200);
      seen.add(res.body.instance);
    }
    expect([...seen].sort()).toEqual(["bun-1", "bun-2"]);
  }, 60_000);

  test("/metrics is 404 JSON on Caddy's port and served on each instance's own", async () => {
    for (const path of ["/metrics", "/metrics/", "/metrics?x=1"]) {
      const res = await call(cluster.url, "GET", path);
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe("not_found");
    }
    const direct = await fetch(`${cluster.instances[0]!.url}/metrics`);
    expect(direct.status).toBe(200);
    expect(await direct.text()).toContain("http_request_duration_seconds");
  });

  test("headers or query too large: 431 with the JSON body, from the app and from Caddy", async () => {
    for (const base of [cluster.url, cluster.instances[0]!.url]) {
      for (const size of [20_000, 100_000]) {
        const byHeader = await fetch(`${base}/api/me`, { headers: { "x-padding": "a".repeat(size) } });
        const byQuery = await fetch(`${base}/api/search?q=${"a".repeat(size)}`);
        for (const res of [byHeader, byQuery]) {
          expect(res.status).toBe(431);
          expect((await res.json()).error.code).toBe("headers_too_large");
        }
      }
    }
    // Bun reads headers up to 1 MiB (as Caddy does) so the app answers every one of these: no
    // connection is closed on unread bytes (a reset Caddy would count against the instance).
    const seen = new Set<string>();
    for (let i = 0; i < 40 && seen.size < 2; i++) seen.add((await call(cluster.url, "GET", "/readyz")).body.instance);
    expect([...seen].sort()).toEqual(["bun-1", "bun-2"]);
  });

  test("with one instance killed (-9), requests through Caddy still succeed; it rejoins after restart", async () => {
    const [one] = cluster.instances;
    const user = await register(cluster.url);
    await one!.stop("SIGKILL");
    for (let i = 0; i < 10; i++) {
      const res = await call(cluster.url, "GET", "/api/me", { token: user.token });
      expect(res.status).toBe(200);
    }
    await one!.restart();
    // Caddy's active health check (1 s) brings it back.
    const seen = new Set<string>();
    const deadline = Date.now() + 10_000;
    while (seen.size < 2 && Date.now() < deadline) {
      const res = await call(cluster.url, "GET", "/readyz");
      if (res.status === 200) seen.add(res.body.instance);
      await Bun.sleep(50);
    }
    expect([...seen].sort()).toEqual(["bun-1", "bun-2"]);
  }, 30_000);
});

import { afterAll, describe, expect, test } from "bun:test";
import Redis from "ioredis";
import { parseEnv } from "../env.ts";
import { AppError } from "../http/errors.ts";
import { createMemoryBuckets } from "./bucket.ts";
import { createRedisBuckets } from "./buckets-redis.ts";
import { createRateLimiter } from "./limiter.ts";
import { DEFAULT_LIMITS, limitTable } from "./limits.ts";
import { createRoom } from "../../test/support/chat.ts";
import { createTestApp, registerUser } from "../../test/support/test-app.ts";

const redisUrl = () => parseEnv(process.env).REDIS_URL!;
const clients: Redis[] = [];
const connect = () => {
  const r = new Redis(redisUrl(), { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  clients.push(r);
  return new Promise<Redis>((resolve) => r.once("ready", () => resolve(r)));
};
afterAll(() => {
  for (const c of clients) c.disconnect();
});

const table = (max: number, windowSeconds: number) => limitTable({ send: { max, windowSeconds } }, 1);

async function outcome(p: Promise<void>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (err) {
    if (err instanceof AppError) return err.status;
    throw err;
  }
}

describe("token bucket (GCRA)", () => {
  test("a burst of max passes, the next is refused until one interval has passed", async () => {
    let now = 1_000_000;
    const buckets = createMemoryBuckets(() => now);
    const limit = { max: 5, windowSeconds: 10 };
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push((await buckets.check("k", limit, true)).allowed);
    expect(answers).toEqual([true, true, true, true, true, false]);
    expect((await buckets.check("k", limit, false)).retryAfterMs).toBe(2_000);
    now += 1_999;
    expect((await buckets.check("k", limit, true)).allowed).toBe(false);
    now += 1;
    expect((await buckets.check("k", limit, true)).allowed).toBe(true);
    expect((await buckets.check("k", limit, true)).allowed).toBe(false);
    buckets.close();
  });

  test("peek spends nothing", async () => {
    const buckets = createMemoryBuckets(() => 0);
    const limit = { max: 1, windowSeconds: 60 };
    for (let i = 0; i < 5; i++) expect((await buckets.check("k", limit, false)).allowed).toBe(true);
    expect((await buckets.check("k", limit, true)).allowed).toBe(true);
    expect((await buckets.check("k", limit, false)).allowed).toBe(false);
    buckets.close();
  });
});

describe("rate limiter in Redis", () => {
  test("two instances share one bucket; twice the limit across a window edge is refused; it slides", async () => {
    const prefix = `t:${crypto.randomUUID()}:`;
    const [r1, r2] = await Promise.all([connect(), connect()]);
    const limits = table(10, 2); // 10 at once, then one per 200 ms
    const one = createRateLimiter({ table: limits, shared: createRedisBuckets(r1, prefix), sharedTimeoutMs: 1_000 });
    const two = createRateLimiter({ table: limits, shared: createRedisBuckets(r2, prefix), sharedTimeoutMs: 1_000 });
    const fallbacks: unknown[] = [];

    // A fixed 2 s window started by this first request would let 10 more through right after its edge.
    expect(await outcome(one.take("send", "u1"))).toBe(200);
    await Bun.sleep(1_850);
    const beforeEdge: number[] = [];
    for (let i = 0; i < 9; i++) beforeEdge.push(await outcome((i % 2 ? one : two).take("send", "u1")));
    await Bun.sleep(250); // past the edge of that fixed window
    const afterEdge: number[] = [];
    for (let i = 0; i < 10; i++) afterEdge.push(await outcome((i % 2 ? one : two).take("send", "u1")));
    expect(beforeEdge.every((s) => s === 200)).toBe(true);
    // 20 requests in about 300 ms against a limit of 10 per 2 s: at most two refills came in between.
    expect(afterEdge.filter((s) => s === 200).length).toBeLessThanOrEqual(3);
    expect(afterEdge.filter((s) => s === 429).length).toBeGreaterThanOrEqual(7);
    // Refused on one instance, so refused on the other too: the bucket is shared.
    expect(await outcome(one.take("send", "u1"))).toBe(429);
    expect(await outcome(two.take("send", "u1"))).toBe(429);
    // The window slides: one interval later exactly one more passes, on either instance.
    await Bun.sleep(230);
    expect(await outcome(two.take("send", "u1"))).toBe(200);
    expect(await outcome(one.take("send", "u1"))).toBe(429);
    // Another key is untouched.
    expect(await outcome(one.take("send", "u2"))).toBe(200);
    expect(fallbacks).toEqual([]);
    one.close();
    two.close();
  });

  test("takeSoon: this process answers at once; the shared bucket's refusal reaches both instances within a round trip", async () => {
    const prefix = `t:${crypto.randomUUID()}:`;
    const [r1, r2] = await Promise.all([connect(), connect()]);
    const limits = table(10, 20); // 10 at once, then one per 2 s: nothing refills during the test
    const one = createRateLimiter({ table: limits, shared: createRedisBuckets(r1, prefix), sharedTimeoutMs: 1_000 });
    const two = createRateLimiter({ table: limits, shared: createRedisBuckets(r2, prefix), sharedTimeoutMs: 1_000 });
    // Alternating, waiting for nothing: each process's own bucket holds 10, so 20 could pass
    // locally; the shared bucket (10) catches up within a round trip.
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) {
      statuses.push(await outcome((i % 2 ? one : two).takeSoon("send", "u1")));
      await Bun.sleep(5); // about a round trip between sends, as between a user's messages
    }
    const passed = statuses.filter((s) => s === 200).length;
    expect(passed).toBeGreaterThanOrEqual(10);
    expect(passed).toBeLessThanOrEqual(12); // the limit, plus what each admitted before its first refusal came back
    await Bun.sleep(50);
    expect(await outcome(one.takeSoon("send", "u1"))).toBe(429);
    expect(await outcome(two.takeSoon("send", "u1"))).toBe(429);
    const refused = await one.takeSoon("send", "u1").catch((e) => e);
    expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    // The shared bucket counted every send the processes admitted.
    expect(await outcome(one.take("send", "u1"))).toBe(429);
    // One process alone is held to the limit at once, by its own bucket.
    const local: number[] = [];
    for (let i = 0; i < 11; i++) local.push(await outcome(one.takeSoon("send", "u2")));
    expect(local.slice(0, 10)).toEqual(Array(10).fill(200));
    expect(local[10]).toBe(429);
    one.close();
    two.close();
  });

  test("a refusal carries Retry-After in whole seconds, at least 1", async () => {
    const r = await connect();
    const limiter = createRateLimiter({ table: table(1, 30), shared: createRedisBuckets(r, `t:${crypto.randomUUID()}:`), sharedTimeoutMs: 1_000 });
    await limiter.take("send", "u");
    const err = await limiter.take("send", "u").catch((e) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err.status).toBe(429);
    expect(err.code).toBe("rate_limited");
    expect(err.retryAfterSeconds).toBeGreaterThanOrEqual(29);
    expect(err.retryAfterSeconds).toBeLessThanOrEqual(30);
    limiter.close();
  });

  test("the script is sent once: later calls are EVALSHA", async () => {
    const r = await connect();
    const monitor = await connect();
    const seen: string[] = [];
    const m = await monitor.monitor();
    m.on("monitor", (_time: string, args: string[]) => {
      if (String(args[0]).toLowerCase().startsWith("eval")) seen.push(String(args[0]).toLowerCase());
    });
    const limiter = createRateLimiter({ table: table(100, 60), shared: createRedisBuckets(r, `t:${crypto.randomUUID()}:`), sharedTimeoutMs: 1_000 });
    for (let i = 0; i < 5; i++) await limiter.take("send", "u");
    await Bun.sleep(100);
    m.disconnect();
    // At most the first call carries the script (ioredis loads it once per connection); the rest send its SHA.
    expect(seen.filter((c) => c === "eval").length).toBeLessThanOrEqual(1);
    expect(seen.filter((c) => c === "evalsha").length).toBeGreaterThanOrEqual(4);
    expect(seen.slice(1).every((c) => c === "evalsha")).toBe(true);
    limiter.close();
  });

  test("takes in one tick go to Redis as one script call, each bucket answered in order", async () => {
    const r = await connect();
    const monitor = await connect();
    const calls: string[][] = [];
    const m = await monitor.monitor();
    m.on("monitor", (_time: string, args: string[]) => {
      if (String(args[0]).toLowerCase().startsWith("eval")) calls.push(args.map(String));
    });
    const prefix = `t:${crypto.randomUUID()}:`;
    const limiter = createRateLimiter({ table: table(3, 60), shared: createRedisBuckets(r, prefix), sharedTimeoutMs: 1_000 });
    await limiter.take("send", "warm"); // ioredis's first call may carry the script itself
    await Bun.sleep(50);
    calls.length = 0;
    // Five takes of one user and one of another, all started in the same tick.
    const statuses = await Promise.all([
      ...Array.from({ length: 5 }, () => outcome(limiter.take("send", "a"))),
      outcome(limiter.take("send", "b")),
    ]);
    expect(statuses).toEqual([200, 200, 200, 429, 429, 200]);
    await Bun.sleep(100);
    m.disconnect();
    expect(calls.length).toBe(1);
    expect(calls[0]![0]!.toLowerCase()).toBe("evalsha");
    expect(calls[0]![2]).toBe("6"); // six keys in the one call
    // The shared bucket counted exactly the three takes it allowed.
    expect(await outcome(limiter.take("send", "a"))).toBe(429);
    expect(await outcome(limiter.take("send", "b"))).toBe(200);
    limiter.close();
  });

  test("while Redis stalls, this process's own buckets answer (limits still hold)", async () => {
    // A server that accepts the connection and never answers: every command hangs.
    const stalled = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const r = new Redis(`redis://127.0.0.1:${stalled.port}`, { maxRetriesPerRequest: 1 });
    r.on("error", () => {});
    clients.push(r);
    const fallbacks: unknown[] = [];
    const limiter = createRateLimiter({
      table: table(3, 60),
      shared: createRedisBuckets(r, "stalled:"),
      sharedTimeoutMs: 50,
      onFallback: (err) => fallbacks.push(err),
    });
    const started = performance.now();
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push(await outcome(limiter.take("send", "u")));
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(fallbacks.length).toBe(4);
    expect(performance.now() - started).toBeLessThan(1_000);
    limiter.close();
    r.disconnect();
    stalled.stop(true);
  });
});

describe("exact limits (sliding log)", () => {
  test("at most max in any window, in Redis across two instances and in-process alike", async () => {
    const limits = limitTable({ login_failure: { max: 3, windowSeconds: 1 } }, 1);
    expect(limits.login_failure.exact).toBe(true);
    const prefix = `t:${crypto.randomUUID()}:`;
    const [r1, r2] = await Promise.all([connect(), connect()]);
    const shared = [createRedisBuckets(r1, prefix), createRedisBuckets(r2, prefix)];
    const redisPair = shared.map((s) => createRateLimiter({ table: limits, shared: s, sharedTimeoutMs: 1_000 }));
    const local = createRateLimiter({ table: limits, sharedTimeoutMs: 1_000 });
    for (const [one, two] of [redisPair, [local, local]] as const) {
      expect(await outcome(one!.take("login_failure", "a"))).toBe(200);
      await Bun.sleep(400);
      expect(await outcome(two!.take("login_failure", "a"))).toBe(200);
      expect(await outcome(one!.take("login_failure", "a"))).toBe(200);
      // Locked: peek and take both refuse, and the wait is until the oldest leaves the window (~600 ms).
      const err = await two!.peek("login_failure", "a").catch((e) => e);
      expect(err.status).toBe(429);
      expect(await outcome(one!.take("login_failure", "a"))).toBe(429);
      await Bun.sleep(650);
      // The first one left the window: exactly one slot opened.
      expect(await outcome(two!.take("login_failure", "a"))).toBe(200);
      expect(await outcome(one!.take("login_failure", "a"))).toBe(429);
    }
    for (const l of [...redisPair, local]) l.close();
  });
});

describe("limit table", () => {
  test("RATE_LIMITS overrides rows; the multiplier scales every row", () => {
    const env = parseEnv({ RATE_LIMITS: "send=60/10, reaction=5/1", RATE_LIMIT_MULTIPLIER: "2" });
    const t = limitTable(env.RATE_LIMITS, env.RATE_LIMIT_MULTIPLIER);
    expect(t.send).toEqual({ max: 120, windowSeconds: 10 });
    expect(t.reaction).toEqual({ max: 10, windowSeconds: 1 });
    expect(t.login).toEqual({ max: 60, windowSeconds: 60 });
  });

  test("a bad RATE_LIMITS stops start-up with a message naming it", () => {
    for (const bad of ["send", "send=1", "nosuch=1/1", "send=0/10", "send=1/0", "send=a/b"]) {
      expect(() => parseEnv({ RATE_LIMITS: bad })).toThrow(/RATE_LIMITS/);
    }
    expect(() => parseEnv({ RATE_LIMIT_REDIS_TIMEOUT_MS: "0" })).toThrow(/RATE_LIMIT_REDIS_TIMEOUT_MS/);
  });

  test("every mutation kind has its own row; at multiplier 1 bursts stay under 100 rooms and 300 reactions", () => {
    expect(Object.keys(DEFAULT_LIMITS).sort()).toEqual(
      ["delete", "dm_open", "edit", "login", "login_failure", "member_change", "reaction", "read", "register", "room_create", "room_join", "search", "send"].sort(),
    );
    expect(DEFAULT_LIMITS.login).toEqual({ max: 30, windowSeconds: 60 });
    expect(DEFAULT_LIMITS.login_failure).toEqual({ max: 10, windowSeconds: 900, exact: true });
  });
});

describe("limits on every mutation (HTTP, multiplier 1)", () => {
  test("one user is refused before 100 room creations and before 300 reaction toggles", async () => {
    const t = await createTestApp("postgres");
    try {
      const user = await registerUser(t);
      let created = 0;
      let refused: { status: number; headers: Headers; body: any } | undefined;
      for (let i = 0; i < 100 && !refused; i++) {
        const res = await t.call("POST", "/api/rooms", { token: user.token, body: { name: `burst ${i}` } });
        if (res.status === 201) created++;
        else refused = res;
      }
      expect(refused?.status).toBe(429);
      expect(refused!.body.error.code).toBe("rate_limited");
      expect(Number(refused!.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(created).toBeGreaterThanOrEqual(DEFAULT_LIMITS.room_create.max);
      expect(created).toBeLessThan(DEFAULT_LIMITS.room_create.max + 2);

      const room = await createRoom(t, (await registerUser(t)));
      const other = await registerUser(t);
      await t.call("POST", `/api/rooms/${room.id}/join`, { token: other.token });
      const sent = await t.call("POST", `/api/rooms/${room.id}/messages`, { token: other.token, body: { content: "hi", clientMsgId: "m1" } });
      let toggles = 0;
      let status = 200;
      for (let i = 0; i < 300 && status === 200; i++) {
        status = (await t.call("POST", `/api/messages/${sent.body.id}/reactions`, { token: other.token, body: { emoji: "👍" } })).status;
        if (status === 200) toggles++;
      }
      expect(status).toBe(429);
      // The burst, plus what refilled while it ran (two per second).
      expect(toggles).toBeGreaterThanOrEqual(DEFAULT_LIMITS.reaction.max);
      expect(toggles).toBeLessThan(DEFAULT_LIMITS.reaction.max + 20);
    } finally {
      await t.close();
    }
  }, 60_000);

  test("joins over the WebSocket spend the same bucket as over HTTP; rejoining is free", async () => {
    const { startInstances } = await import("../../test/support/test-cluster.ts");
    const { ChatClient } = await import("../../test/support/ws-client.ts");
    const { signUp, api } = await import("../../test/support/test-cluster.ts");
    const cluster = await startInstances(1, { RATE_LIMITS: "room_join=2/600,register=100/60,room_create=100/60" });
    try {
      const [inst] = cluster.instances;
      const owner = await signUp(inst!.url);
      const rooms = [];
      for (let i = 0; i < 3; i++) rooms.push((await api(inst!.url, "POST", "/api/rooms", owner.token, { name: `ws join ${i} ${Date.now()}` })).body);
      const joiner = await signUp(inst!.url);
      expect((await api(inst!.url, "POST", `/api/rooms/${rooms[0].id}/join`, joiner.token)).status).toBe(200);
      const c = await ChatClient.connect(inst!.url, joiner.token);
      try {
        expect((await c.request("join_room", { roomId: rooms[0].id })).event).toBe("joined");
        expect((await c.request("join_room", { roomId: rooms[1].id })).event).toBe("joined");
        const refused = await c.request("join_room", { roomId: rooms[2].id });
        expect(refused.event).toBe("error");
        expect(refused.data.code).toBe("rate_limited");
        // Already a member: a rejoin (every reconnect does one) still works.
        expect((await c.request("join_room", { roomId: rooms[1].id })).event).toBe("joined");
      } finally {
        c.close();
      }
    } finally {
      await cluster.stop();
    }
  }, 30_000);

  test("each kind has its own bucket: refused edits do not stop reads of markers", async () => {
    const t = await createTestApp("postgres", { RATE_LIMITS: "edit=2/60,search=1/60,room_join=1/60,dm_open=1/60" });
    try {
      const user = await registerUser(t);
      const room = await createRoom(t, user);
      const sent = await t.call("POST", `/api/rooms/${room.id}/messages`, { token: user.token, body: { content: "a", clientMsgId: "e1" } });
      const edits = [];
      for (let i = 0; i < 3; i++) edits.push((await t.call("PATCH", `/api/messages/${sent.body.id}`, { token: user.token, body: { content: `v${i}` } })).status);
      expect(edits).toEqual([200, 200, 429]);
      expect((await t.call("POST", `/api/rooms/${room.id}/read`, { token: user.token, body: { seq: 1 } })).status).toBe(204);
      const searches = [];
      for (let i = 0; i < 2; i++) searches.push((await t.call("GET", `/api/search?q=a`, { token: user.token })).status);
      expect(searches).toEqual([200, 429]);
      const other = await registerUser(t);
      const second = await createRoom(t, user);
      const joins = [];
      for (const r of [room, room, second]) joins.push((await t.call("POST", `/api/rooms/${r.id}/join`, { token: other.token })).status);
      // Joining again a room one belongs to spends nothing; a new membership does.
      expect(joins).toEqual([200, 200, 429]);
      const dms = [];
      for (let i = 0; i < 2; i++) dms.push((await t.call("POST", `/api/dms`, { token: other.token, body: { userId: user.id } })).status);
      expect(dms[0]).toBeLessThan(300);
      expect(dms[1]).toBe(429);
    } finally {
      await t.close();
    }
  }, 30_000);
});

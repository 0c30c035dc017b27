// Two app instances sharing one Postgres database and one Redis prefix: what one
// writes, the other's cache must show at once.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createApp } from "../app.ts";
import { createCapabilities } from "../capabilities.ts";
import { loadEnv } from "../env.ts";
import { createDomainEvents } from "../events.ts";
import { createLogger } from "../log.ts";
import { createMetrics } from "../metrics/registry.ts";
import { openStores } from "../stores.ts";
import { addMember, createRoom, joinRoom, post } from "../../test/support/chat.ts";
import { createTestApp, registerUser, serverEnv, type TestApp } from "../../test/support/test-app.ts";

let one: TestApp;
let two: TestApp;

beforeAll(async () => {
  one = await createTestApp("postgres", { RATE_LIMIT_MULTIPLIER: "100" });
  two = await createTestApp("postgres", { DATABASE_URL: one.env.DATABASE_URL!, RATE_LIMIT_MULTIPLIER: "100" }, { redisPrefix: one.redisPrefix });
}, 30_000);
afterAll(async () => {
  await Promise.all([one?.close(), two?.close()]);
});

const get = (t: TestApp, path: string, token: string, headers: Record<string, string> = {}) => t.call("GET", path, { token, headers });

describe("response cache across two instances", () => {
  test("room, members, newest history page and room list: MISS, HIT, then a write through the other instance shows at once", async () => {
    const owner = await registerUser(one);
    const joiner = await registerUser(one);
    const room = await createRoom(one, owner);
    const paths = [
      `/api/rooms/${room.id}`,
      `/api/rooms/${room.slug}`,
      `/api/rooms/${room.id}/members`,
      `/api/rooms/${room.id}/messages`,
      `/api/rooms?limit=100`,
    ];
    for (const path of paths) {
      const first = await get(one, path, owner.token);
      expect(first.status).toBe(200);
      // By slug, the same entry as by id (cached just before).
      expect(first.headers.get("x-cache")).toBe(path.endsWith(room.slug) ? "HIT" : "MISS");
      expect(first.headers.get("cache-control")).toBe("private, no-cache");
      expect(first.headers.get("etag")).toMatch(/^"[0-9a-z]+"$/);
      const second = await get(two, path, owner.token);
      expect(second.headers.get("x-cache")).toBe("HIT");
      expect(second.body).toEqual(first.body);
      expect(second.headers.get("etag")).toBe(first.headers.get("etag"));
    }

    // Writes through instance two; instance one answers with them on the next request.
    await joinRoom(two, joiner, room);
    const sent = await post(two, joiner, room, "fresh");
    // One after the other: by slug, the entry just recomputed by id (run at once, which of the
    // two computes first is a race, and the other may hit the fresh entry).
    const fresh = [];
    for (const path of paths) fresh.push(await get(one, path, owner.token));
    fresh.forEach((res, i) => expect(res.headers.get("x-cache")).toBe(paths[i]!.endsWith(room.slug) ? "HIT" : "MISS"));
    expect(fresh[0]!.body).toMatchObject({ memberCount: 2, lastSeq: 1, unreadCount: 1 });
    expect(fresh[1]!.body).toMatchObject({ memberCount: 2, lastSeq: 1 });
    expect(fresh[2]!.body.data.map((m: { id: string }) => m.id).sort()).toEqual([owner.id, joiner.id].sort());
    expect(fresh[3]!.body.data.map((m: { id: string }) => m.id)).toEqual([sent.id]);
    expect(fresh[4]!.body.data.find((r: { id: string }) => r.id === room.id)).toMatchObject({ memberCount: 2, lastSeq: 1, unreadCount: 1 });

    // An edit and a reaction take new values too.
    const edited = await two.call("PATCH", `/api/messages/${sent.id}`, { token: joiner.token, body: { content: "edited" } });
    expect(edited.status).toBe(200);
    const history = await get(one, `/api/rooms/${room.id}/messages`, owner.token);
    expect(history.headers.get("x-cache")).toBe("MISS");
    expect(history.body.data[0].content).toBe("edited");
    const again = await get(two, `/api/rooms/${room.id}/messages`, owner.token);
    expect(again.headers.get("x-cache")).toBe("HIT");
    expect(again.body.data[0].content).toBe("edited");
  });

  test("304 on a matching If-None-Match, 200 with a new ETag after a change", async () => {
    const owner = await registerUser(one);
    const room = await createRoom(one, owner);
    for (const path of [`/api/rooms/${room.id}`, `/api/rooms/${room.id}/messages`, `/api/rooms/${room.id}/members`, "/api/rooms"]) {
      const first = await get(one, path, owner.token);
      const etag = first.headers.get("etag")!;
      const revalidated = await get(two, path, owner.token, { "if-none-match": etag });
      expect(revalidated.status).toBe(304);
      expect(revalidated.body).toBeNull();
      expect(revalidated.headers.get("etag")).toBe(etag);
      expect((await get(two, path, owner.token, { "if-none-match": `W/${etag}, "other"` })).status).toBe(304);
      expect((await get(two, path, owner.token, { "if-none-match": '"stale"' })).status).toBe(200);
    }
    const before = (await get(one, `/api/rooms/${room.id}/messages`, owner.token)).headers.get("etag")!;
    await post(two, owner, room, "new");
    const after = await get(one, `/api/rooms/${room.id}/messages`, owner.token, { "if-none-match": before });
    expect(after.status).toBe(200);
    expect(after.headers.get("etag")).not.toBe(before);
    expect(after.body.data).toHaveLength(1);
  });

  test("a cached private room answers 404 to a non-member, on a hit and on a 304 attempt", async () => {
    const owner = await registerUser(one);
    const outsider = await registerUser(one);
    const room = await createRoom(one, owner, { isPrivate: true });
    for (const path of [`/api/rooms/${room.id}`, `/api/rooms/${room.slug}`, `/api/rooms/${room.id}/members`, `/api/rooms/${room.id}/messages`]) {
      const warm = await get(one, path, owner.token);
      expect(warm.status).toBe(200);
      expect((await get(one, path, owner.token)).headers.get("x-cache")).toBe("HIT");
      const denied = await get(two, path, outsider.token, { "if-none-match": warm.headers.get("etag")! });
      expect(denied.status).toBe(404);
      expect(denied.body.error.code).toBe("not_found");
    }
    expect((await get(two, "/api/rooms?limit=100", outsider.token)).body.data.some((r: { id: string }) => r.id === room.id)).toBe(false);
    // Added by the owner through the other instance: visible at once.
    await addMember(two, owner, room, outsider);
    expect((await get(one, `/api/rooms/${room.id}/messages`, outsider.token)).status).toBe(200);
    expect((await get(one, "/api/rooms?limit=100", outsider.token)).body.data.some((r: { id: string }) => r.id === room.id)).toBe(true);
    // And removed: hidden at once, though the history page is still cached.
    expect((await two.call("DELETE", `/api/rooms/${room.id}/members/${outsider.id}`, { token: owner.token })).status).toBe(204);
    expect((await get(one, `/api/rooms/${room.id}/messages`, outsider.token)).status).toBe(404);
  });

  test("one user never sees another's cached unread counts", async () => {
    const author = await registerUser(one);
    const reader = await registerUser(one);
    const idle = await registerUser(one);
    const room = await createRoom(one, author);
    await joinRoom(one, reader, room);
    await joinRoom(one, idle, room);
    await post(one, author, room, "one");
    await post(one, author, room, "two");
    const unread = async (t: TestApp, token: string) => {
      const single = await get(t, `/api/rooms/${room.id}`, token);
      const list = await get(t, "/api/rooms?limit=100", token);
      return [single.body.unreadCount, list.body.data.find((r: { id: string }) => r.id === room.id).unreadCount];
    };
    expect(await unread(one, reader.token)).toEqual([2, 2]);
    expect(await unread(one, idle.token)).toEqual([2, 2]);
    // The reader reads through the other instance; only their counts change.
    expect((await two.call("POST", `/api/rooms/${room.id}/read`, { token: reader.token, body: { seq: 2 } })).status).toBe(204);
    expect(await unread(one, reader.token)).toEqual([0, 0]);
    const idleAgain = await get(one, `/api/rooms/${room.id}`, idle.token);
    expect(idleAgain.headers.get("x-cache")).toBe("HIT");
    expect(idleAgain.body.unreadCount).toBe(2);
    expect(await unread(two, idle.token)).toEqual([2, 2]);
    expect(await unread(two, author.token)).toEqual([0, 0]);
    // A non-member of a public room gets no unreadCount at all, cached or not.
    const stranger = await registerUser(one);
    for (let i = 0; i < 2; i++) expect((await get(two, `/api/rooms/${room.id}`, stranger.token)).body.unreadCount).toBeUndefined();
  });

  test("room list: a message changes lastSeq for everyone at once, answered from the cache where no unread count changed", async () => {
    const author = await registerUser(one);
    const member = await registerUser(one);
    const stranger = await registerUser(one);
    const room = await createRoom(one, author);
    await joinRoom(one, member, room);
    const find = (res: { body: any }) => res.body.data.find((r: { id: string }) => r.id === room.id);
    for (const u of [member, stranger]) await get(one, "/api/rooms?limit=100", u.token);
    await post(two, author, room, "hello");
    // Not a member: lastSeq comes from the room's counter, nothing else changed.
    const strangers = await get(one, "/api/rooms?limit=100", stranger.token);
    expect(strangers.headers.get("x-cache")).toBe("HIT");
    expect(find(strangers)).toMatchObject({ lastSeq: 1, memberCount: 2 });
    expect(find(strangers).unreadCount).toBeUndefined();
    // A member: only that room's unread count is counted again.
    const members = await get(one, "/api/rooms?limit=100", member.token);
    expect(members.headers.get("x-cache")).toBe("MISS");
    expect(find(members)).toMatchObject({ lastSeq: 1, unreadCount: 1 });
    const again = await get(two, "/api/rooms?limit=100", member.token, { "if-none-match": members.headers.get("etag")! });
    expect(again.status).toBe(304);
    expect((await get(two, "/api/rooms?limit=100", member.token)).headers.get("x-cache")).toBe("HIT");
    // An edit takes a counter value too: lastSeq 2, unread unchanged.
    const [msg] = (await get(one, `/api/rooms/${room.id}/messages`, author.token)).body.data;
    await two.call("PATCH", `/api/messages/${msg.id}`, { token: author.token, body: { content: "hello!" } });
    expect(find(await get(one, "/api/rooms?limit=100", member.token))).toMatchObject({ lastSeq: 2, unreadCount: 1 });
    // A deletion removes it from the unread count.
    await two.call("DELETE", `/api/messages/${msg.id}`, { token: author.token });
    expect(find(await get(one, "/api/rooms?limit=100", member.token))).toMatchObject({ lastSeq: 3, unreadCount: 0 });
  });

  test("a new room shows in everyone's room list at once", async () => {
    const a = await registerUser(one);
    const b = await registerUser(one);
    await get(one, "/api/rooms?limit=100", b.token);
    expect((await get(one, "/api/rooms?limit=100", b.token)).headers.get("x-cache")).toBe("HIT");
    const room = await createRoom(two, a);
    const list = await get(one, "/api/rooms?limit=100", b.token);
    expect(list.headers.get("x-cache")).toBe("MISS");
    expect(list.body.data.some((r: { id: string }) => r.id === room.id)).toBe(true);
  });

  test("history with a cursor is not cached; bad query values still get 400", async () => {
    const owner = await registerUser(one);
    const room = await createRoom(one, owner);
    await post(one, owner, room, "x");
    expect((await get(one, `/api/rooms/${room.id}/messages?before=5`, owner.token)).headers.get("x-cache")).toBeNull();
    expect((await get(one, `/api/rooms/${room.id}/messages?limit=0`, owner.token)).status).toBe(400);
    expect((await get(one, `/api/rooms?limit=abc`, owner.token)).status).toBe(400);
    expect((await get(one, `/api/rooms/${room.id}/members?cursor=${"x".repeat(300)}`, owner.token)).status).toBe(400);
    expect((await get(one, `/api/rooms/no-such-room-${Date.now()}`, owner.token)).status).toBe(404);
  });
});

describe("single flight and outages", () => {
  test("concurrent misses for one key compute once per instance", async () => {
    const env = loadEnv({ DATABASE_URL: one.env.DATABASE_URL, REDIS_URL: serverEnv().REDIS_URL, LOG_LEVEL: "silent", RATE_LIMIT_MULTIPLIER: "100" });
    const stores = await openStores(env, { redisPrefix: one.redisPrefix });
    const events = createDomainEvents((err) => {
      throw err;
    });
    const capabilities = createCapabilities({ env, events, ...stores });
    let computed = 0;
    const realMembers = capabilities.rooms.members;
    capabilities.rooms.members = async (...args) => {
      computed++;
      await Bun.sleep(50);
      return realMembers(...args);
    };
    const app = createApp({ env, instanceId: "sf", log: createLogger("silent"), metrics: createMetrics("sf"), state: { ready: true, draining: false }, events, capabilities, ...stores });
    try {
      const owner = await registerUser(one);
      const room = await createRoom(one, owner);
      const answers = await Promise.all(
        Array.from({ length: 20 }, () => app.request(`/api/rooms/${room.id}/members`, { headers: { authorization: `Bearer ${owner.token}` } })),
      );
      expect(answers.every((r) => r.status === 200)).toBe(true);
      expect(answers.every((r) => r.headers.get("x-cache") === "MISS")).toBe(true);
      expect(computed).toBe(1);
      const bodies = await Promise.all(answers.map((r) => r.json()));
      expect(new Set(bodies.map((b) => JSON.stringify(b))).size).toBe(1);
    } finally {
      await stores.close();
    }
  });

  test("REDIS_URL set but Redis unreachable: every GET goes to Postgres (no copy in this process)", async () => {
    const dead = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = dead.port;
    dead.stop(true); // nothing listens there now
    const t = await createTestApp("postgres", { DATABASE_URL: one.env.DATABASE_URL!, REDIS_URL: `redis://127.0.0.1:${port}`, RATE_LIMIT_MULTIPLIER: "100" });
    try {
      const owner = await registerUser(one);
      const room = await createRoom(one, owner);
      for (let i = 0; i < 3; i++) {
        const res = await get(t, `/api/rooms/${room.id}`, owner.token);
        expect(res.status).toBe(200);
        expect(res.headers.get("x-cache")).toBe("MISS");
        expect(res.headers.get("etag")).toBeNull();
      }
      await post(one, owner, room, "seen at once");
      expect((await get(t, `/api/rooms/${room.id}`, owner.token)).body.lastSeq).toBe(1);
      const outsider = await registerUser(one);
      const priv = await createRoom(one, owner, { isPrivate: true });
      expect((await get(t, `/api/rooms/${priv.id}/messages`, outsider.token)).status).toBe(404);
    } finally {
      await t.close();
    }
  }, 30_000);

  test("RESPONSE_CACHE=off: every GET is computed, no ETag, and reads still see writes", async () => {
    const t = await createTestApp("postgres", { DATABASE_URL: one.env.DATABASE_URL!, RESPONSE_CACHE: "off", RATE_LIMIT_MULTIPLIER: "100" }, { redisPrefix: one.redisPrefix });
    try {
      const owner = await registerUser(one);
      const room = await createRoom(one, owner);
      for (let i = 0; i < 2; i++) {
        const res = await get(t, `/api/rooms/${room.id}/messages`, owner.token);
        expect(res.headers.get("x-cache")).toBe("MISS");
        expect(res.headers.get("etag")).toBeNull();
      }
    } finally {
      await t.close();
    }
  });

  test("without REDIS_URL the cache is in-process: MISS then HIT, and writes invalidate", async () => {
    const t = await createTestApp("pglite", { RATE_LIMIT_MULTIPLIER: "100" });
    try {
      const owner = await registerUser(t);
      const room = await createRoom(t, owner);
      expect((await get(t, `/api/rooms/${room.id}`, owner.token)).headers.get("x-cache")).toBe("MISS");
      expect((await get(t, `/api/rooms/${room.id}`, owner.token)).headers.get("x-cache")).toBe("HIT");
      await post(t, owner, room, "x");
      const after = await get(t, `/api/rooms/${room.id}`, owner.token);
      expect(after.headers.get("x-cache")).toBe("MISS");
      expect(after.body.lastSeq).toBe(1);
    } finally {
      await t.close();
    }
  }, 30_000);
});

describe("versions", () => {
  test("a bump that cannot reach Redis retires every entry (epoch) once Redis answers again", async () => {
    const { default: Redis } = await import("ioredis");
    const { createRedisCache } = await import("./cache-redis.ts");
    const { createResponseCache } = await import("./response-cache.ts");
    const redis = new Redis(serverEnv().REDIS_URL!, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    redis.on("error", () => {});
    await new Promise((resolve) => redis.once("ready", resolve));
    const errors: unknown[] = [];
    const rc = createResponseCache({
      cache: createRedisCache(redis, `t:${crypto.randomUUID()}:`),
      ttlSeconds: 60,
      timeoutMs: 500,
      onError: (err) => errors.push(err),
    });
    try {
      const before = await rc.stamp(["room:r:e"]);
      expect(before).toEqual(["0", "0"]);
      rc.onDomainEvent({ type: "room.event", event: { kind: "new_message", roomId: "r", seq: 7, message: {} as never } });
      await rc.settled();
      expect(await rc.stamp(["room:r:e"])).toEqual(["0", "7"]);
      // Redis unreachable: the raise fails, and entries keyed by 0.7 would look current later.
      redis.disconnect();
      rc.onDomainEvent({ type: "room.event", event: { kind: "new_message", roomId: "r", seq: 8, message: {} as never } });
      await rc.settled();
      expect(errors.length).toBe(1);
      await expect(rc.stamp(["room:r:e"])).rejects.toThrow();
      while (redis.status !== "end") await Bun.sleep(10);
      await redis.connect();
      // The next read pays the owed epoch first: every key changes.
      expect(await rc.stamp(["room:r:e"])).toEqual(["1", "7"]);
      // Raised, never lowered: a late, lower value changes nothing.
      rc.onDomainEvent({ type: "room.event", event: { kind: "new_message", roomId: "r", seq: 5, message: {} as never } });
      await rc.settled();
      expect(await rc.stamp(["room:r:e"])).toEqual(["1", "7"]);
    } finally {
      rc.close();
      redis.disconnect();
    }
  });
});

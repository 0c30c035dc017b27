// GET /api/rooms?mine=true: the rooms list of the PWA.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { api, signUp, startInstances } from "../../test/support/test-cluster.ts";

let cluster: Awaited<ReturnType<typeof startInstances>>;
let A: string;

beforeAll(async () => {
  cluster = await startInstances(1, { RATE_LIMIT_MULTIPLIER: "100" });
  A = cluster.instances[0]!.url;
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

describe("GET /api/rooms?mine=true", () => {
  test("mine=true lists only my rooms, with unreadCount, lastActivityAt and lastReadSeq", async () => {
    const me = await signUp(A, "mine");
    const other = await signUp(A, "mine");
    const mineRoom = (await api(A, "POST", "/api/rooms", other.token, { name: `m ${Date.now()}` })).body;
    await api(A, "POST", `/api/rooms/${mineRoom.id}/join`, me.token);
    const quiet = (await api(A, "POST", "/api/rooms", me.token, { name: `q ${Date.now()}` })).body;
    await api(A, "POST", "/api/rooms", other.token, { name: `not mine ${Date.now()}` });
    const posted = (await api(A, "POST", `/api/rooms/${mineRoom.id}/messages`, other.token, { content: "hi", clientMsgId: "mine-1" })).body;
    await api(A, "POST", `/api/rooms/${mineRoom.id}/messages`, other.token, { content: "hi again", clientMsgId: "mine-2" });
    await api(A, "POST", `/api/rooms/${mineRoom.id}/read`, me.token, { seq: 1 });

    const res = await api(A, "GET", "/api/rooms?mine=true", me.token);
    expect(res.status).toBe(200);
    const ids = res.body.data.map((r: { id: string }) => r.id).sort();
    // Every account is a member of general from its registration.
    const general = res.body.data.find((r: { slug: string }) => r.slug === "general");
    expect(ids).toEqual([mineRoom.id, quiet.id, general.id].sort());
    const active = res.body.data.find((r: { id: string }) => r.id === mineRoom.id);
    expect(active).toMatchObject({ unreadCount: 1, lastReadSeq: 1, lastSeq: 2 });
    expect(new Date(active.lastActivityAt).getTime()).toBeGreaterThanOrEqual(new Date(posted.createdAt).getTime());
    expect(res.body.data.find((r: { id: string }) => r.id === quiet.id)).toMatchObject({ lastActivityAt: null, unreadCount: 0, lastReadSeq: 0 });

    const page = await api(A, "GET", "/api/rooms?mine=true&limit=1", me.token);
    expect(page.body.data).toHaveLength(1);
    const next = await api(A, "GET", `/api/rooms?mine=true&limit=1&cursor=${page.body.nextCursor}`, me.token);
    expect(next.body.data).toHaveLength(1);
    expect(next.body.data[0].id).not.toBe(page.body.data[0].id);
    expect((await api(A, "GET", "/api/rooms?mine=yes", me.token)).status).toBe(400);
  });
});

describe("GET /api/rooms?mine=true through the response cache", () => {
  const get = (token: string, etag?: string) =>
    fetch(`${A}/api/rooms?mine=true`, { headers: { authorization: `Bearer ${token}`, ...(etag ? { "if-none-match": etag } : {}) } });
  const read = async (res: Response) => ({ cache: res.headers.get("x-cache"), etag: res.headers.get("etag")!, body: await res.json() });
  const room = (body: { data: Room[] }, id: string) => body.data.find((r) => r.id === id);
  type Room = { id: string; unreadCount?: number; memberCount: number; lastReadSeq?: number; lastSeq: number };

  test("per user: HIT and 304 while nothing changed; a message, a read marker, a join and another member each show at once", async () => {
    const me = await signUp(A, "minec");
    const other = await signUp(A, "minec");
    const shared = (await api(A, "POST", "/api/rooms", other.token, { name: `mc ${Date.now()}` })).body;
    await api(A, "POST", `/api/rooms/${shared.id}/join`, me.token);

    const first = await read(await get(me.token));
    expect(first.cache).toBe("MISS");
    expect(room(first.body, shared.id)).toMatchObject({ unreadCount: 0, memberCount: 2 });
    const again = await get(me.token);
    expect(again.headers.get("x-cache")).toBe("HIT");
    expect(again.headers.get("cache-control")).toBe("private, no-cache");
    expect(await again.json()).toEqual(first.body);
    const revalidated = await get(me.token, first.etag);
    expect(revalidated.status).toBe(304);
    // The other member's view of the same room is their own entry: no unread of mine, no sharing.
    const theirs = await read(await get(other.token));
    expect(theirs.cache).toBe("MISS");
    expect(theirs.etag).not.toBe(first.etag);

    await api(A, "POST", `/api/rooms/${shared.id}/messages`, other.token, { content: "new", clientMsgId: "minec-1" });
    const afterMessage = await read(await get(me.token, first.etag));
    expect(afterMessage.cache).toBe("MISS");
    expect(room(afterMessage.body, shared.id)).toMatchObject({ unreadCount: 1, lastSeq: 1, lastReadSeq: 0 });
    expect((await get(me.token)).headers.get("x-cache")).toBe("HIT");

    await api(A, "POST", `/api/rooms/${shared.id}/read`, me.token, { seq: 1 });
    const afterRead = await read(await get(me.token));
    expect(afterRead.cache).toBe("MISS");
    expect(room(afterRead.body, shared.id)).toMatchObject({ unreadCount: 0, lastReadSeq: 1 });

    const third = await signUp(A, "minec");
    await api(A, "POST", `/api/rooms/${shared.id}/join`, third.token);
    const afterJoin = await read(await get(me.token));
    expect(afterJoin.cache).toBe("MISS");
    expect(room(afterJoin.body, shared.id)!.memberCount).toBe(3);

    const created = (await api(A, "POST", "/api/rooms", me.token, { name: `mc2 ${Date.now()}` })).body;
    const afterCreate = await read(await get(me.token));
    expect(room(afterCreate.body, created.id)).toBeDefined();
    await api(A, "POST", `/api/rooms/${shared.id}/leave`, me.token);
    const afterLeave = await read(await get(me.token));
    expect(room(afterLeave.body, shared.id)).toBeUndefined();
  });
});

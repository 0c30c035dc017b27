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
    expect(ids).toEqual([mineRoom.id, quiet.id].sort());
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

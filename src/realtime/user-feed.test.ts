// Per-user frames across two real instances (Postgres + Redis from the test runner):
// a user's sockets hear about their rooms without joining them.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { api, signUp, startInstances } from "../../test/support/test-cluster.ts";
import { ChatClient } from "../../test/support/ws-client.ts";

let cluster: Awaited<ReturnType<typeof startInstances>>;
let A: string;
let B: string;

beforeAll(async () => {
  cluster = await startInstances(2, { RATE_LIMIT_MULTIPLIER: "100" });
  [A, B] = cluster.instances.map((i) => i.url) as [string, string];
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

describe("user feed", () => {
  test("room_activity reaches every socket of a member on every instance, without joining, coalesced per second", async () => {
    const owner = await signUp(A, "feed");
    const reader = await signUp(A, "feed");
    const room = (await api(A, "POST", "/api/rooms", owner.token, { name: `feed ${Date.now()}` })).body;
    await api(A, "POST", `/api/rooms/${room.id}/join`, reader.token);
    const tabOnA = await ChatClient.connect(A, reader.token);
    const tabOnB = await ChatClient.connect(B, reader.token);
    await Bun.sleep(300); // memberships of the new sockets are read

    const started = Date.now();
    for (let i = 0; i < 5; i++) {
      await api(A, "POST", `/api/rooms/${room.id}/messages`, owner.token, { content: `m${i}`, clientMsgId: `feed-${i}` });
    }
    for (const tab of [tabOnA, tabOnB]) {
      const last = await tab.waitFor((f) => f.event === "room_activity" && f.data.lastSeq === 5, 5_000);
      expect(last.data).toEqual({ roomId: room.id, lastSeq: 5, lastActivityAt: expect.any(String) });
      const activity = tab.frames.filter((f) => f.event === "room_activity");
      // Five messages in well under a second: the first at once, the rest as one more.
      expect(activity.length).toBeLessThanOrEqual(Math.ceil((Date.now() - started) / 1000) + 1);
      expect(activity.length).toBeLessThan(5);
      expect(tab.frames.some((f) => f.event === "new_message")).toBe(false);
    }
    tabOnA.close();
    tabOnB.close();
  }, 20_000);

  test("a non-member hears nothing; membership_added and membership_removed follow invites and removals", async () => {
    const owner = await signUp(A, "feed");
    const guest = await signUp(A, "feed");
    const room = (await api(A, "POST", "/api/rooms", owner.token, { name: `private ${Date.now()}`, isPrivate: true })).body;
    const guestTab = await ChatClient.connect(B, guest.token);
    await Bun.sleep(300);
    await api(A, "POST", `/api/rooms/${room.id}/messages`, owner.token, { content: "secret", clientMsgId: "secret-1" });
    await Bun.sleep(500);
    expect(guestTab.frames.filter((f) => f.event === "room_activity")).toEqual([]);

    expect((await api(A, "POST", `/api/rooms/${room.id}/members`, owner.token, { userId: guest.id })).status).toBe(201);
    const added = await guestTab.waitFor((f) => f.event === "membership_added", 5_000);
    expect(added.data.room).toMatchObject({ id: room.id, isPrivate: true, unreadCount: 1, lastReadSeq: 0, lastSeq: 1 });
    await api(A, "POST", `/api/rooms/${room.id}/messages`, owner.token, { content: "welcome", clientMsgId: "secret-2" });
    await guestTab.waitFor((f) => f.event === "room_activity" && f.data.roomId === room.id, 5_000);

    expect((await api(A, "DELETE", `/api/rooms/${room.id}/members/${guest.id}`, owner.token)).status).toBe(204);
    const removed = await guestTab.waitFor((f) => f.event === "membership_removed", 5_000);
    expect(removed.data).toEqual({ roomId: room.id });
    guestTab.close();
  }, 20_000);
});

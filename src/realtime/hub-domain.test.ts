// The hub's re-checks ask Postgres about everything open at once: one IN-list past 65,535
// bind parameters would fail; they bind arrays instead.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createRoom, joinRoom, post } from "../../test/support/chat.ts";
import { capabilitiesOf, createTestApp, registerUser, type TestApp } from "../../test/support/test-app.ts";
import { createHubDomain, type HubDomain } from "./hub-domain.ts";

let t: TestApp;
let domain: HubDomain;
beforeAll(async () => {
  t = await createTestApp("postgres");
  domain = createHubDomain(t.stores.database, capabilitiesOf(t).messages);
});
afterAll(() => t?.close());

const MANY = 70_000; // over Postgres's 65,535 parameters in one statement
const uuids = (n: number) => Array.from({ length: n }, () => crypto.randomUUID());

test("roomStates, memberships and endedSessions answer for 70,000 ids, the real ones among them", async () => {
  const user = await registerUser(t);
  const room = await createRoom(t, user);
  const roomIds = [...uuids(MANY), room.id];
  const states = await domain.roomStates(roomIds);
  expect([...states.keys()]).toEqual([room.id]);
  expect(states.get(room.id)).toEqual({ lastSeq: 0, memberRemovals: 0 });

  const pairs = [...uuids(MANY).map((userId) => ({ roomId: room.id, userId })), { roomId: room.id, userId: user.id }];
  expect(await domain.memberships(pairs)).toEqual([{ roomId: room.id, userId: user.id }]);

  const me = await t.call("GET", "/api/me", { token: user.token });
  expect(me.status).toBe(200);
  expect(await domain.endedSessions(uuids(MANY))).toEqual([]);
}, 30_000);

test("memberRemovals moves with every member who leaves or is removed, and with nothing else", async () => {
  const [owner, a, b] = await Promise.all([registerUser(t), registerUser(t), registerUser(t)]);
  const room = await createRoom(t, owner);
  const removals = async () => (await domain.roomStates([room.id])).get(room.id)!.memberRemovals;
  await joinRoom(t, a, room);
  await joinRoom(t, b, room);
  await post(t, a, room, "hello");
  expect(await domain.roomStates([room.id])).toEqual(new Map([[room.id, { lastSeq: 1, memberRemovals: 0 }]]));

  expect((await t.call("POST", `/api/rooms/${room.id}/leave`, { token: a.token })).status).toBe(204);
  expect(await removals()).toBe(1);
  expect((await t.call("DELETE", `/api/rooms/${room.id}/members/${b.id}`, { token: owner.token })).status).toBe(204);
  expect(await removals()).toBe(2);
  // Joining again adds a member and removes none.
  await joinRoom(t, a, room);
  expect(await removals()).toBe(2);
});

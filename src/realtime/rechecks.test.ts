// The once-a-second room re-check against the suite's real Postgres: a member whose removal
// message never came leaves within one check, and a room where nobody was removed costs no
// membership query once its users are confirmed. The open rooms and their sockets are plain
// objects of the shape the hub keeps (rooms, sockets, each socket's user).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createRoom, joinRoom, type TestUser } from "../../test/support/chat.ts";
import { capabilitiesOf, createTestApp, registerUser, type TestApp } from "../../test/support/test-app.ts";
import { createHubDomain, type HubDomain } from "./hub-domain.ts";
import type { RealtimeMetrics } from "./metrics.ts";
import { createRechecks } from "./rechecks.ts";
import type { RoomTopics } from "./room-topics.ts";
import type { SessionSockets } from "./session-sockets.ts";

let t: TestApp;
let domain: HubDomain;
beforeAll(async () => {
  t = await createTestApp("postgres");
  domain = createHubDomain(t.stores.database, capabilitiesOf(t).messages);
});
afterAll(() => t?.close());

interface OpenRoom {
  id: string;
  sockets: Set<{ data: { user: { id: string } } }>;
  sequencer: { lastReleased: number; catchUp(): Promise<void> };
}

function setUp() {
  const open = new Map<string, OpenRoom>();
  const asked: { roomId: string; userId: string }[][] = [];
  const dropped: string[] = [];
  const counting: HubDomain = {
    ...domain,
    memberships: (pairs) => (asked.push(pairs), domain.memberships(pairs)),
  };
  const rooms = { get: (id: string) => open.get(id), all: () => open.values() } as unknown as RoomTopics;
  const metrics = { reconciled: { inc() {} } } as unknown as RealtimeMetrics;
  const sessions = { sessionIds: () => [], close() {} } as unknown as SessionSockets;
  const rechecks = createRechecks({
    rooms,
    sessions,
    domain: counting,
    metrics,
    dropUserFromRoom(roomId, userId) {
      dropped.push(userId);
      const room = open.get(roomId)!;
      for (const ws of [...room.sockets]) if (ws.data.user.id === userId) room.sockets.delete(ws);
    },
  });
  const openRoom = (id: string, users: TestUser[]) => {
    const room: OpenRoom = { id, sockets: new Set(users.map((u) => ({ data: { user: { id: u.id } } }))), sequencer: { lastReleased: 0, catchUp: async () => {} } };
    open.set(id, room);
    return room;
  };
  return { rechecks, asked, dropped, openRoom };
}

test("a removed member's sockets leave at the next check; with no removal only newcomers are asked about", async () => {
  const [owner, a, b, c] = await Promise.all([registerUser(t), registerUser(t), registerUser(t), registerUser(t)]);
  const room = await createRoom(t, owner);
  for (const u of [a, b, c]) await joinRoom(t, u, room);
  const { rechecks, asked, dropped, openRoom } = setUp();
  const local = openRoom(room.id, [owner, a, b]);

  await rechecks.checkRooms();
  expect(asked.flat().map((p) => p.userId).sort()).toEqual([owner.id, a.id, b.id].sort());
  expect(dropped).toEqual([]);

  // Nothing changed: no membership query at all.
  asked.length = 0;
  await rechecks.checkRooms();
  expect(asked).toEqual([]);

  // A socket of a user new to the room: only that user is asked about.
  local.sockets.add({ data: { user: { id: c.id } } });
  await rechecks.checkRooms();
  expect(asked.flat()).toEqual([{ roomId: room.id, userId: c.id }]);

  // b is removed and the message about it never came: the count moved, so everyone is asked
  // again and b's socket leaves.
  expect((await t.call("DELETE", `/api/rooms/${room.id}/members/${b.id}`, { token: owner.token })).status).toBe(204);
  asked.length = 0;
  await rechecks.checkRooms();
  expect(asked.flat().length).toBe(4);
  expect(dropped).toEqual([b.id]);
  expect([...local.sockets].map((ws) => ws.data.user.id).sort()).toEqual([owner.id, a.id, c.id].sort());

  asked.length = 0;
  await rechecks.checkRooms();
  expect(asked).toEqual([]);
  // After the bus was away, everything is asked about again.
  await rechecks.checkRooms(true);
  expect(asked.flat().length).toBe(3);
  expect(dropped).toEqual([b.id]);
});

test("a user who left and came back between two checks is asked about again, and stays", async () => {
  const [owner, a] = await Promise.all([registerUser(t), registerUser(t)]);
  const room = await createRoom(t, owner);
  await joinRoom(t, a, room);
  const { rechecks, asked, dropped, openRoom } = setUp();
  openRoom(room.id, [owner, a]);
  await rechecks.checkRooms();
  expect((await t.call("POST", `/api/rooms/${room.id}/leave`, { token: a.token })).status).toBe(204);
  await joinRoom(t, a, room);
  asked.length = 0;
  await rechecks.checkRooms();
  expect(asked.flat().length).toBe(2);
  expect(dropped).toEqual([]);
});

test("a room gone from Postgres loses every local socket", async () => {
  const owner = await registerUser(t);
  const { rechecks, dropped, openRoom } = setUp();
  openRoom(crypto.randomUUID(), [owner]);
  await rechecks.checkRooms();
  expect(dropped).toEqual([owner.id]);
});

// The hub's re-checks ask Postgres about everything open at once: one IN-list past 65,535
// bind parameters would fail; they bind arrays instead.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createCapabilities } from "../capabilities.ts";
import { createRoom } from "../../test/support/chat.ts";
import { createTestApp, registerUser, type TestApp } from "../../test/support/test-app.ts";
import { createHubDomain, type HubDomain } from "./hub-domain.ts";

let t: TestApp;
let domain: HubDomain;
beforeAll(async () => {
  t = await createTestApp("postgres");
  domain = createHubDomain(t.stores.database, createCapabilities({ env: t.env, events: t.events, ...t.stores }).messages);
});
afterAll(() => t?.close());

const MANY = 70_000; // over Postgres's 65,535 parameters in one statement
const uuids = (n: number) => Array.from({ length: n }, () => crypto.randomUUID());

test("lastSeqs, memberships and endedSessions answer for 70,000 ids, the real ones among them", async () => {
  const user = await registerUser(t);
  const room = await createRoom(t, user);
  const roomIds = [...uuids(MANY), room.id];
  const seqs = await domain.lastSeqs(roomIds);
  expect([...seqs.keys()]).toEqual([room.id]);

  const pairs = [...uuids(MANY).map((userId) => ({ roomId: room.id, userId })), { roomId: room.id, userId: user.id }];
  expect(await domain.memberships(pairs)).toEqual([{ roomId: room.id, userId: user.id }]);

  const me = await t.call("GET", "/api/me", { token: user.token });
  expect(me.status).toBe(200);
  expect(await domain.endedSessions(uuids(MANY))).toEqual([]);
}, 30_000);

// Rooms and messages through the HTTP API, for tests that need some to exist.
import type { Message, Room } from "../../src/protocol.ts";
import type { registerUser, TestApp } from "./test-app.ts";

export type TestUser = Awaited<ReturnType<typeof registerUser>>;

export async function createRoom(t: TestApp, user: TestUser, body: { name?: string; slug?: string; isPrivate?: boolean } = {}) {
  const res = await t.call("POST", "/api/rooms", { token: user.token, body: { name: `Room ${crypto.randomUUID().slice(0, 8)}`, ...body } });
  if (res.status !== 201) throw new Error(`create room failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as Room;
}

export async function joinRoom(t: TestApp, user: TestUser, room: Room) {
  const res = await t.call("POST", `/api/rooms/${room.id}/join`, { token: user.token });
  if (res.status !== 200) throw new Error(`join failed: ${res.status} ${JSON.stringify(res.body)}`);
}

export async function addMember(t: TestApp, by: TestUser, room: Room, user: TestUser) {
  const res = await t.call("POST", `/api/rooms/${room.id}/members`, { token: by.token, body: { userId: user.id } });
  if (res.status !== 201 && res.status !== 200) throw new Error(`add member failed: ${res.status} ${JSON.stringify(res.body)}`);
}

export async function post(t: TestApp, user: TestUser, room: Room, content: string, clientMsgId = crypto.randomUUID()) {
  const res = await t.call("POST", `/api/rooms/${room.id}/messages`, { token: user.token, body: { content, clientMsgId } });
  if (res.status !== 201) throw new Error(`post failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as Message;
}

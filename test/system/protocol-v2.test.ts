// Protocol versions on two real instances sharing Postgres and Redis: v1 (default JSON) and
// v2 (chat.v2, lean arrays) clients in the same rooms, each decoded by what the server answered.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { PROTOCOL_V1, PROTOCOL_V2 } from "../../src/protocol-v2.ts";
import { serverFrames } from "../../src/protocol.ts";
import { api, signUp, startInstances } from "../support/test-cluster.ts";
import { ChatClient } from "../support/ws-client.ts";

let cluster: Awaited<ReturnType<typeof startInstances>>;
let A: string;
let B: string;
const clients: ChatClient[] = [];
const REPLAY_MAX = 20;

beforeAll(async () => {
  cluster = await startInstances(2, { RATE_LIMIT_MULTIPLIER: "50", WS_REPLAY_MAX: String(REPLAY_MAX) });
  [A, B] = cluster.instances.map((i) => i.url) as [string, string];
});
afterAll(async () => {
  for (const c of clients) c.close();
  await cluster?.stop();
});

async function connect(url: string, token: string, protocols?: string[]) {
  const c = await ChatClient.connect(url, token, undefined, protocols);
  clients.push(c);
  return c;
}
const v2 = (url: string, token: string) => connect(url, token, [PROTOCOL_V2]);

async function newRoom(token: string) {
  const res = await api(A, "POST", "/api/rooms", token, { name: `v2 ${Math.random().toString(36).slice(2, 8)}` });
  expect(res.status).toBe(201);
  return res.body as { id: string; slug: string };
}

const postMessage = async (token: string, roomId: string, content: string) => {
  const res = await api(B, "POST", `/api/rooms/${roomId}/messages`, token, { content, clientMsgId: `h-${Math.random().toString(36).slice(2)}` });
  expect(res.status).toBe(201);
  return res.body as { id: string; seq: number };
};

/** Every raw v2 frame is a JSON array whose first element names the frame. */
const allArrays = (c: ChatClient) => c.raw.every((t) => t.startsWith("[") && Array.isArray(JSON.parse(t)));

describe("negotiation", () => {
  test("chat.v2 is answered chat.v2 and gets arrays; chat.v1 and nothing get today's frames", async () => {
    const user = await signUp(A);
    const lean = await v2(A, user.token);
    const plain = await connect(A, user.token, [PROTOCOL_V1]);
    const none = await connect(B, user.token);
    expect([lean.protocol, plain.protocol, none.protocol]).toEqual([PROTOCOL_V2, PROTOCOL_V1, ""]);
    const [pong2, pong1, pong0] = await Promise.all([lean.request("ping", {}), plain.request("ping", {}), none.request("ping", {})]);
    expect(JSON.parse(lean.raw.at(-1)!)).toEqual([8, pong2.ref]);
    for (const [c, p] of [[plain, pong1], [none, pong0]] as const) {
      expect(JSON.parse(c.raw.at(-1)!)).toEqual({ event: "pong", data: {}, ref: p.ref, timestamp: expect.any(Number) });
    }
  });

  test("a client offering only unknown subprotocols falls back to v1 frames", async () => {
    const user = await signUp(A);
    const other = await connect(B, user.token, ["chat.v9", "graphql-ws"]);
    // Bun answers with the first offered name (a browser fails a handshake answered with none).
    expect([PROTOCOL_V1, PROTOCOL_V2]).not.toContain(other.protocol);
    const room = await newRoom(user.token);
    const joined = await other.join(room.id);
    expect(JSON.parse(other.raw.find((t) => t.includes('"joined"'))!)).toMatchObject({ event: "joined", data: { roomId: room.id } });
    expect(joined.timestamp).toEqual(expect.any(Number));
    // The second element listed, v2, wins over order.
    const both = await connect(B, user.token, ["chat.v9", PROTOCOL_V2]);
    expect(both.protocol).toBe(PROTOCOL_V2);
  });
});

describe("delivery", () => {
  test("v1 and v2 clients in one room, across instances, get every message once and in order", async () => {
    const [u1, u2, u3, u4] = await Promise.all([signUp(A), signUp(B), signUp(A), signUp(B)]);
    const room = await newRoom(u1.token);
    const sender2 = await v2(A, u1.token); // v2, sends half
    const sender1 = await connect(B, u2.token); // v1, sends half
    const lean = [await v2(A, u3.token), await v2(B, u4.token)];
    const plain = [await connect(A, u4.token), await connect(B, u3.token)];
    for (const c of [sender2, sender1, ...lean, ...plain]) await c.join(room.id);

    const N = 40;
    for (let i = 0; i < N; i++) {
      const s = i % 2 ? sender1 : sender2;
      s.send("send_message", { roomId: room.id, content: `m${i}`, clientMsgId: `c${i}`, timestamp: Date.now() });
    }
    for (const c of [...lean, ...plain]) await c.until(() => c.messageSeqs(room.id).length >= N, 10_000);
    await Bun.sleep(200); // a duplicate would arrive now
    const expected = Array.from({ length: N }, (_, i) => i + 1);
    for (const c of [...lean, ...plain]) expect(c.messageSeqs(room.id)).toEqual(expected);

    // The same messages with the same meaning, whichever version carried them.
    const strip = (c: ChatClient) => c.frames.filter((f) => f.event === "new_message").map((f) => ({ seq: f.seq, data: f.data }));
    expect(strip(lean[0]!)).toEqual(strip(plain[0]!));
    for (const f of lean[0]!.frames.filter((f) => f.event === "new_message")) {
      expect(serverFrames.new_message.safeParse(f.data).success).toBe(true);
      expect(f.data.sentAt).toEqual(expect.any(Number));
    }
    for (const c of lean) expect(allArrays(c)).toBe(true);

    // Each sender: an ack per own message, and the others' messages, never its own.
    for (const [s, own] of [[sender2, 0], [sender1, 1]] as const) {
      await s.until(() => s.frames.filter((f) => f.event === "message_ack").length >= N / 2);
      const acks = s.frames.filter((f) => f.event === "message_ack").map((f) => f.data.clientMsgId);
      expect(acks.sort()).toEqual(expected.filter((n) => (n - 1) % 2 === own).map((n) => `c${n - 1}`).sort());
      await s.until(() => s.messageSeqs(room.id).length >= N / 2);
      const got = s.frames.filter((f) => f.event === "new_message").map((f) => f.data.clientMsgId as string);
      expect(got.every((id) => Number(id.slice(1)) % 2 !== own)).toBe(true);
    }
    // An ack in v2 names the joined room by its alias and still decodes to the room id.
    const ack = sender2.raw.find((t) => t.startsWith("[4,"))!;
    expect(ack).not.toContain(room.id);
    expect(sender2.frames.find((f) => f.event === "message_ack")!.data.roomId).toBe(room.id);

    // Bytes: the lean frames of the same messages are well under half.
    const bytes = (c: ChatClient) => c.bytes.get("new_message")!;
    expect(bytes(lean[0]!) / bytes(plain[0]!)).toBeLessThan(0.5);
  });

  test("edits, deletes, reactions and typing reach a v2 client meaning what v1 says", async () => {
    const [owner, other] = await Promise.all([signUp(A), signUp(B)]);
    const room = await newRoom(owner.token);
    const lean = await v2(A, other.token);
    const plain = await connect(B, other.token);
    const typist = await connect(B, owner.token);
    for (const c of [lean, plain, typist]) await c.join(room.id);
    const m = await postMessage(owner.token, room.id, "first");
    expect((await api(A, "PATCH", `/api/messages/${m.id}`, owner.token, { content: "edited" })).status).toBe(200);
    expect((await api(A, "POST", `/api/messages/${m.id}/reactions`, other.token, { emoji: "👍" })).status).toBe(200);
    expect((await api(A, "DELETE", `/api/messages/${m.id}`, owner.token)).status).toBe(200);
    typist.send("typing", { roomId: room.id });
    const events = (c: ChatClient) =>
      c.frames.filter((f) => f.event.startsWith("message_") || f.event === "new_message" || f.event === "typing").map(({ event, data, seq }) => ({ event, data, seq }));
    for (const c of [lean, plain]) await c.until(() => events(c).length >= 5);
    expect(events(lean)).toEqual(events(plain));
    expect(events(lean).map((e) => e.event)).toEqual(["new_message", "message_updated", "message_updated", "message_deleted", "typing"]);
    expect(events(lean)[2]!.data.reactions).toEqual([{ emoji: "👍", count: 1, userIds: [other.id] }]);
  });

  test("a v2 client resumes with afterSeq: replay in order, then live, nothing lost or repeated", async () => {
    const [owner, reader] = await Promise.all([signUp(A), signUp(B)]);
    const room = await newRoom(owner.token);
    const c = await v2(A, reader.token);
    await c.join(room.id);
    await postMessage(owner.token, room.id, "one");
    await c.until(() => c.lastSeq.get(room.id) === 1);
    c.ws.close();
    for (let i = 2; i <= 6; i++) await postMessage(owner.token, room.id, `m${i}`);
    const back = await v2(B, reader.token);
    const joined = await back.join(room.id, 1);
    expect(joined.data).toEqual({ roomId: room.id, slug: room.slug, lastSeq: 6 });
    await postMessage(owner.token, room.id, "live");
    await back.until(() => back.messageSeqs(room.id).length >= 6);
    await Bun.sleep(150);
    expect(back.messageSeqs(room.id)).toEqual([2, 3, 4, 5, 6, 7]);
    expect(allArrays(back)).toBe(true);
  });

  test("a v2 join further behind than WS_REPLAY_MAX is truncated with fromSeq", async () => {
    const [owner, reader] = await Promise.all([signUp(A), signUp(B)]);
    const room = await newRoom(owner.token);
    for (let i = 1; i <= REPLAY_MAX + 10; i++) await postMessage(owner.token, room.id, `m${i}`);
    const c = await v2(B, reader.token);
    const joined = await c.join(room.id, 0);
    const last = REPLAY_MAX + 10;
    expect(joined.data).toEqual({ roomId: room.id, slug: room.slug, lastSeq: last, truncated: true, fromSeq: 11 });
    expect(JSON.parse(c.raw.find((t) => t.startsWith("[0,"))!)).toEqual([0, expect.any(Number), room.id, room.slug, last, 11, joined.ref]);
    await c.until(() => c.messageSeqs(room.id).length >= REPLAY_MAX);
    expect(c.messageSeqs(room.id)).toEqual(Array.from({ length: REPLAY_MAX }, (_, i) => i + 11));
  });
});

describe("presence and errors in v2", () => {
  test("presence first list and diffs (join, close) in v2 match what a v1 client sees", async () => {
    const [u1, u2, u3] = await Promise.all([signUp(A), signUp(A), signUp(B)]);
    const room = await newRoom(u1.token);
    const lean = await v2(A, u1.token);
    await lean.join(room.id);
    await lean.waitFor((f) => f.event === "presence");
    expect(lean.presence.get(room.id)).toEqual({ users: new Map([[u1.id, u1.username]]), total: 1 });
    const plain = await connect(A, u2.token);
    await plain.join(room.id);
    const late = await v2(B, u3.token);
    await late.join(room.id);
    const everyone = [u1, u2, u3].map((u) => u.id).sort();
    for (const c of [lean, plain, late]) await c.until(() => c.onlineIds(room.id).join() === everyone.join(), 5_000);
    late.ws.close();
    const two = [u1, u2].map((u) => u.id).sort().join();
    for (const c of [lean, plain]) await c.until(() => c.onlineIds(room.id).join() === two && c.presence.get(room.id)!.total === 2, 5_000);
    expect(lean.raw.some((t) => t.startsWith("[6,"))).toBe(true);
    expect(allArrays(lean)).toBe(true);
  });

  test("errors come as v2 error frames with the ref, and the socket stays open", async () => {
    const user = await signUp(A);
    const c = await v2(B, user.token);
    c.sendRaw("not json");
    await c.waitFor((f) => f.event === "error" && f.data.code === "invalid_json");
    expect(JSON.parse(c.raw.at(-1)!)).toEqual([9, "invalid_json", "frame is not valid JSON"]);
    const unknown = await c.request("nope", {});
    expect(unknown).toMatchObject({ event: "error", data: { code: "unknown_event" }, ref: unknown.ref });
    const missing = await c.request("join_room", { roomId: "no-such-room" });
    expect(missing).toMatchObject({ event: "error", data: { code: "not_found" } });
    const bad = await c.request("send_message", { roomId: "x", content: "" });
    expect(bad.data.code).toBe("invalid_data");
    expect(JSON.parse(c.raw.at(-1)!)[0]).toBe(9);
    expect((await c.request("ping", {})).event).toBe("pong");
    expect(allArrays(c)).toBe(true);
  });

  test("per-user frames in v2: room_activity and membership_added for rooms not joined", async () => {
    const [owner, guest] = await Promise.all([signUp(A), signUp(B)]);
    const room = await newRoom(owner.token);
    const lean = await v2(B, owner.token);
    const plain = await connect(A, owner.token);
    await Bun.sleep(300); // each instance reads the user's memberships on connect
    await postMessage(owner.token, room.id, "hello");
    const activity = (c: ChatClient) => c.waitFor((f) => f.event === "room_activity" && f.data.roomId === room.id, 5_000);
    const [a2, a1] = await Promise.all([activity(lean), activity(plain)]);
    expect(a2.data).toEqual(a1.data);
    expect(a2.data).toMatchObject({ roomId: room.id, lastSeq: 1 });
    expect(JSON.parse(lean.raw.find((t) => t.startsWith("[10,"))!)).toEqual([10, room.id, 1, Date.parse(a1.data.lastActivityAt)]);
    const guestLean = await v2(A, guest.token);
    await Bun.sleep(300);
    expect((await api(A, "POST", `/api/rooms/${room.id}/join`, guest.token)).status).toBeLessThan(300);
    const added = await guestLean.waitFor((f) => f.event === "membership_added", 5_000);
    expect(added.data.room).toMatchObject({ id: room.id, slug: room.slug });
    expect(allArrays(guestLean)).toBe(true);
  });

  test("an ack for a room the socket has not joined names the room by id", async () => {
    const user = await signUp(A);
    const room = await newRoom(user.token);
    const c = await v2(A, user.token);
    const ack = await c.request("send_message", { roomId: room.id, content: "unjoined", clientMsgId: "u1" });
    expect(ack.data).toMatchObject({ roomId: room.id, clientMsgId: "u1", seq: 1 });
    expect(JSON.parse(c.raw.at(-1)!)[1]).toBe(room.id);
  });
});

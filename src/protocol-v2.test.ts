// Every server frame through the lean encoding (v2) and back means what its v1 frame means.
import { describe, expect, test } from "bun:test";
import { encodeFrame, serverFrames, type Message, type ServerData, type ServerEvent } from "./protocol.ts";
import { chooseProtocol, compactId, createV2Decoder, encodeFrameV2, expandId } from "./protocol-v2.ts";

const ROOM = "0b6f2a52-2a7e-4d2c-9a43-2b8f6e0f1c11";
const message: Message = {
  id: "7d1c6f0e-5b7a-4c7e-8f49-9e0c1a2b3c4d",
  roomId: ROOM,
  seq: 42,
  updatedSeq: null,
  author: { id: "a3e5c7d9-1b2f-4a6c-8e0d-f1a2b3c4d5e6", username: "alice" },
  content: "hello, \"world\" 🌍",
  clientMsgId: "c-17",
  sentAt: 1764576000123,
  createdAt: "2026-12-01T08:00:00.456Z",
  editedAt: null,
  deletedAt: null,
  reactions: [],
};
const edited: Message = {
  ...message,
  updatedSeq: 44,
  content: "",
  sentAt: null,
  editedAt: "2026-12-01T08:01:00.000Z",
  deletedAt: "2026-12-01T08:02:00.001Z",
  reactions: [{ emoji: "👍", count: 2, userIds: ["u1", "u2"] }],
};
const users = [
  { id: "u1", username: "bob" },
  { id: "u2", username: "carol" },
];

/** Each server frame type with the envelope fields v1 gives it, in the order a connection sees them. */
const cases: { event: ServerEvent; data: any; ref?: string | number; seq?: number }[] = [
  { event: "joined", data: { roomId: ROOM, slug: "general", lastSeq: 41 }, ref: 1 },
  { event: "joined", data: { roomId: "r-2", slug: "big", lastSeq: 900, truncated: true, fromSeq: 401 }, ref: "j2" },
  { event: "joined", data: { roomId: "r-3", slug: "noref", lastSeq: 0 } },
  { event: "presence", data: { roomId: ROOM, users, total: 2 } },
  { event: "presence", data: { roomId: ROOM, users: [], total: 150 } },
  { event: "new_message", data: message, seq: 42 },
  { event: "message_updated", data: edited, seq: 43 },
  { event: "message_deleted", data: edited, seq: 44 },
  { event: "message_ack", data: { roomId: ROOM, clientMsgId: "c-17", id: message.id, seq: 42 }, ref: 7 },
  { event: "message_ack", data: { roomId: "not-joined-room", clientMsgId: "c-18", id: "m2", seq: 3 } },
  { event: "presence_diff", data: { roomId: ROOM, joined: users, left: ["u9"], total: 3 } },
  { event: "presence_diff", data: { roomId: ROOM, joined: [], left: ["u9"], total: 2 } },
  { event: "presence_diff", data: { roomId: ROOM, joined: [], left: [], total: 500 } },
  { event: "typing", data: { roomId: ROOM, user: users[0] } },
  { event: "pong", data: {}, ref: "p" },
  { event: "pong", data: {} },
  { event: "error", data: { code: "invalid_data", message: "roomId: required" }, ref: 3 },
  { event: "error", data: { code: "too_large", message: "frame over 32768 bytes" } },
  { event: "room_activity", data: { roomId: "other-room", lastSeq: 9, lastActivityAt: "2026-12-01T08:03:00.000Z" } },
  {
    event: "membership_added",
    data: {
      room: { id: "r-9", slug: "new", name: "New", isPrivate: false, createdAt: "2026-12-01T08:00:00.000Z", memberCount: 2, lastSeq: 0, unreadCount: 0 },
    },
  },
  { event: "membership_removed", data: { roomId: "r-9" } },
];

describe("v2 encoding", () => {
  test("every server frame type decodes to its v1 meaning", () => {
    expect(new Set(cases.map((c) => c.event))).toEqual(new Set(Object.keys(serverFrames) as ServerEvent[]));
    const aliases = new Map([[ROOM, 1], ["r-2", 2], ["r-3", 3]]);
    const decoder = createV2Decoder();
    for (const c of cases) {
      const roomId = c.data.roomId as string | undefined;
      const lean = encodeFrameV2(c.event, c.data as ServerData<ServerEvent>, {
        ref: c.ref,
        seq: c.seq,
        alias: roomId ? aliases.get(roomId) : undefined,
        room: roomId ? (aliases.get(roomId) ?? roomId) : undefined,
      });
      const v1 = JSON.parse(encodeFrame(c.event, c.data, { ref: c.ref, seq: c.seq }));
      delete v1.timestamp; // v2 carries no server clock
      const decoded = decoder.decode(lean);
      expect(decoded).toEqual(v1);
      // The decoded data is valid v1 data too.
      expect(serverFrames[c.event].safeParse(decoded.data).success).toBe(true);
      // Never longer than v1.
      expect(lean.length).toBeLessThan(JSON.stringify(v1).length);
    }
  });

  test("a new_message is a positional array with the room's alias, no nulls and the seq once", () => {
    const lean = encodeFrameV2("new_message", message, { seq: 42, room: 5 });
    const created = Date.parse(message.createdAt);
    expect(JSON.parse(lean)).toEqual([1, 5, 42, compactId(message.id), compactId(message.author.id), "alice", message.content, "c-17", created, message.sentAt! - created]);
    expect(compactId(message.id)).toHaveLength(22);
    expect(lean).not.toContain("null");
    expect(lean).not.toContain(ROOM);
    const v1 = encodeFrame("new_message", message, { seq: 42 });
    expect(lean.length / v1.length).toBeLessThan(0.5);
  });

  test("a null in the middle stays, trailing ones go", () => {
    const noSentAt = { ...message, sentAt: null, updatedSeq: 50 };
    const lean = JSON.parse(encodeFrameV2("message_updated", noSentAt, { seq: 50, room: 1 }));
    expect(lean.slice(-2)).toEqual([null, 50]);
  });

  test("compact ids: a UUID is 22 characters and comes back exactly; other ids pass through", () => {
    for (let i = 0; i < 500; i++) {
      const id = crypto.randomUUID();
      expect(expandId(compactId(id))).toBe(id);
    }
    for (const id of ["00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff"]) expect(expandId(compactId(id))).toBe(id);
    for (const id of ["m1", "ABCDEF01-2345-6789-abcd-ef0123456789", "x".repeat(22), "=".repeat(22), "=".repeat(23), ""]) {
      expect(expandId(compactId(id))).toBe(id);
    }
  });

  test("sentAt: a distance from createdAt, a fractional one as a string, both exact", () => {
    const decoder = createV2Decoder();
    decoder.decode(encodeFrameV2("joined", { roomId: ROOM, slug: "s", lastSeq: 0 }, { alias: 1 }));
    for (const sentAt of [0, 1764576000123, Number.MAX_SAFE_INTEGER, 1764576000123.25]) {
      const m = { ...message, sentAt };
      expect(decoder.decode(encodeFrameV2("new_message", m, { room: 1 })).data).toEqual(m);
    }
  });

  test("a decoder refuses what is not a v2 frame, and an alias it was never given", () => {
    const decoder = createV2Decoder();
    expect(() => decoder.decode('{"event":"pong","data":{}}')).toThrow();
    expect(() => decoder.decode("[99]")).toThrow();
    expect(() => decoder.decode('[1,"r",1]')).toThrow(); // a message missing its fields
    expect(() => decoder.decode("[7,4,\"u1\",\"bob\"]")).toThrow(/alias 4/);
    expect(() => decoder.decode("not json")).toThrow();
  });

  test("the version is chosen from Sec-WebSocket-Protocol", () => {
    expect(chooseProtocol(null)).toEqual({ version: 1 });
    expect(chooseProtocol("foo, bar")).toEqual({ version: 1 });
    expect(chooseProtocol("chat.v1")).toEqual({ version: 1, answer: "chat.v1" });
    expect(chooseProtocol("foo, chat.v2")).toEqual({ version: 2, answer: "chat.v2" });
    expect(chooseProtocol("chat.v1,chat.v2")).toEqual({ version: 2, answer: "chat.v2" });
  });
});

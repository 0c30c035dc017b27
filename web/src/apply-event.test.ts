import { describe, expect, test } from "bun:test";
import type { Message } from "../../src/protocol.ts";
import { applyEvent, initialState, mergeMessages, type ChatEvent, type ChatState, type ServerFrameIn } from "./apply-event.ts";

const ROOM = "room-1";
const me = { id: "u-me", email: "me@example.com", username: "me" };
const other = { id: "u-other", username: "other" };

function message(seq: number, patch: Partial<Message> = {}): Message {
  return {
    id: `m${seq}`,
    roomId: ROOM,
    seq,
    updatedSeq: null,
    author: other,
    content: `message ${seq}`,
    clientMsgId: `c${seq}`,
    sentAt: null,
    createdAt: new Date(1_700_000_000_000 + seq * 1000).toISOString(),
    editedAt: null,
    deletedAt: null,
    reactions: [],
    ...patch,
  };
}

const frame = (f: ServerFrameIn): ChatEvent => ({ type: "frame", frame: f, now: 0 });
const run = (events: ChatEvent[], from: ChatState = initialState) => events.reduce(applyEvent, from);
const signedIn = run([
  { type: "signed_in", me },
  { type: "rooms_loaded", rooms: [{ id: ROOM, slug: "r", name: "R", isPrivate: false, createdAt: "2026-01-01T00:00:00.000Z", memberCount: 2, lastSeq: 0, unreadCount: 0, lastActivityAt: null, lastReadSeq: 0 }] },
]);

/**
 * The server side of a room, as a list of events: each counter value is one event
 * (creation or change), and `fetch()` is what GET /messages (newest page) returns.
 */
function serverRoom() {
  const messages = new Map<string, Message>();
  const stream: ServerFrameIn[] = [];
  let seq = 0;
  return {
    post(content: string) {
      const m = message(++seq, { id: `m${seq}`, content });
      messages.set(m.id, m);
      stream.push({ event: "new_message", data: m, seq });
      return m;
    },
    edit(id: string, content: string) {
      const m = { ...messages.get(id)!, content, updatedSeq: ++seq, editedAt: new Date(1_800_000_000_000 + seq).toISOString() };
      messages.set(id, m);
      stream.push({ event: "message_updated", data: m, seq });
    },
    remove(id: string) {
      const m = { ...messages.get(id)!, content: "", updatedSeq: ++seq, deletedAt: new Date(1_800_000_000_000 + seq).toISOString() };
      messages.set(id, m);
      stream.push({ event: "message_deleted", data: m, seq });
    },
    react(id: string) {
      const m = { ...messages.get(id)!, updatedSeq: ++seq, reactions: [{ emoji: "👍", count: 1, userIds: [me.id] }] };
      messages.set(id, m);
      stream.push({ event: "message_updated", data: m, seq });
    },
    fetch: () => [...messages.values()].sort((a, b) => a.seq - b.seq),
    /** Every event after `after`, as the server replays them (the message's current state each time). */
    replay: (after: number) => stream.filter((f) => (f as { seq: number }).seq > after).map((f) => ({ ...f, data: messages.get((f.data as Message).id)! }) as ServerFrameIn),
    get lastSeq() {
      return seq;
    },
  };
}

const loaded = (messages: Message[]) => run([{ type: "page_newest", roomId: ROOM, messages, reachedStart: true }], signedIn);

describe("applyEvent", () => {
  test("replaying the stream on old state gives the same state as a fresh fetch", () => {
    const server = serverRoom();
    for (let i = 0; i < 5; i++) server.post(`hello ${i}`);
    const old = loaded(server.fetch());
    const resumeAt = old.views[ROOM]!.lastSeq;
    expect(resumeAt).toBe(5);

    server.post("after 1");
    server.edit("m2", "edited two");
    server.remove("m3");
    server.react("m1");
    server.post("after 2");
    server.edit("m6", "edited after 1");
    server.edit("m2", "edited two again");

    const replayed = run(server.replay(resumeAt).map(frame), old);
    const fresh = loaded(server.fetch());
    expect(replayed.views[ROOM]!.messages).toEqual(fresh.views[ROOM]!.messages);
    expect(replayed.views[ROOM]!.lastSeq).toBe(server.lastSeq);
    expect(fresh.views[ROOM]!.lastSeq).toBe(server.lastSeq);
    expect(replayed.views[ROOM]!.ahead).toEqual([]);
  });

  test("the same events twice, or a replay overlapping a page, change nothing", () => {
    const server = serverRoom();
    for (let i = 0; i < 3; i++) server.post(`m ${i}`);
    server.edit("m1", "changed");
    const state = loaded(server.fetch());
    const again = run(server.replay(0).map(frame), state);
    expect(again.views[ROOM]!.messages).toEqual(state.views[ROOM]!.messages);
    expect(again.views[ROOM]!.messages.map((m) => m.seq)).toEqual([1, 2, 3]);
  });

  test("an older version never replaces a newer one", () => {
    const newer = message(1, { content: "v2", updatedSeq: 4 });
    const state = run([frame({ event: "message_updated", data: message(1, { content: "v1", updatedSeq: 2 }), seq: 2 })], loaded([newer]));
    expect(state.views[ROOM]!.messages[0]!.content).toBe("v2");
  });

  test("events out of order keep seq order; the resume point waits for the hole", () => {
    let state = loaded([message(1)]);
    state = applyEvent(state, frame({ event: "new_message", data: message(3), seq: 3 }));
    expect(state.views[ROOM]!.lastSeq).toBe(1);
    expect(state.views[ROOM]!.ahead).toEqual([3]);
    state = applyEvent(state, frame({ event: "new_message", data: message(2), seq: 2 }));
    expect(state.views[ROOM]!.messages.map((m) => m.seq)).toEqual([1, 2, 3]);
    expect(state.views[ROOM]!).toMatchObject({ lastSeq: 3, ahead: [] });
  });

  test("a complete page_after closes the hole up to its newest value", () => {
    let state = loaded([message(1)]);
    state = applyEvent(state, frame({ event: "new_message", data: message(5), seq: 5 }));
    state = applyEvent(state, { type: "page_after", roomId: ROOM, after: 1, messages: [message(2), message(3), message(4, { updatedSeq: 6 })], complete: true });
    expect(state.views[ROOM]!).toMatchObject({ lastSeq: 6, ahead: [] });
    expect(state.views[ROOM]!.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
  });

  test("optimistic send: pending, then sent on message_ack (same row), or failed and retried", () => {
    let state = loaded([message(1)]);
    const pending = { clientMsgId: "c-mine", roomId: ROOM, content: "mine", author: { id: me.id, username: me.username }, createdAt: "2026-01-01T00:00:00.000Z", status: "pending" as const };
    state = applyEvent(state, { type: "send_queued", pending });
    state = applyEvent(state, { type: "send_queued", pending });
    expect(state.pending).toHaveLength(1);
    state = applyEvent(state, { type: "send_failed", clientMsgId: "c-mine", error: "nope" });
    expect(state.pending[0]).toMatchObject({ status: "failed", error: "nope" });
    state = applyEvent(state, { type: "send_retry", clientMsgId: "c-mine" });
    expect(state.pending[0]!.status).toBe("pending");
    state = applyEvent(state, frame({ event: "message_ack", data: { roomId: ROOM, clientMsgId: "c-mine", id: "m2", seq: 2 } }));
    expect(state.pending).toEqual([]);
    expect(state.views[ROOM]!.messages.at(-1)).toMatchObject({ id: "m2", seq: 2, content: "mine", clientMsgId: "c-mine", author: { id: me.id } });
    expect(state.views[ROOM]!.lastSeq).toBe(2);
    // My own message does not count as unread.
    expect(state.rooms[ROOM]!.unreadCount).toBe(0);
  });

  test("a replayed new_message confirms a pending message with the same clientMsgId (outbox after reconnect)", () => {
    let state = loaded([message(1)]);
    state = applyEvent(state, { type: "send_queued", pending: { clientMsgId: "c-x", roomId: ROOM, content: "x", author: { id: me.id, username: "me" }, createdAt: "2026-01-01T00:00:00.000Z", status: "pending" } });
    state = applyEvent(state, frame({ event: "new_message", data: message(2, { clientMsgId: "c-x", author: { id: me.id, username: "me" } }), seq: 2 }));
    expect(state.pending).toEqual([]);
    expect(state.views[ROOM]!.messages).toHaveLength(2);
  });

  test("a message sent over HTTP (room not open) leaves the pending list; the resume point waits for its stream", () => {
    let state = loaded([message(1)]);
    state = applyEvent(state, { type: "send_queued", pending: { clientMsgId: "c-h", roomId: ROOM, content: "h", author: { id: me.id, username: "me" }, createdAt: "2026-01-01T00:00:00.000Z", status: "pending" } });
    const stored = message(2, { clientMsgId: "c-h", author: { id: me.id, username: "me" }, content: "h" });
    state = applyEvent(state, { type: "send_confirmed", message: stored });
    expect(state.pending).toEqual([]);
    expect(state.views[ROOM]!.messages.map((m) => m.id)).toEqual(["m1", "m2"]);
    expect(state.views[ROOM]!.lastSeq).toBe(1);
    state = applyEvent(state, frame({ event: "new_message", data: stored, seq: 2 }));
    expect(state.views[ROOM]!).toMatchObject({ lastSeq: 2 });
    expect(state.views[ROOM]!.messages).toHaveLength(2);
  });

  test("presence replaces the set; presence_diff adds and removes; total from the latest", () => {
    const a = { id: "a", username: "a" };
    const b = { id: "b", username: "b" };
    const c = { id: "c", username: "c" };
    let state = applyEvent(signedIn, frame({ event: "presence", data: { roomId: ROOM, users: [a, b], total: 2 } }));
    state = applyEvent(state, frame({ event: "presence_diff", data: { roomId: ROOM, joined: [c], left: ["a"], total: 2 } }));
    expect(state.views[ROOM]!.online).toEqual({ users: [b, c], total: 2 });
    state = applyEvent(state, frame({ event: "presence", data: { roomId: ROOM, users: [a] } }));
    expect(state.views[ROOM]!.online).toEqual({ users: [a], total: 1 });
  });

  test("room list: unread from others, room_activity for rooms not open, read marker, membership frames", () => {
    let state = applyEvent(signedIn, frame({ event: "room_activity", data: { roomId: ROOM, lastSeq: 3, lastActivityAt: "2026-02-01T00:00:00.000Z" } }));
    expect(state.rooms[ROOM]).toMatchObject({ lastSeq: 3, unreadCount: 1, lastActivityAt: "2026-02-01T00:00:00.000Z" });
    // The same value again (another instance, a late frame) is not new.
    state = applyEvent(state, frame({ event: "room_activity", data: { roomId: ROOM, lastSeq: 3, lastActivityAt: "2026-02-01T00:00:00.000Z" } }));
    expect(state.rooms[ROOM]!.unreadCount).toBe(1);
    state = applyEvent(state, { type: "read", roomId: ROOM, seq: 3 });
    expect(state.rooms[ROOM]).toMatchObject({ unreadCount: 0, lastReadSeq: 3 });

    const room2 = { id: "room-2", slug: "two", name: "Two", isPrivate: true, createdAt: "2026-01-01T00:00:00.000Z", memberCount: 2, lastSeq: 7, unreadCount: 2, lastActivityAt: null, lastReadSeq: 5 };
    state = applyEvent(state, frame({ event: "membership_added", data: { room: room2 } }));
    expect(state.rooms["room-2"]).toMatchObject({ name: "Two", unreadCount: 2, lastReadSeq: 5 });
    state = applyEvent(state, frame({ event: "membership_removed", data: { roomId: "room-2" } }));
    expect(state.rooms["room-2"]).toBeUndefined();
  });

  test("typing shows for a few seconds; signing out forgets everything", () => {
    let state = applyEvent(signedIn, { type: "frame", frame: { event: "typing", data: { roomId: ROOM, user: other } }, now: 1000 });
    expect(state.views[ROOM]!.typing.map((t) => t.user.id)).toEqual([other.id]);
    state = applyEvent(state, { type: "typing_expired", now: 3000 });
    expect(state.views[ROOM]!.typing).toHaveLength(1);
    state = applyEvent(state, { type: "typing_expired", now: 6000 });
    expect(state.views[ROOM]!.typing).toHaveLength(0);
    state = applyEvent(state, { type: "signed_out" });
    expect(state.me).toBeNull();
    expect(state.rooms).toEqual({});
  });

  test("older pages prepend in order and mark the start", () => {
    let state = run([{ type: "page_newest", roomId: ROOM, messages: [message(51), message(52)], reachedStart: false }], signedIn);
    expect(state.views[ROOM]!.reachedStart).toBe(false);
    state = applyEvent(state, { type: "page_older", roomId: ROOM, messages: [message(49), message(50)], reachedStart: true });
    expect(state.views[ROOM]!.messages.map((m) => m.seq)).toEqual([49, 50, 51, 52]);
    expect(state.views[ROOM]!).toMatchObject({ reachedStart: true, lastSeq: 52 });
  });
});

describe("mergeMessages", () => {
  const seqs = (ms: Message[]) => ms.map((m) => m.seq);
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => message(from + i));

  test("an older page below, new messages above: in order, the loaded messages kept as they were", () => {
    const loaded = range(51, 100);
    const older = mergeMessages(loaded, range(1, 50));
    expect(seqs(older)).toEqual(range(1, 100).map((m) => m.seq));
    expect(older[50]).toBe(loaded[0]!);
    const newer = mergeMessages(older, [message(101), message(102)]);
    expect(seqs(newer).slice(-3)).toEqual([100, 101, 102]);
  });

  test("overlaps, duplicates, out-of-order pages and older versions still come out once each, in order, newest version", () => {
    const loaded = range(10, 20);
    const edited = message(15, { content: "edited", updatedSeq: 25 });
    const merged = mergeMessages(loaded, [message(21), message(5), edited, message(12), message(21)]);
    expect(seqs(merged)).toEqual([5, ...range(10, 21).map((m) => m.seq)]);
    expect(merged.find((m) => m.seq === 15)!.content).toBe("edited");
    // An older version of 15 after the edit changes nothing.
    expect(mergeMessages(merged, [message(15)]).find((m) => m.seq === 15)!.content).toBe("edited");
    // A page reaching into what is loaded (seq 8..12) merges, it does not duplicate.
    expect(seqs(mergeMessages(range(10, 20), range(8, 12)))).toEqual(range(8, 20).map((m) => m.seq));
  });
});

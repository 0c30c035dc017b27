import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { asc, eq } from "drizzle-orm";
import { messageChanges } from "../db/schema.ts";
import type { DomainEvent } from "../events.ts";
import { Message, Room } from "../protocol.ts";
import { createRooms, type Rooms } from "../rooms/store.ts";
import { createTestApp, registerUser, type Driver, type TestApp } from "../../test/support/test-app.ts";
import { createMessages, type Messages } from "./store.ts";

// The stores as the WebSocket layer will call them, on both drivers.
for (const driver of ["postgres", "pglite"] as Driver[]) {
  describe(`rooms and messages stores on ${driver}`, () => {
    let t: TestApp;
    let rooms: Rooms;
    let messages: Messages;
    let ann: { id: string };
    let ben: { id: string };
    const seen: DomainEvent[] = [];

    beforeAll(async () => {
      t = await createTestApp(driver);
      rooms = createRooms(t.stores.database.db, t.events);
      messages = createMessages({ database: t.stores.database, events: t.events, rooms });
      [ann, ben] = await Promise.all([registerUser(t, "ann"), registerUser(t, "ben")]);
      t.events.on((e) => seen.push(e));
    }, 30_000); // PGlite takes seconds to start and migrate
    afterAll(async () => {
      await t?.close();
    });

    test("rooms: ids are strings and counters numbers; joining twice announces once", async () => {
      const created = await rooms.create(ann.id, { name: "Store room" });
      expect(Room.strict().parse(created)).toEqual(created);
      seen.length = 0;
      const joined = await rooms.join(created.slug, ben.id);
      await rooms.join(created.id, ben.id);
      expect(seen).toEqual([{ type: "room.member_joined", roomId: created.id, userId: ben.id }]);
      expect(joined).toMatchObject({ memberCount: 2, lastSeq: 0, unreadCount: 0 });
      for (const key of ["memberCount", "lastSeq", "unreadCount"] as const) expect(typeof joined[key]).toBe("number");
      expect(await rooms.isMember(created.id, ben.id)).toBe(true);
      expect(await rooms.isMember("not-a-uuid", ben.id)).toBe(false);
      await rooms.leave(created.id, ben.id);
      expect(seen.at(-1)).toEqual({ type: "room.member_left", roomId: created.id, userId: ben.id });
      expect(await rooms.isMember(created.id, ben.id)).toBe(false);
    });

    test("rooms: listing, members and direct rooms", async () => {
      const listed = await rooms.list(ben.id, { limit: 100 });
      expect(listed.nextCursor).toBeNull();
      for (const room of listed.data) expect(Room.strict().parse(room)).toEqual(room);
      const first = await rooms.openDirect(ann.id, ben.id);
      const second = await rooms.openDirect(ben.id, ann.id);
      expect(first.created).toBe(true);
      expect(second).toMatchObject({ created: false, room: { id: first.room.id, memberCount: 2, isPrivate: true } });
      const members = await rooms.members(first.room.id, ann.id, { limit: 10 });
      expect(members.data.map((m) => m.id).sort()).toEqual([ann.id, ben.id].sort());
      expect(members.data.every((m) => m.role === "member" && typeof m.joinedAt === "string")).toBe(true);
    });

    test("rooms: resolveReadable hides private rooms of others behind a 404", async () => {
      const secret = await rooms.create(ann.id, { name: "Store secret", isPrivate: true });
      expect((await rooms.resolveReadable(secret.slug, ann.id)).role).toBe("owner");
      for (const key of [secret.id, secret.slug, crypto.randomUUID(), "nope"]) {
        const err = await rooms.resolveReadable(key, ben.id).catch((e) => e);
        expect(err).toMatchObject({ status: 404, message: "room not found" });
      }
      expect(await rooms.join(secret.id, ben.id).catch((e) => e.status)).toBe(404);
    });

    test("send: created once per clientMsgId, seq numbers, sentAt kept, by room id (the WebSocket path)", async () => {
      const room = await rooms.create(ann.id, { name: "Sends" });
      seen.length = 0;
      const first = await messages.send({ roomId: room.id, userId: ann.id, content: "one", clientMsgId: "s1", sentAt: 1_700_000_000_123 });
      expect(first.created).toBe(true);
      expect(Message.strict().parse(first.message)).toEqual(first.message);
      expect(first.message).toMatchObject({ seq: 1, sentAt: 1_700_000_000_123, updatedSeq: null });
      const again = await messages.send({ roomKey: room.slug, userId: ann.id, content: "one", clientMsgId: "s1" });
      expect(again).toEqual({ message: first.message, created: false });
      const generated = await messages.send({ roomId: room.id, userId: ann.id, content: "two" });
      expect(generated.message.clientMsgId).toMatch(/^[0-9a-f-]{36}$/);
      expect(generated.message.seq).toBe(2);
      const badClock = await messages.send({ roomId: room.id, userId: ann.id, content: "x", clientMsgId: "clock", sentAt: 1e300 });
      expect(badClock.message.sentAt).toBeNull();
      expect(seen.map((e) => (e.type === "room.event" ? [e.event.kind, e.event.seq] : e.type))).toEqual([
        ["new_message", 1],
        ["new_message", 2],
        ["new_message", 3],
      ]);
      const notMember = await messages.send({ roomId: room.id, userId: ben.id, content: "hi" }).catch((e) => e);
      expect(notMember.status).toBe(403);
      const blank = await messages.send({ roomId: room.id, userId: ann.id, content: "  " }).catch((e) => e);
      expect(blank).toMatchObject({ status: 400, details: [{ field: "content" }] });
    });

    test("concurrent sends and racing retries keep the counter contiguous", async () => {
      const room = await rooms.create(ann.id, { name: "Busy" });
      await rooms.join(room.id, ben.id);
      const sends = Array.from({ length: 30 }, (_, i) =>
        messages.send({ roomId: room.id, userId: i % 2 ? ann.id : ben.id, content: `m${i}`, clientMsgId: `k${i}` }),
      );
      const retries = Array.from({ length: 10 }, () => messages.send({ roomId: room.id, userId: ann.id, content: "r", clientMsgId: "retry" }));
      const results = await Promise.all([...sends, ...retries]);
      expect(results.filter((r) => r.created)).toHaveLength(31);
      expect(new Set(results.slice(30).map((r) => r.message.id)).size).toBe(1);
      const seqs = [...new Set(results.map((r) => r.message.seq))].sort((a, b) => a - b);
      expect(seqs).toEqual(Array.from({ length: 31 }, (_, i) => i + 1));
      expect((await rooms.get(room.id, ann.id)).lastSeq).toBe(31);
    });

    test("changes: each takes its own value, kept in message_changes, replayed by history(after) and eventsAfter", async () => {
      const room = await rooms.create(ann.id, { name: "Changes" });
      await rooms.join(room.id, ben.id);
      const send = (content: string, userId = ann.id) => messages.send({ roomId: room.id, userId, content }).then((r) => r.message);
      const a = await send("a"); // 1
      const b = await send("b", ben.id); // 2
      await messages.edit(a.id, ann.id, "a1"); // 3
      await messages.edit(a.id, ann.id, "a2"); // 4
      await messages.toggleReaction(b.id, ann.id, "🔥"); // 5
      const c = await send("c"); // 6
      await messages.remove(b.id, ann.id); // 7 (the owner deletes ben's message)

      const changes = await t.stores.database.db
        .select({ seq: messageChanges.seq, messageId: messageChanges.messageId, kind: messageChanges.kind })
        .from(messageChanges)
        .where(eq(messageChanges.roomId, room.id))
        .orderBy(asc(messageChanges.seq));
      expect(changes).toEqual([
        { seq: 3, messageId: a.id, kind: "edited" },
        { seq: 4, messageId: a.id, kind: "edited" },
        { seq: 5, messageId: b.id, kind: "reaction" },
        { seq: 7, messageId: b.id, kind: "deleted" },
      ]);

      const events = await messages.eventsAfter(room.id, 2, 100);
      expect(events.map((e) => [e.seq, e.kind, e.message.id])).toEqual([
        [3, "message_updated", a.id],
        [4, "message_updated", a.id],
        [5, "message_updated", b.id],
        [6, "new_message", c.id],
        [7, "message_deleted", b.id],
      ]);
      // Parse before toMatchObject: bun writes asymmetric matchers into the received object.
      for (const e of events) expect(Message.strict().parse(e.message)).toEqual(e.message);
      // Every event carries the message as it is now.
      expect(events[0]!.message).toMatchObject({ content: "a2", updatedSeq: 4, editedAt: expect.any(String) });
      expect(events[2]!.message).toMatchObject({ content: "", updatedSeq: 7, reactions: [] });
      expect((await messages.eventsAfter(room.id, 0, 3)).map((e) => e.seq)).toEqual([1, 2, 3]);
      expect(await messages.eventsAfter(room.id, 7, 100)).toEqual([]);
      expect(await messages.eventsAfter("not-a-uuid", 0, 100)).toEqual([]);

      const caughtUp = await messages.history(room.id, ben.id, { after: 2, limit: 50 });
      expect(caughtUp.data.map((m) => [m.id, m.updatedSeq ?? m.seq])).toEqual([
        [a.id, 4],
        [c.id, 6],
        [b.id, 7],
      ]);
      expect(caughtUp.nextCursor).toBeNull();
      const firstPage = await messages.history(room.id, ben.id, { after: 2, limit: 2 });
      expect(firstPage.nextCursor).toBe(6);
      const newest = await messages.history(room.slug, ben.id, { limit: 2 });
      expect(newest.data.map((m) => m.seq)).toEqual([2, 6]);
      expect(newest.nextCursor).toBe(2);
      expect((await messages.history(room.slug, ben.id, { before: 2, limit: 2 })).data.map((m) => m.seq)).toEqual([1]);

      const current = await rooms.get(room.id, ben.id);
      expect(current.lastSeq).toBe(7);
      await rooms.markRead(room.id, ben.id, 6);
      expect((await rooms.get(room.id, ben.id)).unreadCount).toBe(0);
    });

    test("search works on this driver too", async () => {
      const room = await rooms.create(ann.id, { name: "Searchable" });
      const word = `quokka${Math.random().toString(36).slice(2, 8)}`;
      const { message } = await messages.send({ roomId: room.id, userId: ann.id, content: `a ${word} smiles` });
      expect((await messages.search(ann.id, word)).map((m) => m.id)).toEqual([message.id]);
      expect(await messages.search(ben.id, word)).toEqual([]);
    });
  });
}

// fake-indexeddb is a complete IndexedDB implementation in JavaScript (Bun has no IndexedDB).
import { describe, expect, test } from "bun:test";
import { IDBFactory } from "fake-indexeddb";
import { createOutboxSender, deleteLocalData, openOutbox, type OutboxEntry, type SendResult } from "./outbox.ts";

const entry = (n: number, roomId = "r1"): OutboxEntry => ({
  clientMsgId: `c-${n}`,
  roomId,
  content: `written offline ${n}`,
  author: { id: "u1", username: "me" },
  createdAt: new Date(1_700_000_000_000 + n).toISOString(),
});

describe("outbox", () => {
  test("entries survive closing and reopening (a reload), in the order written", async () => {
    const idb = new IDBFactory();
    const first = await openOutbox(idb);
    await first.add(entry(2));
    await first.add(entry(1));
    await first.add(entry(1)); // the same clientMsgId again: still one entry
    first.close();
    const again = await openOutbox(idb);
    expect((await again.all()).map((e) => e.clientMsgId)).toEqual(["c-1", "c-2"]);
  });

  test("each entry is sent once with its clientMsgId, even when flushes overlap; sent entries leave", async () => {
    const outbox = await openOutbox(new IDBFactory());
    for (const n of [1, 2, 3]) await outbox.add(entry(n));
    const sent: string[] = [];
    const sender = createOutboxSender(outbox, async (e) => {
      sent.push(e.clientMsgId);
      await Bun.sleep(5);
      return "sent";
    });
    await Promise.all([sender.flush("r1"), sender.flush("r1"), sender.flush()]);
    expect(sent.sort()).toEqual(["c-1", "c-2", "c-3"]);
    expect(await outbox.all()).toEqual([]);
  });

  test("offline entries stay for the next flush, in order; rejected ones leave and are reported", async () => {
    const outbox = await openOutbox(new IDBFactory());
    for (const n of [1, 2, 3]) await outbox.add(entry(n));
    let online = false;
    const attempts: string[] = [];
    const rejected: string[] = [];
    const sender = createOutboxSender(
      outbox,
      async (e): Promise<SendResult> => {
        attempts.push(e.clientMsgId);
        if (!online) return "offline";
        return e.clientMsgId === "c-2" ? "rejected" : "sent";
      },
      (e) => rejected.push(e.clientMsgId),
    );
    await sender.flush();
    expect(attempts).toEqual(["c-1"]); // a room stops at its first entry that cannot go: order is kept
    expect((await outbox.all()).length).toBe(3);
    online = true;
    await sender.flush();
    expect(attempts).toEqual(["c-1", "c-1", "c-2", "c-3"]);
    expect(rejected).toEqual(["c-2"]);
    expect(await outbox.all()).toEqual([]);
  });

  test("one room that cannot send does not hold back another room's entries", async () => {
    const outbox = await openOutbox(new IDBFactory());
    await outbox.add(entry(1, "r1"));
    await outbox.add(entry(2, "r2"));
    await outbox.add(entry(3, "r1"));
    const attempts: string[] = [];
    const sender = createOutboxSender(outbox, async (e) => {
      attempts.push(e.clientMsgId);
      return e.roomId === "r1" ? "offline" : "sent";
    });
    await sender.flush();
    expect(attempts).toEqual(["c-1", "c-2"]);
    expect((await outbox.all()).map((e) => e.clientMsgId)).toEqual(["c-1", "c-3"]);
  });

  test("a flush for one room leaves the other rooms' entries alone", async () => {
    const outbox = await openOutbox(new IDBFactory());
    await outbox.add(entry(1, "r1"));
    await outbox.add(entry(2, "r2"));
    const sender = createOutboxSender(outbox, async () => "sent");
    await sender.flush("r2");
    expect((await outbox.all()).map((e) => e.roomId)).toEqual(["r1"]);
  });

  test("logging out deletes the local database", async () => {
    const idb = new IDBFactory();
    const outbox = await openOutbox(idb);
    await outbox.add(entry(1));
    outbox.close();
    await deleteLocalData(idb);
    const fresh = await openOutbox(idb);
    expect(await fresh.all()).toEqual([]);
  });
});

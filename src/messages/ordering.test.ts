import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import postgres from "postgres";
import { messages, rooms } from "../db/schema.ts";
import type { DomainEvent } from "../events.ts";
import type { Message, Room } from "../protocol.ts";
import { createRoom, joinRoom, type TestUser } from "../../test/support/chat.ts";
import { createTestApp, registerUser, type TestApp } from "../../test/support/test-app.ts";
import { historyQuery, type HistoryRequest } from "./history.ts";

/** Runs `task(i)` for i in [0, count) with at most `width` in flight. */
async function inParallel<T>(count: number, width: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      results[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: width }, worker));
  return results;
}

describe("ordering and idempotency on Postgres", () => {
  let t: TestApp;
  let users: TestUser[];
  let sql: postgres.Sql;

  beforeAll(async () => {
    t = await createTestApp("postgres", { RATE_LIMIT_MULTIPLIER: "1000", DB_POOL_SIZE: "20" });
    users = await Promise.all([registerUser(t, "o1"), registerUser(t, "o2"), registerUser(t, "o3"), registerUser(t, "o4")]);
    sql = postgres(t.env.DATABASE_URL!, { max: 4, onnotice: () => {} });
  }, 30_000);
  afterAll(async () => {
    await sql?.end();
    await t?.close();
  });

  const roomFor = async () => {
    const room = await createRoom(t, users[0]!);
    await Promise.all(users.slice(1).map((u) => joinRoom(t, u, room)));
    return room;
  };
  const send = (room: Room, user: TestUser, content: string, clientMsgId: string) =>
    t.call("POST", `/api/rooms/${room.id}/messages`, { token: user.token, body: { content, clientMsgId } });

  test("100 concurrent posts to one room get seq 1..100, each exactly once", async () => {
    const room = await roomFor();
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => send(room, users[i % users.length]!, `m${i}`, `c${i}`)));
    expect(results.every((r) => r.status === 201)).toBe(true);
    const seqs = results.map((r) => r.body.seq as number).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    const [row] = await sql`select last_seq from rooms where id = ${room.id}`;
    expect(Number(row!.last_seq)).toBe(100);
  });

  test("20 racing retries of one clientMsgId make one row and burn no counter value", async () => {
    const room = await roomFor();
    const first = await send(room, users[1]!, "before", "before");
    const results = await Promise.all(Array.from({ length: 20 }, () => send(room, users[0]!, "retry me", "same-id")));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([...Array(19).fill(200), 201].sort());
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
    expect(results[0]!.body.seq).toBe(first.body.seq + 1);
    const rows = await sql`select count(*)::int as n from messages where room_id = ${room.id} and client_msg_id = 'same-id'`;
    expect(rows[0]!.n).toBe(1);
    const next = await send(room, users[2]!, "after", "after");
    expect(next.body.seq).toBe(first.body.seq + 2);
  });

  test("a 1,000-message room pages down (before) and up (after) without gaps or repeats", async () => {
    const room = await roomFor();
    const results = await inParallel(1000, 40, (i) => send(room, users[i % users.length]!, `n${i}`, `p${i}`));
    expect(results.every((r) => r.status === 201)).toBe(true);

    const down: number[] = [];
    let cursor: number | null = null;
    let pages = 0;
    do {
      const query: string = cursor === null ? "limit=100" : `limit=100&before=${cursor}`;
      const res = await t.call("GET", `/api/rooms/${room.id}/messages?${query}`, { token: users[3]!.token });
      const seqs = res.body.data.map((m: Message) => m.seq);
      expect(seqs).toEqual([...seqs].sort((a: number, b: number) => a - b));
      down.unshift(...seqs);
      cursor = res.body.nextCursor;
      if (cursor !== null) expect(cursor).toBe(seqs[0]);
      pages++;
    } while (cursor !== null);
    expect(pages).toBe(10);
    expect(down).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));

    const up: number[] = [];
    let after = 0;
    for (;;) {
      const res = await t.call("GET", `/api/rooms/${room.id}/messages?limit=37&after=${after}`, { token: users[3]!.token });
      up.push(...res.body.data.map((m: Message) => m.seq));
      if (res.body.nextCursor === null) break;
      after = res.body.nextCursor;
    }
    expect(up).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    const caughtUp = await t.call("GET", `/api/rooms/${room.id}/messages?after=1000`, { token: users[3]!.token });
    expect(caughtUp.body).toEqual({ data: [], nextCursor: null });
    // About 1 s alone; the whole suite on two shared cores has taken it past the default 5 s.
  }, 30_000);

  test("domain events come after commit, carrying the value each change took", async () => {
    const room = await roomFor();
    const seen: DomainEvent[] = [];
    const visibleAtEmit: Promise<unknown>[] = [];
    const stop = t.events.on((event) => {
      seen.push(event);
      if (event.type !== "room.event") return;
      // Another connection must already see the committed state when we are told.
      visibleAtEmit.push(
        sql`select seq, updated_seq from messages where id = ${event.event.message.id}`.then(([row]) => {
          const latest = Number(row?.updated_seq ?? row?.seq);
          expect(latest).toBeGreaterThanOrEqual(event.event.seq);
        }),
      );
    });
    try {
      const sent = await send(room, users[1]!, "hello", "ev-1");
      const edited = await t.call("PATCH", `/api/messages/${sent.body.id}`, { token: users[1]!.token, body: { content: "hello!" } });
      await t.call("POST", `/api/messages/${sent.body.id}/reactions`, { token: users[2]!.token, body: { emoji: "👋" } });
      await t.call("DELETE", `/api/messages/${sent.body.id}`, { token: users[0]!.token });
      await send(room, users[1]!, "hello", "ev-1"); // a replayed send announces nothing
      await Promise.all(visibleAtEmit);
      const roomEvents = seen.flatMap((e) => (e.type === "room.event" ? [e.event] : []));
      expect(roomEvents.map((e) => [e.kind, e.seq])).toEqual([
        ["new_message", 1],
        ["message_updated", 2],
        ["message_updated", 3],
        ["message_deleted", 4],
      ]);
      expect(roomEvents.every((e) => e.roomId === room.id && e.message.id === sent.body.id)).toBe(true);
      expect(roomEvents[1]!.message).toEqual(edited.body);
      expect(roomEvents[2]!.message.reactions).toEqual([{ emoji: "👋", count: 1, userIds: [users[2]!.id] }]);
      expect(roomEvents[3]!.message).toMatchObject({ content: "", updatedSeq: 4, reactions: [] });
    } finally {
      stop();
    }
  });

  test("history and catch-up queries use the indexes, not a scan of messages", async () => {
    const room = await roomFor();
    const author = users[0]!.id;
    // Enough rows in enough rooms that the planner would notice a scan.
    const others = await Promise.all(Array.from({ length: 9 }, () => createRoom(t, users[0]!)));
    for (const r of [room, ...others]) {
      await sql`insert into messages (id, room_id, seq, author_id, client_msg_id, content)
        select gen_random_uuid(), ${r.id}, g, ${author}, 'bulk-' || g, 'text ' || g from generate_series(1, 3000) g`;
      await t.stores.database.db.update(rooms).set({ lastSeq: 3000 }).where(eq(rooms.id, r.id));
    }
    await sql`update messages set updated_seq = seq + 1 where room_id = ${room.id} and seq % 100 = 0`;
    await sql`analyze`;
    const requests: HistoryRequest[] = [{ limit: 50 }, { before: 1500, limit: 50 }, { after: 2990, limit: 50 }];
    for (const req of requests) {
      const query = historyQuery(t.stores.database.db, room.id, req).toSQL();
      const plan = await sql.unsafe(`explain ${query.sql}`, query.params as postgres.ParameterOrJSON<never>[]);
      const text = plan.map((row) => row["QUERY PLAN"]).join("\n");
      expect(text).not.toContain("Seq Scan on messages");
      expect(text).toContain("messages_room");
    }
    const count = await t.stores.database.db.$count(messages, eq(messages.roomId, room.id));
    expect(count).toBe(3000);
  });
});

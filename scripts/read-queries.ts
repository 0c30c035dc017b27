// The expensive reads as the app runs them, on a seeded history (seed-messages.ts):
// what `bun run bench:queries` explains and the plan tests bound.
import { sql } from "drizzle-orm";
import type { Database } from "../src/db/client.ts";
import { createDomainEvents } from "../src/events.ts";
import { historyQuery } from "../src/messages/history.ts";
import { createMessages } from "../src/messages/store.ts";
import { createRooms } from "../src/rooms/store.ts";
import type { Seeded } from "./seed-messages.ts";

export interface NamedQuery {
  name: string;
  query: Parameters<typeof import("../src/db/explain.ts").explain>[1];
}

export function readQueries(database: Database, seeded: Seeded): NamedQuery[] {
  const events = createDomainEvents(() => {});
  const rooms = createRooms(database.db, events);
  const messages = createMessages({ database, events, rooms });
  const { bigRoomId, readerId, words } = seeded;
  return [
    { name: "search, big room, word in every message", query: messages.searchQuery(readerId, words.common, bigRoomId) },
    { name: "search, big room, word in 1%", query: messages.searchQuery(readerId, words.middling, bigRoomId) },
    { name: "search, big room, word in 0.01%", query: messages.searchQuery(readerId, words.rare, bigRoomId) },
    { name: "search, all my rooms, word in every message", query: messages.searchQuery(readerId, words.common) },
    { name: "search, all my rooms, word in 0.01%", query: messages.searchQuery(readerId, words.rare) },
    { name: "room list page (50 rooms, unread counts, nothing read)", query: rooms.listQuery(readerId, { limit: 50 }) },
    { name: "history after=0, big room", query: historyQuery(database.db, bigRoomId, { after: 0, limit: 50 }) },
    { name: "history, newest page, big room", query: historyQuery(database.db, bigRoomId, { limit: 50 }) },
    { name: "history before=middle, big room", query: historyQuery(database.db, bigRoomId, { before: Math.floor(seeded.bigRoomMessages / 2), limit: 50 }) },
  ];
}

/** The same reads as they were written before they were bounded, for comparison in the bench. */
export function unboundedQueries(seeded: Seeded): NamedQuery[] {
  const { bigRoomId, readerId, words } = seeded;
  return [
    {
      name: "(before) search, big room, word in every message: sorts every match",
      query: sql`select id from messages where room_id = ${bigRoomId} and deleted_at is null
        and search @@ websearch_to_tsquery('simple', ${words.common}) order by created_at desc, seq desc limit 50`,
    },
    {
      name: "(before) room list page: exact unread count per room",
      query: sql`select r.id, (select count(*) from messages x where x.room_id = r.id and x.seq > me.last_read_seq
          and x.author_id <> me.user_id and x.deleted_at is null) from rooms r
        left join room_members me on me.room_id = r.id and me.user_id = ${readerId}
        where (not r.is_private or me.user_id is not null) order by r.id limit 51`,
    },
    {
      name: "(before) history after=0, big room: OR of the two counters, sorted",
      query: sql`select id from messages where room_id = ${bigRoomId} and (seq > 0 or updated_seq > 0)
        order by coalesce(updated_seq, seq) limit 51`,
    },
  ];
}

import { eq } from "drizzle-orm";
import type { Database } from "../db/client.ts";
import { rooms as roomsTable } from "../db/schema.ts";
import type { Messages } from "../messages/store.ts";
import type { RoomEvent } from "../protocol.ts";

/** What the hub asks Postgres: replays, counters, and the periodic re-checks. */
export interface HubDomain {
  /** One event per counter value above `afterSeq`, in order, at most `limit`. */
  eventsAfter(roomId: string, afterSeq: number, limit: number): Promise<RoomEvent[]>;
  lastSeq(roomId: string): Promise<number>;
  /** Counter values and member removals so far of several rooms at once (the periodic re-check). */
  roomStates(roomIds: string[]): Promise<Map<string, RoomState>>;
  /** Which of these sessions are revoked or expired. */
  endedSessions(sessionIds: string[]): Promise<string[]>;
  /** Which of these (room, user) pairs are memberships. */
  memberships(pairs: { roomId: string; userId: string }[]): Promise<{ roomId: string; userId: string }[]>;
}

export interface RoomState {
  lastSeq: number;
  /** Members ever removed (rooms.member_removals, kept by a trigger): a membership can only end by moving it. */
  memberRemovals: number;
}

// The periodic re-checks run every second over everything open on the instance: each is one
// prepared statement with array parameters (one bind value however many ids, so no chunking
// and no 65,535-parameter ceiling), not a query rebuilt by the ORM with an IN-list each time.
const ROOM_STATES = `select id, last_seq, member_removals from rooms where id = any($1::uuid[])`;
const MEMBERSHIPS = `select m.room_id, m.user_id from room_members m
  join unnest($1::uuid[], $2::uuid[]) as p(room_id, user_id) on m.room_id = p.room_id and m.user_id = p.user_id`;
const ENDED_SESSIONS = `select id from sessions where id = any($1::uuid[]) and (revoked_at is not null or expires_at <= now())`;

export function createHubDomain(database: Database, messages: Messages): HubDomain {
  const { db } = database;
  return {
    eventsAfter: messages.eventsAfter,
    async lastSeq(roomId) {
      const [row] = await db.select({ lastSeq: roomsTable.lastSeq }).from(roomsTable).where(eq(roomsTable.id, roomId));
      return row?.lastSeq ?? 0;
    },
    async roomStates(roomIds) {
      const rows = await database.queryRows<{ id: string; last_seq: number | string; member_removals: number | string }>(ROOM_STATES, [roomIds]);
      return new Map(rows.map((r) => [r.id, { lastSeq: Number(r.last_seq), memberRemovals: Number(r.member_removals) }]));
    },
    async memberships(pairs) {
      const rows = await database.queryRows<{ room_id: string; user_id: string }>(MEMBERSHIPS, [pairs.map((p) => p.roomId), pairs.map((p) => p.userId)]);
      return rows.map((r) => ({ roomId: r.room_id, userId: r.user_id }));
    },
    async endedSessions(sessionIds) {
      const rows = await database.queryRows<{ id: string }>(ENDED_SESSIONS, [sessionIds]);
      return rows.map((r) => r.id);
    },
  };
}

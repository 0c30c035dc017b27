import { and, eq, inArray, isNotNull, lte, or } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { roomMembers, rooms as roomsTable, sessions as sessionsTable } from "../db/schema.ts";
import type { Messages } from "../messages/store.ts";
import type { HubDomain } from "./hub.ts";

/** What the hub asks Postgres: replays, counters, and re-checks after a bus outage. */
export function createHubDomain(db: Db, messages: Messages): HubDomain {
  return {
    eventsAfter: messages.eventsAfter,
    async lastSeq(roomId) {
      const [row] = await db.select({ lastSeq: roomsTable.lastSeq }).from(roomsTable).where(eq(roomsTable.id, roomId));
      return row?.lastSeq ?? 0;
    },
    async lastSeqs(roomIds) {
      const rows = await db
        .select({ id: roomsTable.id, lastSeq: roomsTable.lastSeq })
        .from(roomsTable)
        .where(inArray(roomsTable.id, roomIds));
      return new Map(rows.map((r) => [r.id, r.lastSeq]));
    },
    async memberships(pairs) {
      if (!pairs.length) return [];
      return db
        .select({ roomId: roomMembers.roomId, userId: roomMembers.userId })
        .from(roomMembers)
        .where(
          and(
            inArray(roomMembers.roomId, [...new Set(pairs.map((p) => p.roomId))]),
            inArray(roomMembers.userId, [...new Set(pairs.map((p) => p.userId))]),
          ),
        );
    },
    async revokedSessions(sessionIds) {
      const rows = await db
        .select({ id: sessionsTable.id })
        .from(sessionsTable)
        .where(and(inArray(sessionsTable.id, sessionIds), or(isNotNull(sessionsTable.revokedAt), lte(sessionsTable.expiresAt, new Date()))));
      return rows.map((r) => r.id);
    },
  };
}

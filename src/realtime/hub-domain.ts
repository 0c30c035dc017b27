import { and, eq, inArray, isNotNull, lte, or } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { roomMembers, rooms as roomsTable, sessions as sessionsTable } from "../db/schema.ts";
import type { Messages } from "../messages/store.ts";
import type { RoomEvent } from "../protocol.ts";

/** What the hub asks Postgres: replays, counters, and the periodic re-checks. */
export interface HubDomain {
  /** One event per counter value above `afterSeq`, in order, at most `limit`. */
  eventsAfter(roomId: string, afterSeq: number, limit: number): Promise<RoomEvent[]>;
  lastSeq(roomId: string): Promise<number>;
  /** Counter values of several rooms at once (the periodic reconcile). */
  lastSeqs(roomIds: string[]): Promise<Map<string, number>>;
  /** Which of these sessions are revoked or expired. */
  endedSessions(sessionIds: string[]): Promise<string[]>;
  /** Which of these (room, user) pairs are memberships. */
  memberships(pairs: { roomId: string; userId: string }[]): Promise<{ roomId: string; userId: string }[]>;
}

/** Ids per statement: far below Postgres's 65,535 bind parameters, whatever is open. */
export const RECHECK_CHUNK = 1_000;

async function inChunks<T, R>(items: T[], size: number, run: (chunk: T[]) => Promise<R[]>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) out.push(...(await run(items.slice(i, i + size))));
  return out;
}

export function createHubDomain(db: Db, messages: Messages): HubDomain {
  return {
    eventsAfter: messages.eventsAfter,
    async lastSeq(roomId) {
      const [row] = await db.select({ lastSeq: roomsTable.lastSeq }).from(roomsTable).where(eq(roomsTable.id, roomId));
      return row?.lastSeq ?? 0;
    },
    async lastSeqs(roomIds) {
      const rows = await inChunks(roomIds, RECHECK_CHUNK, (ids) =>
        db.select({ id: roomsTable.id, lastSeq: roomsTable.lastSeq }).from(roomsTable).where(inArray(roomsTable.id, ids)),
      );
      return new Map(rows.map((r) => [r.id, r.lastSeq]));
    },
    async memberships(pairs) {
      // Both IN-lists come from one chunk of pairs, so a statement binds at most 2 x RECHECK_CHUNK values.
      return inChunks(pairs, RECHECK_CHUNK, async (chunk) => {
        const wanted = new Set(chunk.map((p) => `${p.roomId}\n${p.userId}`));
        const rows = await db
          .select({ roomId: roomMembers.roomId, userId: roomMembers.userId })
          .from(roomMembers)
          .where(
            and(
              inArray(roomMembers.roomId, [...new Set(chunk.map((p) => p.roomId))]),
              inArray(roomMembers.userId, [...new Set(chunk.map((p) => p.userId))]),
            ),
          );
        return rows.filter((r) => wanted.has(`${r.roomId}\n${r.userId}`));
      });
    },
    async endedSessions(sessionIds) {
      const rows = await inChunks(sessionIds, RECHECK_CHUNK, (ids) =>
        db
          .select({ id: sessionsTable.id })
          .from(sessionsTable)
          .where(and(inArray(sessionsTable.id, ids), or(isNotNull(sessionsTable.revokedAt), lte(sessionsTable.expiresAt, new Date())))),
      );
      return rows.map((r) => r.id);
    },
  };
}

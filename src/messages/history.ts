import { and, asc, desc, eq, gt, isNull, lt, sql } from "drizzle-orm";
import { unionAll } from "drizzle-orm/pg-core";
import type { Db } from "../db/client.ts";
import { messages, users } from "../db/schema.ts";
import { messageColumns } from "./message-view.ts";

/** At most one of before / after; neither means the newest page. */
export interface HistoryRequest {
  before?: number;
  after?: number;
  limit: number;
}

/** The latest counter value a message took: its last change, else its creation. */
export const latestSeq = sql<number>`coalesce(${messages.updatedSeq}, ${messages.seq})`.mapWith(Number);

/**
 * One row more than the page, to tell whether another page follows.
 * Pages walk the (room_id, seq) index backwards. Catch-up (after) is two
 * index-ordered walks, each stopped at the page size, merged: messages never
 * changed, by (room_id, seq), and changed ones, by (room_id, updated_seq). An
 * OR of the two would read the whole room after N and sort it (after=0 on a
 * room of a million messages).
 */
export function historyQuery(db: Db, roomId: string, req: HistoryRequest) {
  const base = () => db.select(messageColumns).from(messages).innerJoin(users, eq(users.id, messages.authorId)).$dynamic();
  if (req.after !== undefined) {
    // A union can be ordered only by a column of its own.
    const withLatest = () =>
      db
        .select({ ...messageColumns, latest: sql<number>`coalesce(${messages.updatedSeq}, ${messages.seq})`.as("latest") })
        .from(messages)
        .innerJoin(users, eq(users.id, messages.authorId))
        .$dynamic();
    const unchanged = withLatest()
      .where(and(eq(messages.roomId, roomId), gt(messages.seq, req.after), isNull(messages.updatedSeq)))
      .orderBy(asc(messages.seq))
      .limit(req.limit + 1);
    // A change's value is above the message's own seq, so every message changed after N is here.
    const changed = withLatest()
      .where(and(eq(messages.roomId, roomId), gt(messages.updatedSeq, req.after)))
      .orderBy(asc(messages.updatedSeq))
      .limit(req.limit + 1);
    return unionAll(unchanged, changed).orderBy(sql`latest`).limit(req.limit + 1);
  }
  return base()
    .where(and(eq(messages.roomId, roomId), req.before === undefined ? undefined : lt(messages.seq, req.before)))
    .orderBy(desc(messages.seq))
    .limit(req.limit + 1);
}

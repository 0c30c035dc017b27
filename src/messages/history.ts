import { and, asc, desc, eq, gt, lt, or, sql } from "drizzle-orm";
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
 * Pages walk the (room_id, seq) index backwards; catch-up (after) reads the
 * (room_id, seq) and (room_id, updated_seq) indexes.
 */
export function historyQuery(db: Db, roomId: string, req: HistoryRequest) {
  const base = db.select(messageColumns).from(messages).innerJoin(users, eq(users.id, messages.authorId)).$dynamic();
  if (req.after !== undefined) {
    return base
      .where(and(eq(messages.roomId, roomId), or(gt(messages.seq, req.after), gt(messages.updatedSeq, req.after))))
      .orderBy(asc(latestSeq))
      .limit(req.limit + 1);
  }
  return base
    .where(and(eq(messages.roomId, roomId), req.before === undefined ? undefined : lt(messages.seq, req.before)))
    .orderBy(desc(messages.seq))
    .limit(req.limit + 1);
}

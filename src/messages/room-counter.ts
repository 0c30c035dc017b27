import { eq, sql } from "drizzle-orm";
import type { Tx } from "../db/client.ts";
import { rooms } from "../db/schema.ts";
import { notFound } from "../http/errors.ts";

/**
 * The room's next event value, taken inside the caller's transaction. The row
 * lock it holds until commit makes seq order equal commit order, and a rollback
 * gives the value back (see DESIGN.md, "Delivery rules").
 */
export async function takeNextSeq(tx: Tx, roomId: string): Promise<number> {
  const [row] = await tx
    .update(rooms)
    .set({ lastSeq: sql`${rooms.lastSeq} + 1` })
    .where(eq(rooms.id, roomId))
    .returning({ lastSeq: rooms.lastSeq });
  if (!row) throw notFound("room");
  return Number(row.lastSeq);
}

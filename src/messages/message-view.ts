import { inArray } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { messages, reactions, users } from "../db/schema.ts";
import type { Message, Reaction } from "../protocol.ts";

/** Select these from messages joined with users (the author), then pass the rows to `toMessages`. */
export const messageColumns = {
  id: messages.id,
  roomId: messages.roomId,
  seq: messages.seq,
  updatedSeq: messages.updatedSeq,
  authorId: messages.authorId,
  authorName: users.username,
  content: messages.content,
  clientMsgId: messages.clientMsgId,
  sentAt: messages.sentAt,
  createdAt: messages.createdAt,
  editedAt: messages.editedAt,
  deletedAt: messages.deletedAt,
};

export interface MessageRow {
  id: string;
  roomId: string;
  seq: number;
  updatedSeq: number | null;
  authorId: string;
  authorName: string;
  content: string;
  clientMsgId: string;
  sentAt: number | null;
  createdAt: Date;
  editedAt: Date | null;
  deletedAt: Date | null;
}

/** The public shape, with reactions grouped by emoji in the order they were first used. */
export async function toMessages(db: Db, rows: MessageRow[]): Promise<Message[]> {
  if (!rows.length) return [];
  const reactionRows = await db
    .select({ messageId: reactions.messageId, emoji: reactions.emoji, userId: reactions.userId })
    .from(reactions)
    .where(inArray(reactions.messageId, rows.map((r) => r.id)))
    .orderBy(reactions.createdAt, reactions.userId);
  const byMessage = new Map<string, Map<string, string[]>>();
  for (const r of reactionRows) {
    const emojis = byMessage.get(r.messageId) ?? new Map<string, string[]>();
    emojis.set(r.emoji, [...(emojis.get(r.emoji) ?? []), r.userId]);
    byMessage.set(r.messageId, emojis);
  }
  return rows.map((row) => {
    const grouped: Reaction[] = [...(byMessage.get(row.id) ?? [])].map(([emoji, userIds]) => ({ emoji, count: userIds.length, userIds }));
    return {
      id: row.id,
      roomId: row.roomId,
      seq: Number(row.seq),
      updatedSeq: row.updatedSeq === null ? null : Number(row.updatedSeq),
      author: { id: row.authorId, username: row.authorName },
      content: row.content,
      clientMsgId: row.clientMsgId,
      sentAt: row.sentAt === null ? null : Number(row.sentAt),
      createdAt: row.createdAt.toISOString(),
      editedAt: row.editedAt?.toISOString() ?? null,
      deletedAt: row.deletedAt?.toISOString() ?? null,
      reactions: grouped,
    };
  });
}

import { and, desc, eq, gt, inArray, isNull, sql } from "drizzle-orm";
import { executeRows, type Database, type Tx } from "../db/client.ts";
import { messageChanges, messages, reactions, roomMembers, rooms as roomTable, users } from "../db/schema.ts";
import { isUuid } from "../db/uuid.ts";
import type { DomainEvents } from "../events.ts";
import { AppError, conflict, forbidden, invalid, notFound, pgError, UNIQUE_VIOLATION } from "../http/errors.ts";
import type { RateLimiter } from "../rate-limit/limiter.ts";
import { Content, type Message, type RoomEvent, type RoomEventKind } from "../protocol.ts";
import type { MemberRole, Rooms } from "../rooms/store.ts";
import { Emoji } from "./emoji.ts";
import { historyQuery, type HistoryRequest } from "./history.ts";
import { messageColumns, toMessages } from "./message-view.ts";
import { takeNextSeq } from "./room-counter.ts";

export interface SendInput {
  /** Id or slug; the WebSocket layer may pass the id it already resolved as roomId instead. */
  roomKey?: string;
  roomId?: string;
  userId: string;
  content: string;
  /** Required over HTTP; made up here when a WebSocket client leaves it out. */
  clientMsgId?: string;
  /** The sender's clock, epoch ms. */
  sentAt?: number | null;
}

export interface Page<T> {
  data: T[];
  nextCursor: number | null;
}

/** Per user, before RATE_LIMIT_MULTIPLIER. */
export const SEARCH_LIMIT = 50;
/** Messages of the scope a search reads at most (its bound), and the rooms they are split over. */
export const SEARCH_SCAN_MAX = 5_000;
export const SEARCH_ROOMS_MAX = 50;

type ChangeKind = "edited" | "deleted" | "reaction";
const EVENT_OF_CHANGE: Record<ChangeKind, RoomEventKind> = {
  edited: "message_updated",
  reaction: "message_updated",
  deleted: "message_deleted",
};

/** The message a change is about, locked for the change's transaction, with the caller's role in its room. */
interface ChangeTarget {
  id: string;
  roomId: string;
  authorId: string;
  deletedAt: Date | null;
  role: MemberRole | null;
}

export interface MessagesDeps {
  database: Database;
  events: DomainEvents;
  rooms: Rooms;
  /** Send rate limit per user; left out by tests that measure the store alone. */
  limiter?: RateLimiter;
  /** Seconds of the send statement, and of a send from its arrival until handed to the hub and bus. */
  timings?: { persist(seconds: number): void; delivery(seconds: number): void };
  /** Distinct emoji one message may carry (MAX_REACTIONS_PER_MESSAGE); default 20. */
  maxReactionsPerMessage?: number;
}

// $1 id, $2 room, $3 author, $4 clientMsgId, $5 content, $6 sentAt. Prepared once per connection.
const SEND_STATEMENT = `
  with existing as (
    select 1 from messages where room_id = $2::uuid and author_id = $3::uuid and client_msg_id = $4::text
  ), next as (
    update rooms set last_seq = last_seq + 1
    where id = $2::uuid
      and not exists (select 1 from existing)
      and exists (select 1 from room_members where room_id = $2::uuid and user_id = $3::uuid)
    returning last_seq
  ), inserted as (
    insert into messages (id, room_id, seq, author_id, client_msg_id, content, sent_at)
    select $1::uuid, $2::uuid, next.last_seq, $3::uuid, $4::text, $5::text, $6::bigint
    from next
    returning seq, created_at
  )
  select inserted.seq, inserted.created_at, (select username from users where id = $3::uuid) as username
  from inserted`;

/** The stores are called by the WebSocket layer too: content is checked here as well as at each edge. */
function checkContent(content: string) {
  const checked = Content.safeParse(content);
  if (!checked.success) throw invalid([{ field: "content", message: checked.error.issues.map((i) => i.message).join("; ") }]);
}

export function createMessages({ database, events, rooms, limiter, timings, maxReactionsPerMessage = 20 }: MessagesDeps) {
  const { db } = database;
  const selectMessages = () => db.select(messageColumns).from(messages).innerJoin(users, eq(users.id, messages.authorId)).$dynamic();

  async function loadById(ids: string[]): Promise<Map<string, Message>> {
    if (!ids.length) return new Map();
    const loaded = await toMessages(db, await selectMessages().where(inArray(messages.id, ids)));
    return new Map(loaded.map((m) => [m.id, m]));
  }

  async function loadOne(id: string): Promise<Message> {
    const message = (await loadById([id])).get(id);
    if (!message) throw notFound("message");
    return message;
  }

  async function findByClientMsgId(roomId: string, authorId: string, clientMsgId: string): Promise<Message | undefined> {
    const rows = await selectMessages()
      .where(and(eq(messages.roomId, roomId), eq(messages.authorId, authorId), eq(messages.clientMsgId, clientMsgId)))
      .limit(1);
    return (await toMessages(db, rows))[0];
  }

  async function send(input: SendInput): Promise<{ message: Message; created: boolean }> {
    const arrived = performance.now();
    const { userId } = input;
    checkContent(input.content);
    // Answered by this process now, settled with the shared bucket right after (no Redis round trip before a send).
    if (limiter) await limiter.takeSoon("send", userId);
    const roomKey = input.roomId ?? input.roomKey;
    if (!roomKey) throw notFound("room");
    const clientMsgId = input.clientMsgId ?? crypto.randomUUID();
    // A clock value outside int8's safe range is not a clock: drop it rather than fail the send.
    const sentAt = input.sentAt != null && Number.isSafeInteger(Math.round(input.sentAt)) ? Math.round(input.sentAt) : null;
    // An id goes straight to the one statement below, which checks membership itself; a slug is resolved first.
    const roomId = isUuid(roomKey) ? roomKey.toLowerCase() : (await rooms.resolveReadable(roomKey, userId)).id;

    let inserted: Awaited<ReturnType<typeof insertUnlessSent>>;
    try {
      const persistStart = performance.now();
      inserted = await insertUnlessSent({ roomId, authorId: userId, clientMsgId, content: input.content, sentAt });
      timings?.persist((performance.now() - persistStart) / 1000);
    } catch (err) {
      // A racing retry committed first: our statement rolled back, so no value was burned.
      const { code, constraint } = pgError(err);
      if (code !== UNIQUE_VIOLATION || constraint !== "messages_client_msg_key") throw err;
      const original = await findByClientMsgId(roomId, userId, clientMsgId);
      if (!original) throw err;
      return { message: original, created: false };
    }
    if (!inserted) {
      // Nothing was written: a retry of a message already there, or a room this user may not post in.
      const original = await findByClientMsgId(roomId, userId, clientMsgId);
      if (original) return { message: original, created: false };
      const room = await rooms.resolveReadable(roomKey, userId);
      if (!room.role) throw forbidden("join the room to post in it");
      throw notFound("room");
    }
    // Everything about a new message is known here: no read back.
    const message: Message = {
      id: inserted.id,
      roomId,
      seq: inserted.seq,
      updatedSeq: null,
      author: { id: userId, username: inserted.username },
      content: input.content,
      clientMsgId,
      sentAt,
      createdAt: inserted.createdAt.toISOString(),
      editedAt: null,
      deletedAt: null,
      reactions: [],
    };
    // Synchronous: the hub releases it to local sockets (when in order) and starts the bus publish.
    events.emit({ type: "room.event", event: { kind: "new_message", roomId, seq: inserted.seq, message } });
    timings?.delivery((performance.now() - arrived) / 1000);
    return { message, created: true };
  }

  /**
   * The whole send in one statement, so in one transaction and one round trip:
   * look for the same clientMsgId first (a retry burns no value), check
   * membership, take the room's next value (the room row stays locked until
   * commit, so seq order is commit order) and insert. No row back: nothing written.
   */
  async function insertUnlessSent(row: { roomId: string; authorId: string; clientMsgId: string; content: string; sentAt: number | null }) {
    const id = Bun.randomUUIDv7();
    const rows = await database.queryRows<{ seq: number | string; created_at: Date | string; username: string }>(SEND_STATEMENT, [
      id,
      row.roomId,
      row.authorId,
      row.clientMsgId,
      row.content,
      row.sentAt,
    ]);
    const first = rows[0];
    if (!first) return undefined;
    return { id, seq: Number(first.seq), createdAt: new Date(first.created_at), username: first.username };
  }

  /**
   * Runs `apply` on the locked message and, when it reports a change, gives the
   * change the room's next value (messages.updated_seq and a message_changes row).
   * The message row is locked before the room row, always in that order.
   */
  async function change(
    messageId: string,
    userId: string,
    apply: (tx: Tx, target: ChangeTarget) => Promise<ChangeKind | null>,
  ): Promise<Message> {
    if (!isUuid(messageId)) throw notFound("message");
    const id = messageId.toLowerCase();
    const changed = await db.transaction(async (tx) => {
      const [target] = await tx
        .select({
          id: messages.id,
          roomId: messages.roomId,
          authorId: messages.authorId,
          deletedAt: messages.deletedAt,
          isPrivate: roomTable.isPrivate,
          role: roomMembers.role,
        })
        .from(messages)
        .innerJoin(roomTable, eq(roomTable.id, messages.roomId))
        .leftJoin(roomMembers, and(eq(roomMembers.roomId, messages.roomId), eq(roomMembers.userId, userId)))
        .where(eq(messages.id, id))
        .for("update", { of: messages });
      // A message in a private room of others answers like one that does not exist.
      if (!target || (target.isPrivate && !target.role)) throw notFound("message");
      const kind = await apply(tx, target);
      if (!kind) return null;
      const seq = await takeNextSeq(tx, target.roomId);
      await tx.update(messages).set({ updatedSeq: seq }).where(eq(messages.id, id));
      await tx.insert(messageChanges).values({ roomId: target.roomId, seq, messageId: id, kind });
      return { seq, kind, roomId: target.roomId };
    });
    const message = await loadOne(id);
    if (changed) {
      events.emit({ type: "room.event", event: { kind: EVENT_OF_CHANGE[changed.kind], roomId: changed.roomId, seq: changed.seq, message } });
    }
    return message;
  }

  const edit = async (messageId: string, userId: string, content: string) => {
    checkContent(content);
    return change(messageId, userId, async (tx, target) => {
      if (target.authorId !== userId) throw forbidden("only the author edits a message");
      if (target.deletedAt) throw conflict("the message is deleted");
      await tx.update(messages).set({ content, editedAt: new Date() }).where(eq(messages.id, target.id));
      return "edited";
    });
  };

  /** Leaves a tombstone (empty content, deletedAt) in the message's place; its reactions go. */
  const remove = (messageId: string, userId: string) =>
    change(messageId, userId, async (tx, target) => {
      const mayDelete = target.authorId === userId || target.role === "owner";
      if (!mayDelete) throw forbidden("only the author or the room's owner deletes a message");
      // Deleting twice changes nothing and takes no value.
      if (target.deletedAt) return null;
      await tx.update(messages).set({ content: "", deletedAt: new Date() }).where(eq(messages.id, target.id));
      await tx.delete(reactions).where(eq(reactions.messageId, target.id));
      return "deleted";
    });

  const toggleReaction = async (messageId: string, userId: string, emoji: string) => {
    const checked = Emoji.safeParse(emoji);
    if (!checked.success) throw invalid([{ field: "emoji", message: checked.error.issues.map((i) => i.message).join("; ") }]);
    return change(messageId, userId, async (tx, target) => {
      if (!target.role) throw forbidden("join the room to react");
      if (target.deletedAt) throw conflict("the message is deleted");
      const mine = and(eq(reactions.messageId, target.id), eq(reactions.userId, userId), eq(reactions.emoji, emoji));
      const removed = await tx.delete(reactions).where(mine).returning({ emoji: reactions.emoji });
      if (removed.length) return "reaction";
      // The message row is locked: no other toggle can add an emoji between this count and the insert.
      const [{ distinct, present } = { distinct: 0, present: false }] = await tx
        .select({
          distinct: sql<number>`count(distinct ${reactions.emoji})::int`.mapWith(Number),
          present: sql<boolean>`coalesce(bool_or(${reactions.emoji} = ${emoji}), false)`,
        })
        .from(reactions)
        .where(eq(reactions.messageId, target.id));
      if (!present && distinct >= maxReactionsPerMessage) {
        throw new AppError(409, "too_many_reactions", `a message carries at most ${maxReactionsPerMessage} different reactions`);
      }
      await tx.insert(reactions).values({ messageId: target.id, userId, emoji });
      return "reaction";
    });
  };

  async function history(roomKey: string, userId: string, req: HistoryRequest): Promise<Page<Message>> {
    const room = await rooms.resolveReadable(roomKey, userId);
    const rows = await historyQuery(db, room.id, req);
    const more = rows.length > req.limit;
    const page = await toMessages(db, rows.slice(0, req.limit));
    if (req.after !== undefined) {
      const last = page.at(-1);
      return { data: page, nextCursor: more && last ? (last.updatedSeq ?? last.seq) : null };
    }
    page.reverse();
    return { data: page, nextCursor: more ? page[0]!.seq : null };
  }

  /**
   * One event per counter value above `afterSeq`, in counter order, each with
   * the message's current state: what a reconnecting socket replays. Values
   * still held by uncommitted transactions are simply not there yet.
   */
  async function eventsAfter(roomId: string, afterSeq: number, limit: number): Promise<RoomEvent[]> {
    if (!isUuid(roomId)) return [];
    const [created, changes] = await Promise.all([
      db
        .select({ seq: messages.seq, messageId: messages.id })
        .from(messages)
        .where(and(eq(messages.roomId, roomId), gt(messages.seq, afterSeq)))
        .orderBy(messages.seq)
        .limit(limit),
      db
        .select({ seq: messageChanges.seq, messageId: messageChanges.messageId, kind: messageChanges.kind })
        .from(messageChanges)
        .where(and(eq(messageChanges.roomId, roomId), gt(messageChanges.seq, afterSeq)))
        .orderBy(messageChanges.seq)
        .limit(limit),
    ]);
    const steps = [
      ...created.map((c) => ({ seq: Number(c.seq), messageId: c.messageId, kind: "new_message" as RoomEventKind })),
      ...changes.map((c) => ({ seq: Number(c.seq), messageId: c.messageId, kind: EVENT_OF_CHANGE[c.kind] })),
    ]
      .sort((a, b) => a.seq - b.seq)
      .slice(0, limit);
    // The two reads may see different commits; the values are gapless in Postgres, so stop at the
    // first hole and let the caller read again rather than skip a value.
    const contiguous = steps.findIndex((s, i) => s.seq !== afterSeq + 1 + i);
    if (contiguous >= 0) steps.length = contiguous;
    const current = await loadById([...new Set(steps.map((s) => s.messageId))]);
    return steps.map((s) => ({ kind: s.kind, roomId, seq: s.seq, message: current.get(s.messageId)! }));
  }

  /**
   * Full-text search, newest first. Without a room: the rooms I belong to; with one: any room I
   * may read. Bounded: it reads the room's newest SEARCH_SCAN_MAX messages, or the newest
   * SEARCH_SCAN_MAX / SEARCH_ROOMS_MAX of each of my SEARCH_ROOMS_MAX busiest rooms (highest
   * lastSeq), walking the (room_id, seq) index, so its cost grows neither with the history nor
   * with how many messages match.
   */
  function searchQuery(userId: string, q: string, roomId?: string) {
    const scope = roomId
      ? sql`select r.id, r.last_seq from ${roomTable} r where r.id = ${roomId}`
      : sql`select r.id, r.last_seq from ${roomTable} r join ${roomMembers} rm on rm.room_id = r.id and rm.user_id = ${userId}
          order by r.last_seq desc limit ${SEARCH_ROOMS_MAX}`;
    const depth = roomId ? SEARCH_SCAN_MAX : SEARCH_SCAN_MAX / SEARCH_ROOMS_MAX;
    // The inner limit keeps the walk apart from the text match: the planner would otherwise take
    // the GIN index for rarer words and read every match in the room's whole history.
    return sql`with scope as (${scope})
      select hit.id from scope, lateral (
        select recent.id, recent.created_at from (
          select m.id, m.created_at, m.deleted_at, m.search from ${messages} m
          where m.room_id = scope.id
          order by m.seq desc limit ${depth}
        ) recent
        where recent.deleted_at is null and recent.search @@ websearch_to_tsquery('simple', ${q})
        limit ${SEARCH_LIMIT}
      ) hit
      order by hit.created_at desc, hit.id desc limit ${SEARCH_LIMIT}`;
  }

  async function search(userId: string, q: string, roomKey?: string): Promise<Message[]> {
    const roomId = roomKey ? (await rooms.resolveReadable(roomKey, userId)).id : undefined;
    const hits = await executeRows<{ id: string }>(db, searchQuery(userId, q, roomId));
    const found = await loadById(hits.map((h) => h.id));
    return hits.map((h) => found.get(h.id)).filter((m): m is Message => m !== undefined);
  }

  return { send, edit, remove, toggleReaction, history, eventsAfter, search, searchQuery };
}

export type Messages = ReturnType<typeof createMessages>;

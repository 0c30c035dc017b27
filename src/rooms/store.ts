import { and, asc, desc, eq, gt, inArray, isNotNull, or, sql } from "drizzle-orm";
import { alias } from "drizzle-orm/pg-core";
import type { Db } from "../db/client.ts";
import { messages, roomMembers, rooms, users } from "../db/schema.ts";
import { isUuid } from "../db/uuid.ts";
import type { DomainEvents } from "../events.ts";
import { conflict, forbidden, invalid, notFound, pgError, UNIQUE_VIOLATION } from "../http/errors.ts";
import { Text, type Room } from "../protocol.ts";
import type { RateLimiter } from "../rate-limit/limiter.ts";
import { deriveSlug, DM_PREFIX, slugWithSuffix } from "./slug.ts";

export type MemberRole = "owner" | "member";

/** A room as the permission checks see it, with the caller's role (null: not a member). */
export interface RoomRow {
  id: string;
  slug: string;
  name: string;
  isPrivate: boolean;
  createdAt: Date;
  lastSeq: number;
  role: MemberRole | null;
}

export interface Member {
  id: string;
  username: string;
  role: MemberRole;
  joinedAt: string;
}

export interface Page<T, C> {
  data: T[];
  nextCursor: C | null;
}

const ROOM_NOT_FOUND = () => notFound("room");
/** unreadCount stops counting here: 100 means "100 or more". */
export const UNREAD_COUNT_MAX = 100;

/**
 * A uuid-shaped key is an id (slugs never look like one); anything else is a slug. A key
 * Postgres cannot take (a NUL byte) is the caller's mistake, whichever edge it came through: 400.
 */
function byKey(roomKey: string) {
  const checked = Text().safeParse(roomKey);
  if (!checked.success) throw invalid([{ field: "room", message: checked.error.issues.map((i) => i.message).join("; ") }]);
  return isUuid(roomKey) ? eq(rooms.id, roomKey.toLowerCase()) : eq(rooms.slug, roomKey.toLowerCase());
}

/**
 * Private rooms do not occupy the public slug namespace, so a slug may name
 * several rooms the caller can see: their own private one first (the oldest),
 * else the public one. Used with `visible`, so others' private rooms never match.
 */
const slugPreference = [desc(rooms.isPrivate), asc(rooms.createdAt), asc(rooms.id)];

/** `limiter`: joins that make a new membership spend the user's room_join bucket, over HTTP and WebSocket alike. */
export function createRooms(db: Db, events: DomainEvents, limiter?: RateLimiter) {
  // The caller's own membership row, joined onto every room query.
  const me = alias(roomMembers, "me");
  const mine = (userId: string) => and(eq(me.roomId, rooms.id), eq(me.userId, userId));
  const visible = or(eq(rooms.isPrivate, false), isNotNull(me.userId));

  const rowColumns = {
    id: rooms.id,
    slug: rooms.slug,
    name: rooms.name,
    isPrivate: rooms.isPrivate,
    createdAt: rooms.createdAt,
    lastSeq: rooms.lastSeq,
    role: me.role,
  };

  const viewColumns = {
    ...rowColumns,
    memberCount: rooms.memberCount,
    // Messages of others after my read marker, counted up to UNREAD_COUNT_MAX: a page of rooms
    // then reads at most that many rows per room from the (room_id, seq) index, however far behind I am.
    unreadCount: sql<number>`(select count(*)::int from (select 1 from ${messages} x
      where x.room_id = ${rooms.id} and x.seq > ${me.lastReadSeq}
        and x.author_id <> ${me.userId} and x.deleted_at is null
      order by x.seq limit ${sql.raw(String(UNREAD_COUNT_MAX))}) unread)`.mapWith(Number),
  };

  // Only for my own rooms (mine=true): the newest message's time by the (room_id, seq) index.
  const activityColumns = {
    ...viewColumns,
    lastActivityAt: sql<Date | string | null>`(select x.created_at from ${messages} x where x.room_id = ${rooms.id} order by x.seq desc limit 1)`,
    lastReadSeq: me.lastReadSeq,
  };

  type ViewRow = RoomRow & { memberCount: number; unreadCount: number | null };
  type ActivityRow = ViewRow & { lastActivityAt: Date | string | null; lastReadSeq: number | null };
  const toMyRoom = (row: ActivityRow): Room => ({
    ...toRoom(row),
    // A raw subquery is not mapped by drizzle: postgres.js and PGlite give a string or a Date.
    lastActivityAt: row.lastActivityAt === null ? null : new Date(row.lastActivityAt).toISOString(),
    lastReadSeq: Number(row.lastReadSeq ?? 0),
  });
  const toRoom = (row: ViewRow): Room => ({
    id: row.id,
    slug: row.slug,
    name: row.name,
    isPrivate: row.isPrivate,
    createdAt: row.createdAt.toISOString(),
    memberCount: Number(row.memberCount),
    lastSeq: Number(row.lastSeq),
    ...(row.role ? { unreadCount: Number(row.unreadCount ?? 0) } : {}),
  });

  async function find(roomKey: string, userId: string): Promise<RoomRow | undefined> {
    const [row] = await db
      .select(rowColumns)
      .from(rooms)
      .leftJoin(me, mine(userId))
      .where(and(byKey(roomKey), visible))
      .orderBy(...slugPreference)
      .limit(1);
    return row;
  }

  async function resolveReadable(roomKey: string, userId: string): Promise<RoomRow> {
    const row = await find(roomKey, userId);
    // Private rooms of others answer exactly like rooms that do not exist.
    if (!row || (row.isPrivate && !row.role)) throw ROOM_NOT_FOUND();
    return row;
  }

  async function get(roomKey: string, userId: string): Promise<Room> {
    const [row] = await db
      .select(viewColumns)
      .from(rooms)
      .leftJoin(me, mine(userId))
      .where(and(byKey(roomKey), visible))
      .orderBy(...slugPreference)
      .limit(1);
    if (!row) throw ROOM_NOT_FOUND();
    return toRoom(row);
  }

  /** The room list's query (the bench and the plan tests explain it). */
  const listQuery = (userId: string, opts: { limit: number; afterId?: string }) =>
    db
      .select(viewColumns)
      .from(rooms)
      .leftJoin(me, mine(userId))
      .where(and(visible, opts.afterId ? gt(rooms.id, opts.afterId) : undefined))
      .orderBy(rooms.id)
      .limit(opts.limit + 1);

  async function list(userId: string, opts: { limit: number; afterId?: string }): Promise<Page<Room, string>> {
    const rows = await listQuery(userId, opts);
    const page = rows.slice(0, opts.limit);
    return { data: page.map(toRoom), nextCursor: rows.length > opts.limit ? page.at(-1)!.id : null };
  }

  /** The rooms I am a member of, with unread count, last activity and read marker. */
  async function listMine(userId: string, opts: { limit: number; afterId?: string }): Promise<Page<Room, string>> {
    const rows = await db
      .select(activityColumns)
      .from(rooms)
      .innerJoin(me, mine(userId))
      .where(opts.afterId ? gt(rooms.id, opts.afterId) : undefined)
      .orderBy(rooms.id)
      .limit(opts.limit + 1);
    const page = rows.slice(0, opts.limit);
    return { data: page.map(toMyRoom), nextCursor: rows.length > opts.limit ? page.at(-1)!.id : null };
  }

  /** One of my rooms as listMine shows it; undefined when I am not (or no longer) a member. */
  async function getMine(roomId: string, userId: string): Promise<Room | undefined> {
    if (!isUuid(roomId)) return undefined;
    const [row] = await db.select(activityColumns).from(rooms).innerJoin(me, mine(userId)).where(eq(rooms.id, roomId)).limit(1);
    return row && toMyRoom(row);
  }

  /** Ids of the rooms a user belongs to (by the room_members user index). */
  async function roomIdsOf(userId: string): Promise<string[]> {
    const rows = await db.select({ roomId: roomMembers.roomId }).from(roomMembers).where(eq(roomMembers.userId, userId));
    return rows.map((r) => r.roomId);
  }

  async function create(userId: string, input: { name: string; slug?: string; isPrivate?: boolean }): Promise<Room> {
    const base = input.slug ?? deriveSlug(input.name);
    for (let attempt = 0; ; attempt++) {
      const slug = attempt === 0 ? base : slugWithSuffix(base);
      // Taken only by a room the caller can see: others' private rooms must not be discoverable.
      // Two public rooms are kept apart by the unique index on public slugs.
      const taken = (await find(slug, userId)) !== undefined;
      try {
        if (taken) throw new SlugTaken();
        const roomId = await db.transaction(async (tx) => {
          const [room] = await tx
            .insert(rooms)
            .values({ slug, name: input.name, isPrivate: input.isPrivate ?? false, createdBy: userId })
            .returning({ id: rooms.id });
          await tx.insert(roomMembers).values({ roomId: room!.id, userId, role: "owner" });
          return room!.id;
        });
        events.emit({ type: "room.created", roomId });
        events.emit({ type: "room.member_joined", roomId, userId });
        return get(roomId, userId);
      } catch (err) {
        if (!(err instanceof SlugTaken) && pgError(err).code !== UNIQUE_VIOLATION) throw err;
        // A slug the caller chose is theirs to change; a derived one we make unique ourselves.
        if (input.slug !== undefined || attempt >= 4) {
          throw conflict("slug is already taken", [{ field: "slug", message: "already taken" }]);
        }
      }
    }
  }

  async function join(roomKey: string, userId: string): Promise<Room> {
    const room = await resolveReadable(roomKey, userId);
    if (!room.role) {
      // Rejoining a room one is a member of (every reconnect) costs nothing.
      await limiter?.take("room_join", userId);
      const added = await db
        .insert(roomMembers)
        .values({ roomId: room.id, userId })
        .onConflictDoNothing()
        .returning({ roomId: roomMembers.roomId });
      if (added.length) events.emit({ type: "room.member_joined", roomId: room.id, userId });
    }
    return get(room.id, userId);
  }

  async function removeMembership(roomId: string, userId: string): Promise<boolean> {
    const removed = await db
      .delete(roomMembers)
      .where(and(eq(roomMembers.roomId, roomId), eq(roomMembers.userId, userId)))
      .returning({ userId: roomMembers.userId });
    if (removed.length) events.emit({ type: "room.member_left", roomId, userId });
    return removed.length > 0;
  }

  async function leave(roomKey: string, userId: string): Promise<void> {
    const room = await resolveReadable(roomKey, userId);
    await removeMembership(room.id, userId);
  }

  async function roleOf(roomId: string, userId: string): Promise<MemberRole | null> {
    if (!isUuid(roomId) || !isUuid(userId)) return null;
    const [row] = await db
      .select({ role: roomMembers.role })
      .from(roomMembers)
      .where(and(eq(roomMembers.roomId, roomId), eq(roomMembers.userId, userId)))
      .limit(1);
    return row?.role ?? null;
  }

  const isMember = async (roomId: string, userId: string) => (await roleOf(roomId, userId)) !== null;

  async function members(roomKey: string, userId: string, opts: { limit: number; afterUserId?: string }): Promise<Page<Member, string>> {
    const room = await resolveReadable(roomKey, userId);
    const rows = await db
      .select({ id: users.id, username: users.username, role: roomMembers.role, joinedAt: roomMembers.joinedAt })
      .from(roomMembers)
      .innerJoin(users, eq(users.id, roomMembers.userId))
      .where(and(eq(roomMembers.roomId, room.id), opts.afterUserId ? gt(roomMembers.userId, opts.afterUserId) : undefined))
      .orderBy(roomMembers.userId)
      .limit(opts.limit + 1);
    const page = rows.slice(0, opts.limit).map((r) => ({ ...r, joinedAt: r.joinedAt.toISOString() }));
    return { data: page, nextCursor: rows.length > opts.limit ? page.at(-1)!.id : null };
  }

  async function addMember(roomKey: string, actorId: string, targetUserId: string): Promise<{ member: Member; created: boolean }> {
    const room = await resolveReadable(roomKey, actorId);
    if (room.role !== "owner") throw forbidden("only the room's owner adds members");
    if (!isUuid(targetUserId)) throw notFound("user");
    const [target] = await db.select({ id: users.id, username: users.username }).from(users).where(eq(users.id, targetUserId));
    if (!target) throw notFound("user");
    const added = await db
      .insert(roomMembers)
      .values({ roomId: room.id, userId: target.id })
      .onConflictDoNothing()
      .returning({ role: roomMembers.role, joinedAt: roomMembers.joinedAt });
    if (added.length) events.emit({ type: "room.member_joined", roomId: room.id, userId: target.id });
    const [row] = await db
      .select({ role: roomMembers.role, joinedAt: roomMembers.joinedAt })
      .from(roomMembers)
      .where(and(eq(roomMembers.roomId, room.id), eq(roomMembers.userId, target.id)));
    if (!row) throw notFound("member"); // removed again in the meantime
    return { member: { ...target, role: row.role, joinedAt: row.joinedAt.toISOString() }, created: added.length > 0 };
  }

  async function removeMember(roomKey: string, actorId: string, targetUserId: string): Promise<void> {
    const room = await resolveReadable(roomKey, actorId);
    if (!isUuid(targetUserId)) throw notFound("member");
    if (targetUserId.toLowerCase() !== actorId) {
      if (room.role !== "owner") throw forbidden("only the room's owner removes others");
    }
    if (!(await removeMembership(room.id, targetUserId.toLowerCase()))) throw notFound("member");
  }

  async function markRead(roomKey: string, userId: string, seq: number): Promise<void> {
    const room = await resolveReadable(roomKey, userId);
    if (!room.role) throw forbidden("join the room first");
    if (seq > room.lastSeq) throw invalid([{ field: "seq", message: `must be at most the room's lastSeq (${room.lastSeq})` }]);
    await db
      .update(roomMembers)
      .set({ lastReadSeq: sql`greatest(${roomMembers.lastReadSeq}, ${seq})` })
      .where(and(eq(roomMembers.roomId, room.id), eq(roomMembers.userId, userId)));
    events.emit({ type: "room.read", roomId: room.id, userId });
  }

  /**
   * The caller's unread count in each of these rooms they belong to (the same count, and the
   * same cap, as viewColumns.unreadCount), in one query: the room list's cache asks only for the rooms
   * whose counts changed.
   */
  async function unreadCounts(userId: string, roomIds: string[]): Promise<Map<string, number>> {
    const ids = roomIds.filter(isUuid);
    if (!ids.length) return new Map();
    // Columns inside the subquery are written out qualified: drizzle renders a lone table's unqualified,
    // and "room_id" alone would mean the messages' own column there.
    const mine = alias(roomMembers, "mine");
    const rows = await db
      .select({
        roomId: mine.roomId,
        unread: sql<number>`(select count(*)::int from (select 1 from ${messages} x
          where x.room_id = mine.room_id and x.seq > mine.last_read_seq
            and x.author_id <> mine.user_id and x.deleted_at is null
          order by x.seq limit ${sql.raw(String(UNREAD_COUNT_MAX))}) unread)`.mapWith(Number),
      })
      .from(mine)
      .where(and(eq(mine.userId, userId), inArray(mine.roomId, ids)));
    return new Map(rows.map((r) => [r.roomId, Number(r.unread)]));
  }

  /** The one private room of a pair of users, made on first use; both become (or stay) members. */
  async function openDirect(userId: string, otherUserId: string): Promise<{ room: Room; created: boolean }> {
    if (!isUuid(otherUserId)) throw notFound("user");
    const other = otherUserId.toLowerCase();
    if (other === userId) throw invalid([{ field: "userId", message: "cannot open a direct conversation with yourself" }]);
    const pair = [userId, other].sort();
    const people = await db.select({ id: users.id, username: users.username }).from(users).where(inArray(users.id, pair));
    if (people.length !== 2) throw notFound("user");
    const dmKey = pair.join(":");
    const names = pair.map((id) => people.find((p) => p.id === id)!.username);

    const { roomId, created, joined } = await db.transaction(async (tx) => {
      // Unique dm_key: of two racing first messages, one inserts and the other finds its row.
      const [inserted] = await tx
        .insert(rooms)
        .values({ slug: directSlug(dmKey), name: names.join(", "), isPrivate: true, dmKey, createdBy: userId })
        .onConflictDoNothing({ target: rooms.dmKey })
        .returning({ id: rooms.id });
      const roomId = inserted?.id ?? (await tx.select({ id: rooms.id }).from(rooms).where(eq(rooms.dmKey, dmKey)))[0]?.id;
      if (!roomId) throw new Error(`direct room ${dmKey} neither inserted nor found`);
      const joined = await tx
        .insert(roomMembers)
        .values(pair.map((id) => ({ roomId, userId: id })))
        .onConflictDoNothing()
        .returning({ userId: roomMembers.userId });
      return { roomId, created: Boolean(inserted), joined };
    });
    if (created) events.emit({ type: "room.created", roomId });
    for (const { userId: joinedId } of joined) events.emit({ type: "room.member_joined", roomId, userId: joinedId });
    return { room: await get(roomId, userId), created };
  }

  return { resolveReadable, get, list, listQuery, listMine, getMine, roomIdsOf, unreadCounts, create, join, leave, isMember, roleOf, members, addMember, removeMember, markRead, openDirect };
}

class SlugTaken extends Error {}

const directSlug = (dmKey: string) => `${DM_PREFIX}${new Bun.CryptoHasher("sha256").update(dmKey).digest("hex").slice(0, 32)}`;

export type Rooms = ReturnType<typeof createRooms>;

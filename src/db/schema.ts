import { sql } from "drizzle-orm";
import {
  integer,
  bigint,
  boolean,
  customType,
  index,
  pgEnum,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";

// Ids are UUIDv7 made by the app: strings on every driver, roughly time-ordered.
const id = () =>
  uuid("id")
    .primaryKey()
    .$defaultFn(() => Bun.randomUUIDv7());

// int8 columns read as JS numbers on both postgres.js (strings) and PGlite.
const counter = (name: string) => bigint(name, { mode: "number" });

const createdAt = () => timestamp("created_at", { withTimezone: true }).notNull().defaultNow();

const tsvector = customType<{ data: string }>({ dataType: () => "tsvector" });

export const memberRole = pgEnum("member_role", ["owner", "member"]);
export const changeKind = pgEnum("change_kind", ["edited", "deleted", "reaction"]);

export const users = pgTable(
  "users",
  {
    id: id(),
    email: text("email").notNull(),
    username: text("username").notNull(),
    passwordHash: text("password_hash").notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex("users_email_key").on(sql`lower(${t.email})`),
    uniqueIndex("users_username_key").on(sql`lower(${t.username})`),
  ],
);

export const sessions = pgTable(
  "sessions",
  {
    id: id(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    // sha-256 of the token: a database leak does not leak usable tokens.
    tokenHash: text("token_hash").notNull(),
    createdAt: createdAt(),
    expiresAt: timestamp("expires_at", { withTimezone: true }).notNull(),
    revokedAt: timestamp("revoked_at", { withTimezone: true }),
  },
  (t) => [uniqueIndex("sessions_token_hash_key").on(t.tokenHash), index("sessions_user_idx").on(t.userId)],
);

export const rooms = pgTable(
  "rooms",
  {
    id: id(),
    slug: text("slug").notNull(),
    name: text("name").notNull(),
    isPrivate: boolean("is_private").notNull().default(false),
    // Sorted pair of user ids for a direct-message room; null otherwise.
    dmKey: text("dm_key"),
    createdBy: uuid("created_by").references(() => users.id, { onDelete: "set null" }),
    createdAt: createdAt(),
    // The room's one event counter (see DESIGN.md, "Delivery rules").
    lastSeq: counter("last_seq").notNull().default(0),
    // Kept by a trigger on room_members (migration 0003): a room list reads it instead of
    // counting every room's members on every request.
    memberCount: integer("member_count").notNull().default(0),
    // Members removed from the room, ever; the same trigger (migration 0004) counts them. An
    // instance's once-a-second membership re-check only looks again at rooms where it moved.
    memberRemovals: counter("member_removals").notNull().default(0),
  },
  (t) => [
    // Public rooms share one slug namespace; private rooms do not occupy it (see rooms/README.md).
    uniqueIndex("rooms_public_slug_key").on(t.slug).where(sql`not ${t.isPrivate}`),
    // One private room per slug and creator: a retried or racing create makes one room.
    uniqueIndex("rooms_private_slug_key").on(t.slug, t.createdBy).where(sql`${t.isPrivate}`),
    index("rooms_slug_idx").on(t.slug, t.createdAt),
    uniqueIndex("rooms_dm_key_key").on(t.dmKey),
    index("rooms_public_idx").on(t.isPrivate, t.id),
  ],
);

export const roomMembers = pgTable(
  "room_members",
  {
    roomId: uuid("room_id")
      .notNull()
      .references(() => rooms.id, { onDelete: "cascade" }),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    role: memberRole("role").notNull().default("member"),
    joinedAt: timestamp("joined_at", { withTimezone: true }).notNull().defaultNow(),
    lastReadSeq: counter("last_read_seq").notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.roomId, t.userId] }), index("room_members_user_idx").on(t.userId, t.roomId)],
);

export const messages = pgTable(
  "messages",
  {
    id: id(),
    roomId: uuid("room_id")
      .notNull()
      .references(() => rooms.id, { onDelete: "cascade" }),
    seq: counter("seq").notNull(),
    authorId: uuid("author_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    clientMsgId: text("client_msg_id").notNull(),
    content: text("content").notNull(),
    // The sender's own clock (epoch ms), echoed to receivers for latency measurement.
    sentAt: counter("sent_at"),
    createdAt: createdAt(),
    editedAt: timestamp("edited_at", { withTimezone: true }),
    deletedAt: timestamp("deleted_at", { withTimezone: true }),
    updatedSeq: counter("updated_seq"),
    search: tsvector("search").generatedAlwaysAs(sql`to_tsvector('simple', content)`),
  },
  (t) => [
    uniqueIndex("messages_room_seq_key").on(t.roomId, t.seq),
    uniqueIndex("messages_client_msg_key").on(t.roomId, t.authorId, t.clientMsgId),
    index("messages_room_updated_seq_idx").on(t.roomId, t.updatedSeq),
    index("messages_search_idx").using("gin", t.search),
  ],
);

// One row per change event (edit, delete, reaction): each keeps its counter value forever.
export const messageChanges = pgTable(
  "message_changes",
  {
    roomId: uuid("room_id")
      .notNull()
      .references(() => rooms.id, { onDelete: "cascade" }),
    seq: counter("seq").notNull(),
    messageId: uuid("message_id")
      .notNull()
      .references(() => messages.id, { onDelete: "cascade" }),
    kind: changeKind("kind").notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.roomId, t.seq] }), index("message_changes_message_idx").on(t.messageId)],
);

export const reactions = pgTable(
  "reactions",
  {
    messageId: uuid("message_id")
      .notNull()
      .references(() => messages.id, { onDelete: "cascade" }),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    emoji: text("emoji").notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.messageId, t.emoji, t.userId] })],
);

export const schema = { users, sessions, rooms, roomMembers, messages, messageChanges, reactions };

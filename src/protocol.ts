// The wire contract shared by the server, the web client and the tests:
// the public entities, and every WebSocket frame in both directions.
// Plain zod (no server imports) so web/ can bundle it.
import { z } from "zod";

export const CONTENT_MAX = 4000;
export const CLIENT_MSG_ID_MAX = 128;

export const UserRef = z.object({ id: z.string(), username: z.string() });
export type UserRef = z.infer<typeof UserRef>;

export const Me = UserRef.extend({ email: z.string() });
export type Me = z.infer<typeof Me>;

export const Room = z.object({
  id: z.string(),
  slug: z.string(),
  name: z.string(),
  isPrivate: z.boolean(),
  createdAt: z.string(),
  memberCount: z.number().int(),
  lastSeq: z.number().int(),
  unreadCount: z
    .number()
    .int()
    .optional()
    .describe("members only: messages of others after my read marker, counted up to 100 (100 means 100 or more)"),
  /** With `mine=true`: when the room's newest message was written (ISO), null when it has none. */
  lastActivityAt: z.string().nullable().optional().describe("mine=true: ISO time of the room's newest message, null when it has none"),
  /** With `mine=true`: my read marker (a counter value). */
  lastReadSeq: z.number().int().optional().describe("mine=true: my read marker (a counter value)"),
});
export type Room = z.infer<typeof Room>;

export const Reaction = z.object({ emoji: z.string(), count: z.number().int(), userIds: z.array(z.string()) });
export type Reaction = z.infer<typeof Reaction>;

export const Message = z.object({
  id: z.string(),
  roomId: z.string(),
  seq: z.number().int(),
  /** The counter value of the message's latest change; null until changed. */
  updatedSeq: z.number().int().nullable(),
  author: UserRef,
  /** Empty once deleted (a tombstone keeps its place in the room). */
  content: z.string(),
  clientMsgId: z.string(),
  /** The sender's clock, epoch ms, when given. */
  sentAt: z.number().nullable(),
  createdAt: z.string(),
  editedAt: z.string().nullable(),
  deletedAt: z.string().nullable(),
  reactions: z.array(Reaction),
});
export type Message = z.infer<typeof Message>;

/**
 * Text that can reach Postgres: it refuses U+0000, and a lone surrogate (legal in a JS string,
 * and in JSON as "\ud800") would be stored as U+FFFD, changing the text silently.
 */
const NO_NUL = /^[^\u0000]*$/;
export const NO_NUL_MESSAGE = "must not contain NUL (U+0000)";
export const Text = () =>
  z
    .string()
    .regex(NO_NUL, NO_NUL_MESSAGE)
    .refine((s) => s.isWellFormed(), "must be well-formed Unicode (no lone surrogates)");

export const Content = Text()
  .min(1, "must not be empty")
  .max(CONTENT_MAX, `must be at most ${CONTENT_MAX} characters`)
  .refine((s) => s.trim().length > 0, "must not be blank");
export const ClientMsgId = z.string().min(1).max(CLIENT_MSG_ID_MAX).regex(/^[\x21-\x7e]+$/, "printable ASCII without spaces");
/** A room id or slug, as the client names it. */
export const RoomKey = Text().min(1).max(200);
const Seq = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
// The sender's clock: an int8 column, so out of the safe range is an error, not a silent null.
const EpochMs = z.number().min(0).max(Number.MAX_SAFE_INTEGER);
const Ref = z.union([z.string().max(64), z.number().int()]);

// ---------- client -> server ----------

export const clientFrames = {
  join_room: z.object({ roomId: RoomKey, afterSeq: Seq.optional() }).strict(),
  leave_room: z.object({ roomId: RoomKey }).strict(),
  send_message: z
    .object({ roomId: RoomKey, content: Content, clientMsgId: ClientMsgId.optional(), timestamp: EpochMs.optional() })
    .strict(),
  typing: z.object({ roomId: RoomKey }).strict(),
  read: z.object({ roomId: RoomKey, seq: Seq }).strict(),
  ping: z.object({}).strict(),
} as const;

export type ClientEvent = keyof typeof clientFrames;
export type ClientFrame = {
  [E in ClientEvent]: { event: E; data: z.infer<(typeof clientFrames)[E]>; ref?: string | number };
}[ClientEvent];

export const ClientEnvelope = z
  .object({ event: z.string().max(64), data: z.unknown().optional(), ref: Ref.optional() })
  .strict();

export type FrameError = { code: string; message: string; ref?: string | number };

/** Parses one text frame; on failure returns the error frame to send back (with the ref when readable). */
export function parseClientFrame(text: string): { ok: true; frame: ClientFrame } | { ok: false; error: FrameError } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, error: { code: "invalid_json", message: "frame is not valid JSON" } };
  }
  const envelope = ClientEnvelope.safeParse(raw);
  const ref = (raw as { ref?: unknown } | null)?.ref;
  const safeRef = Ref.safeParse(ref).success ? (ref as string | number) : undefined;
  if (!envelope.success) {
    return { ok: false, error: { code: "invalid_frame", message: "expected {event, data, ref?}", ref: safeRef } };
  }
  const { event, data, ref: okRef } = envelope.data;
  if (!Object.hasOwn(clientFrames, event)) {
    return { ok: false, error: { code: "unknown_event", message: `unknown event ${JSON.stringify(event)}`, ref: okRef } };
  }
  const parsed = clientFrames[event as ClientEvent].safeParse(data ?? {});
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => `${i.path.join(".") || "data"}: ${i.message}`).join("; ");
    return { ok: false, error: { code: "invalid_data", message: fields, ref: okRef } };
  }
  return { ok: true, frame: { event, data: parsed.data, ref: okRef } as ClientFrame };
}

// ---------- server -> client ----------

export const serverFrames = {
  joined: z.object({
    roomId: z.string(),
    slug: z.string(),
    lastSeq: z.number().int(),
    /** Set when more than WS_REPLAY_MAX events were missed: the replay starts at `fromSeq`. */
    truncated: z.literal(true).optional(),
    fromSeq: z.number().int().optional(),
  }),
  new_message: Message,
  message_ack: z.object({ roomId: z.string(), clientMsgId: z.string(), id: z.string(), seq: z.number().int() }),
  message_updated: Message,
  message_deleted: Message,
  /** Sent once, right after `joined`: at most PRESENCE_LIST_MAX users, and how many are online. */
  presence: z.object({ roomId: z.string(), users: z.array(UserRef), total: z.number().int() }),
  /** The net change since the previous presence frame of this room; no id in both lists. */
  presence_diff: z.object({ roomId: z.string(), joined: z.array(UserRef), left: z.array(z.string()), total: z.number().int() }),
  typing: z.object({ roomId: z.string(), user: UserRef }),
  // Per-user frames (realtime/user-feed.ts): to every socket of the user, no join needed.
  room_activity: z.object({ roomId: z.string(), lastSeq: z.number().int(), lastActivityAt: z.string() }),
  membership_added: z.object({ room: Room }),
  membership_removed: z.object({ roomId: z.string() }),
  pong: z.object({}),
  error: z.object({ code: z.string(), message: z.string() }),
} as const;

export type ServerEvent = keyof typeof serverFrames;
export type ServerData<E extends ServerEvent> = z.infer<(typeof serverFrames)[E]>;
export type ServerFrame = {
  [E in ServerEvent]: {
    event: E;
    data: ServerData<E>;
    ref?: string | number;
    /** Server clock, epoch ms. */
    timestamp: number;
    /** The room counter value of a room event (new_message, message_updated, message_deleted). */
    seq?: number;
  };
}[ServerEvent];

/** The text of one server frame (v1, the default JSON encoding). */
export function encodeFrame<E extends ServerEvent>(
  event: E,
  data: ServerData<E>,
  extra: { ref?: string | number; seq?: number } = {},
): string {
  return JSON.stringify({ event, data, ...extra, timestamp: Date.now() });
}

/** Room events as they travel between instances and into the hub. */
export const RoomEventKind = z.enum(["new_message", "message_updated", "message_deleted"]);
export type RoomEventKind = z.infer<typeof RoomEventKind>;
export const RoomEvent = z.object({
  kind: RoomEventKind,
  roomId: z.string(),
  /** The counter value this event took. */
  seq: z.number().int().min(1),
  message: Message,
});
export type RoomEvent = z.infer<typeof RoomEvent>;

export const roomFrame = (event: RoomEvent) => encodeFrame(event.kind, event.message, { seq: event.seq });

// ---------- between instances (Redis Pub/Sub) ----------

/** One channel per open room, and one for revoked sessions. */
export const roomChannel = (roomId: string) => `room:${roomId}`;
export const SESSIONS_CHANNEL = "sessions";

/** Every message carries `o`, the publishing instance, which skips its own. */
export const BusMessage = z.discriminatedUnion("t", [
  z.object({ t: z.literal("ev"), o: z.string(), e: RoomEvent }),
  z.object({ t: z.literal("typing"), o: z.string(), roomId: z.string(), user: UserRef }),
  /** The room's online set changed: read it again. */
  z.object({ t: z.literal("presence"), o: z.string(), roomId: z.string() }),
  z.object({ t: z.literal("left"), o: z.string(), roomId: z.string(), userId: z.string() }),
]);
export type BusMessage = z.infer<typeof BusMessage>;
export const SessionRevoked = z.object({ sessionId: z.string() });
export type SessionRevoked = z.infer<typeof SessionRevoked>;

/** Parses a bus payload; undefined when it is not one of ours. */
export function parseBusMessage<T>(schema: z.ZodType<T>, payload: string): T | undefined {
  try {
    const parsed = schema.safeParse(JSON.parse(payload));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** One instance's reading over the last interval, as GET /api/ops/instances gives it (the operator's page charts it). */
export interface OpsSample {
  /** Epoch ms when taken. */
  t: number;
  connections: number;
  /** Sends accepted per second over the interval (the delivery histogram's count delta). */
  messagesPerSecond: number;
  /** Delivery p95 over the interval in ms; null when nothing was sent in it. */
  deliveryP95Ms: number | null;
  /** Cache hits / reads over the interval; null when nothing was read. */
  cacheHitRatio: number | null;
  /** Event-loop lag in ms (prom-client's default metric); null when the runtime gives none. */
  eventLoopLagMs: number | null;
  openRooms: number;
}
export type OpsInstance = { instanceId: string; current: OpsSample; history: OpsSample[] };

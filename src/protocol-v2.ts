// The lean encoding of the server's frames (protocol version `chat.v2`, asked for with
// Sec-WebSocket-Protocol): positional JSON arrays, no nulls or defaults at the end, rooms
// named by a short alias given in `joined`, the envelope's seq written once. Client frames
// stay v1 JSON in both versions (they are a small share of the bytes). The frame schemas use
// zod/mini (zod's tree-shakable functional API, about 6 KB gzip in the browser instead of about
// 25 KB for the full zod) and no server imports, so web/ validates every frame with the same
// schemas the tests and tools use. docs/protocol.md "Versions".
import * as z from "zod/mini";
import type { Message, Reaction, ServerData, ServerEvent, UserRef } from "./protocol.ts";

export const PROTOCOL_V1 = "chat.v1";
export const PROTOCOL_V2 = "chat.v2";
export type ProtocolVersion = 1 | 2;

/** The version a client asked for in Sec-WebSocket-Protocol (a comma list): v2 if listed, else v1. */
export function chooseProtocol(header: string | null): { version: ProtocolVersion; answer?: string } {
  const offered = (header ?? "").split(",").map((s) => s.trim());
  if (offered.includes(PROTOCOL_V2)) return { version: 2, answer: PROTOCOL_V2 };
  if (offered.includes(PROTOCOL_V1)) return { version: 1, answer: PROTOCOL_V1 };
  return { version: 1 };
}

/** The first element of every v2 frame. */
export const V2 = {
  joined: 0,
  new_message: 1,
  message_updated: 2,
  message_deleted: 3,
  message_ack: 4,
  presence: 5,
  presence_diff: 6,
  typing: 7,
  pong: 8,
  error: 9,
  room_activity: 10,
  membership_added: 11,
  membership_removed: 12,
} as const satisfies Record<ServerEvent, number>;
const EVENT_OF = Object.fromEntries(Object.entries(V2).map(([k, v]) => [v, k])) as Record<number, ServerEvent>;

/** A room in a v2 frame: the alias from this socket's `joined`, or the room id where the socket has none. */
const RoomRef = z.union([z.int().check(z.minimum(0)), z.string()]);
const Ref = z.union([z.string(), z.number()]);
const Int = z.int();
const Ms = z.number();

/** [emoji, count, [userId…]] */
const ReactionV2 = z.tuple([z.string(), Int, z.array(z.string())]);
/**
 * [seq, id*, authorId*, authorUsername, content, clientMsgId, createdAt(ms), sentAt − createdAt?,
 *  updatedSeq?, editedAt(ms)?, deletedAt(ms)?, reactions?]: trailing nulls and an empty reaction
 * list left off; * = compact id (compactId).
 */
const MessageV2 = z.tuple(
  [Int, z.string(), z.string(), z.string(), z.string(), z.string(), Ms],
  z.union([z.number(), z.string(), z.null(), z.array(ReactionV2)]),
);

/** The shape of every v2 frame, by its first element (the docs list them the same way). */
export const serverFramesV2 = {
  /** [0, room alias, roomId, slug, lastSeq, fromSeq?, ref?]: fromSeq set means truncated. */
  joined: z.tuple([z.literal(0), Int, z.string(), z.string(), Int], z.union([Int, Ref, z.null()])),
  /** [1, room, ...message]: the message's seq is the envelope's. */
  new_message: z.tuple([z.literal(1), RoomRef], z.unknown()),
  /** [2, room, envelope seq, ...message] */
  message_updated: z.tuple([z.literal(2), RoomRef, Int], z.unknown()),
  message_deleted: z.tuple([z.literal(3), RoomRef, Int], z.unknown()),
  /** [4, room, seq, id, clientMsgId, ref?] */
  message_ack: z.tuple([z.literal(4), RoomRef, Int, z.string(), z.string()], Ref),
  /** [5, room, total, [id, username, id, username…]] */
  presence: z.tuple([z.literal(5), RoomRef, Int, z.array(z.string())]),
  /** [6, room, total, [id, username…] joined?, [id…] left?] */
  presence_diff: z.tuple([z.literal(6), RoomRef, Int], z.array(z.string())),
  /** [7, room, userId, username] */
  typing: z.tuple([z.literal(7), RoomRef, z.string(), z.string()]),
  /** [8, ref?] */
  pong: z.tuple([z.literal(8)], Ref),
  /** [9, code, message, ref?] */
  error: z.tuple([z.literal(9), z.string(), z.string()], Ref),
  /** [10, room, lastSeq, lastActivityAt(ms)] */
  room_activity: z.tuple([z.literal(10), RoomRef, Int, Ms]),
  /** [11, Room as in v1]: rare, so left as v1's object. */
  membership_added: z.tuple([z.literal(11), z.record(z.string(), z.unknown())]),
  /** [12, room] */
  membership_removed: z.tuple([z.literal(12), RoomRef]),
} as const;

// ---------- compact ids ----------

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const B64_INDEX = new Map([...B64].map((c, i) => [c, i]));
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * A canonical (lowercase) UUID as its 16 bytes in base64url: 22 characters instead of 36.
 * Any other id is sent as it is, with "=" in front when it could be read as a compact one.
 */
export function compactId(id: string): string {
  if (!UUID.test(id)) return id.length === 22 || id[0] === "=" ? `=${id}` : id;
  const hex = id.replace(/-/g, "");
  let out = "";
  // 32 hex digits = 128 bits: 21 groups of 6 bits, then the last 2 bits.
  let bits = 0;
  let acc = 0;
  for (let i = 0; i < 32; i++) {
    acc = (acc << 4) | parseInt(hex[i]!, 16);
    bits += 4;
    if (bits >= 6) {
      bits -= 6;
      out += B64[(acc >> bits) & 63];
    }
  }
  return out + B64[(acc << (6 - bits)) & 63];
}

/** The id `compactId` was made from. */
export function expandId(s: string): string {
  if (s[0] === "=") return s.slice(1);
  if (s.length !== 22) return s;
  let hex = "";
  let bits = 0;
  let acc = 0;
  for (let i = 0; i < 22; i++) {
    const v = B64_INDEX.get(s[i]!);
    if (v === undefined) throw new Error("not a compact id");
    acc = ((acc << 6) | v) & 0xfff;
    bits += 6;
    while (bits >= 4 && hex.length < 32) {
      bits -= 4;
      hex += ((acc >> bits) & 15).toString(16);
    }
  }
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// ---------- encoding (server) ----------

const ms = (iso: string | null) => (iso === null ? null : Date.parse(iso));
const iso = (n: unknown) => (n === null || n === undefined ? null : new Date(n as number).toISOString());

function trimEnd(a: unknown[]): unknown[] {
  let end = a.length;
  while (end > 0 && (a[end - 1] === null || a[end - 1] === undefined || (Array.isArray(a[end - 1]) && (a[end - 1] as unknown[]).length === 0))) end--;
  return end === a.length ? a : a.slice(0, end);
}

/** sentAt as its distance from createdAt (a few ms, not 13 digits); a non-integer one as a string. */
function sentAtField(sentAt: number | null, createdAt: number): number | string | null {
  if (sentAt === null) return null;
  return Number.isSafeInteger(sentAt) ? sentAt - createdAt : String(sentAt);
}

const messageTuple = (m: Message): unknown[] =>
  trimEnd([
    m.seq,
    compactId(m.id),
    compactId(m.author.id),
    m.author.username,
    m.content,
    m.clientMsgId,
    ms(m.createdAt),
    sentAtField(m.sentAt, Date.parse(m.createdAt)),
    m.updatedSeq,
    ms(m.editedAt),
    ms(m.deletedAt),
    m.reactions.length ? m.reactions.map((r) => [r.emoji, r.count, r.userIds]) : null,
  ]);

const flatUsers = (users: UserRef[]) => users.flatMap((u) => [u.id, u.username]);

/**
 * The v2 text of one server frame. `room` names the frame's room for this socket (the
 * alias from its `joined`, or the room id); `alias` is the one `joined` assigns.
 */
export function encodeFrameV2<E extends ServerEvent>(
  event: E,
  data: ServerData<E>,
  extra: { ref?: string | number; seq?: number; room?: number | string; alias?: number } = {},
): string {
  const d = data as any;
  const room = extra.room ?? d.roomId;
  const ref = extra.ref;
  let frame: unknown[];
  switch (event) {
    case "joined":
      frame = trimEnd([V2.joined, extra.alias, d.roomId, d.slug, d.lastSeq, d.truncated ? d.fromSeq : null, ref]);
      break;
    case "new_message":
      frame = [V2.new_message, room, ...messageTuple(d)];
      break;
    case "message_updated":
    case "message_deleted":
      frame = [V2[event], room, extra.seq ?? d.updatedSeq ?? d.seq, ...messageTuple(d)];
      break;
    case "message_ack":
      frame = trimEnd([V2.message_ack, room, d.seq, d.id, d.clientMsgId, ref]);
      break;
    case "presence":
      frame = [V2.presence, room, d.total, flatUsers(d.users)];
      break;
    case "presence_diff":
      frame = trimEnd([V2.presence_diff, room, d.total, flatUsers(d.joined), d.left]);
      break;
    case "typing":
      frame = [V2.typing, room, d.user.id, d.user.username];
      break;
    case "pong":
      frame = trimEnd([V2.pong, ref]);
      break;
    case "error":
      frame = trimEnd([V2.error, d.code, d.message, ref]);
      break;
    case "room_activity":
      frame = [V2.room_activity, room, d.lastSeq, ms(d.lastActivityAt)];
      break;
    case "membership_added":
      frame = [V2.membership_added, d.room];
      break;
    case "membership_removed":
      frame = [V2.membership_removed, room];
      break;
    default:
      throw new Error(`no v2 encoding for ${String(event)}`);
  }
  return JSON.stringify(frame);
}

// ---------- decoding (clients, tests) ----------

/** A decoded v2 frame, in v1's terms (v2 carries no server `timestamp`). */
export interface DecodedFrame {
  event: ServerEvent;
  data: any;
  ref?: string | number;
  seq?: number;
}

/** A frame that does not match its schema: what was wrong, where, in one line. */
export class BadFrameError extends Error {
  constructor(what: string, issues: readonly { path: readonly PropertyKey[]; code: string; expected?: unknown }[] = []) {
    const where = issues
      .slice(0, 3)
      .map((i) => `[${i.path.map(String).join(".")}] ${i.code}${i.expected ? ` (expected ${String(i.expected)})` : ""}`)
      .join("; ");
    super(where ? `${what}: ${where}` : what);
    this.name = "BadFrameError";
  }
}

function check<T>(schema: z.ZodMiniType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new BadFrameError(`bad chat.v2 ${what}`, r.error.issues);
  return r.data;
}

function messageOf(t: unknown[], roomId: string): Message {
  const parsed = check(MessageV2, t, "message");
  const [seq, id, authorId, username, content, clientMsgId, createdAt, sentAt, updatedSeq, editedAt, deletedAt, reactions] =
    parsed as [number, string, string, string, string, string, number, ...unknown[]];
  return {
    id: expandId(id),
    roomId,
    seq,
    updatedSeq: (updatedSeq as number | null | undefined) ?? null,
    author: { id: expandId(authorId), username },
    content,
    clientMsgId,
    sentAt: typeof sentAt === "number" ? createdAt + sentAt : typeof sentAt === "string" ? Number(sentAt) : null,
    createdAt: iso(createdAt)!,
    editedAt: iso(editedAt),
    deletedAt: iso(deletedAt),
    reactions: ((reactions as [string, number, string[]][] | null | undefined) ?? []).map(
      ([emoji, count, userIds]): Reaction => ({ emoji, count, userIds }),
    ),
  };
}

const usersOf = (flat: string[]): UserRef[] => {
  const users: UserRef[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) users.push({ id: flat[i]!, username: flat[i + 1]! });
  return users;
};

/**
 * A decoder for one connection: it learns the room aliases from `joined` frames.
 * Throws BadFrameError on a frame that is not a valid v2 frame.
 */
export function createV2Decoder() {
  const rooms = new Map<number, string>();
  const roomOf = (r: number | string) => {
    if (typeof r === "string") return r;
    const id = rooms.get(r);
    if (id === undefined) throw new BadFrameError(`unknown room alias ${r}`);
    return id;
  };
  const withRef = (f: DecodedFrame, ref: unknown) => (ref === undefined || ref === null ? f : { ...f, ref: ref as string | number });

  function decode(text: string): DecodedFrame {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      throw new BadFrameError("not JSON");
    }
    const event = Array.isArray(raw) ? EVENT_OF[raw[0] as number] : undefined;
    if (!event) throw new BadFrameError("not a v2 frame (an array starting with a known event number)");
    const f = check(serverFramesV2[event] as z.ZodMiniType<unknown[]>, raw, `${event} frame`);
    switch (event) {
      case "joined": {
        const [, alias, roomId, slug, lastSeq, fromSeq, ref] = f as [0, number, string, string, number, number | null, unknown];
        rooms.set(alias, roomId);
        const truncated = typeof fromSeq === "number" ? { truncated: true as const, fromSeq } : {};
        return withRef({ event, data: { roomId, slug, lastSeq, ...truncated } }, ref);
      }
      case "new_message": {
        const data = messageOf(f.slice(2), roomOf(f[1] as number | string));
        return { event, data, seq: data.seq };
      }
      case "message_updated":
      case "message_deleted":
        return { event, data: messageOf(f.slice(3), roomOf(f[1] as number | string)), seq: f[2] as number };
      case "message_ack": {
        const [, room, seq, id, clientMsgId, ref] = f as [4, number | string, number, string, string, unknown];
        return withRef({ event, data: { roomId: roomOf(room), clientMsgId, id, seq } }, ref);
      }
      case "presence":
        return { event, data: { roomId: roomOf(f[1] as number), users: usersOf(f[3] as string[]), total: f[2] } };
      case "presence_diff":
        return {
          event,
          data: { roomId: roomOf(f[1] as number), joined: usersOf((f[3] as string[]) ?? []), left: (f[4] as string[]) ?? [], total: f[2] },
        };
      case "typing":
        return { event, data: { roomId: roomOf(f[1] as number), user: { id: f[2], username: f[3] } } };
      case "pong":
        return withRef({ event, data: {} }, f[1]);
      case "error":
        return withRef({ event, data: { code: f[1], message: f[2] } }, f[3]);
      case "room_activity":
        return { event, data: { roomId: roomOf(f[1] as number | string), lastSeq: f[2], lastActivityAt: iso(f[3]) } };
      case "membership_added":
        return { event, data: { room: f[1] } };
      case "membership_removed":
        return { event, data: { roomId: roomOf(f[1] as number | string) } };
    }
  }

  return { decode, rooms };
}

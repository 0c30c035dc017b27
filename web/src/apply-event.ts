// The client's one state transition: every server frame, HTTP page and local
// action goes through applyEvent(state, event), a pure function, so "replay the
// stream on old state" and "fetch fresh" can be compared in a test.
import type { Me, Message, Room, UserRef } from "../../src/protocol.ts";

/** A room of mine as the room list shows it. */
export interface RoomSummary extends Room {
  unreadCount: number;
  lastActivityAt: string | null;
  lastReadSeq: number;
}

export type PendingStatus = "pending" | "failed";
export interface PendingMessage {
  clientMsgId: string;
  roomId: string;
  content: string;
  author: UserRef;
  createdAt: string;
  status: PendingStatus;
  error?: string;
}

export interface RoomView {
  roomId: string;
  /** Confirmed messages, ascending by seq, each once. */
  messages: Message[];
  /** Every counter value up to this one has been applied: the resume point. */
  lastSeq: number;
  /** Counter values applied above a hole (a gap the connection fills over HTTP). */
  ahead: number[];
  /** No page below the oldest loaded message. */
  reachedStart: boolean;
  /** The newest page has been loaded at least once (else lastSeq means nothing yet). */
  loaded: boolean;
  online: { users: UserRef[]; total: number };
  typing: { user: UserRef; at: number }[];
}

export type ConnectionState = "connecting" | "connected" | "reconnecting" | "offline";

export interface ChatState {
  me: Me | null;
  rooms: Record<string, RoomSummary>;
  views: Record<string, RoomView>;
  pending: PendingMessage[];
  connection: ConnectionState;
}

export const initialState: ChatState = { me: null, rooms: {}, views: {}, pending: [], connection: "connecting" };

/** A server frame as it arrives (envelope), narrowed to what the reducer reads. */
export type ServerFrameIn =
  | { event: "joined"; data: { roomId: string; slug: string; lastSeq: number; truncated?: boolean; fromSeq?: number } }
  | { event: "new_message" | "message_updated" | "message_deleted"; data: Message; seq?: number }
  | { event: "message_ack"; data: { roomId: string; clientMsgId: string; id: string; seq: number } }
  | { event: "presence"; data: { roomId: string; users: UserRef[]; total?: number } }
  | { event: "presence_diff"; data: { roomId: string; joined: UserRef[]; left: string[]; total: number } }
  | { event: "typing"; data: { roomId: string; user: UserRef } }
  | { event: "room_activity"; data: { roomId: string; lastSeq: number; lastActivityAt: string | null } }
  | { event: "membership_added"; data: { room: Room & Partial<RoomSummary> } }
  | { event: "membership_removed"; data: { roomId: string } };

export type ChatEvent =
  | { type: "signed_in"; me: Me }
  | { type: "signed_out" }
  | { type: "connection"; state: ConnectionState }
  | { type: "rooms_loaded"; rooms: (Room & Partial<RoomSummary>)[] }
  | { type: "room_upserted"; room: Room & Partial<RoomSummary> }
  | { type: "room_removed"; roomId: string }
  /** The newest page (ascending), e.g. on first open. */
  | { type: "page_newest"; roomId: string; messages: Message[]; reachedStart: boolean }
  /** A page just below the oldest loaded message. */
  | { type: "page_older"; roomId: string; messages: Message[]; reachedStart: boolean }
  /** Everything changed after `after`; `complete`: no further page, so the hole is closed. */
  | { type: "page_after"; roomId: string; after: number; messages: Message[]; complete: boolean }
  | { type: "frame"; frame: ServerFrameIn; now: number }
  | { type: "send_queued"; pending: PendingMessage }
  | { type: "send_failed"; clientMsgId: string; error: string }
  /** Sent over HTTP: the message as stored (its room's stream brings it too when open). */
  | { type: "send_confirmed"; message: Message }
  | { type: "send_retry"; clientMsgId: string }
  | { type: "read"; roomId: string; seq: number }
  | { type: "typing_expired"; now: number };

const TYPING_SHOWN_MS = 4_000;

/** The latest counter value a message took. */
export const versionOf = (m: Message) => m.updatedSeq ?? m.seq;

function emptyView(roomId: string): RoomView {
  return { roomId, messages: [], lastSeq: 0, ahead: [], reachedStart: false, loaded: false, online: { users: [], total: 0 }, typing: [] };
}

function summary(room: Room & Partial<RoomSummary>, previous?: RoomSummary): RoomSummary {
  return {
    ...previous,
    ...room,
    unreadCount: room.unreadCount ?? previous?.unreadCount ?? 0,
    lastActivityAt: room.lastActivityAt !== undefined ? room.lastActivityAt : (previous?.lastActivityAt ?? null),
    lastReadSeq: room.lastReadSeq ?? previous?.lastReadSeq ?? 0,
  };
}

/** Inserts or replaces messages (by id, the newer version wins), keeping ascending seq order. */
export function mergeMessages(current: Message[], incoming: Message[]): Message[] {
  if (incoming.length === 0) return current;
  // The two common cases without a map of the whole history or a sort: an older page that lands
  // wholly below what is loaded, and new messages wholly above it (ids are unique per seq).
  const first = current[0]?.seq ?? Number.POSITIVE_INFINITY;
  const last = current.at(-1)?.seq ?? 0;
  if (ascendingUnique(incoming)) {
    if (incoming.at(-1)!.seq < first) return incoming.concat(current);
    if (incoming[0]!.seq > last) return current.concat(incoming);
  }
  const byId = new Map(current.map((m) => [m.id, m]));
  let appendOnly = true;
  for (const m of incoming) {
    const old = byId.get(m.id);
    if (old && versionOf(old) > versionOf(m)) continue;
    if (old || m.seq <= last) appendOnly = false;
    byId.set(m.id, m);
  }
  const merged = [...byId.values()];
  if (!appendOnly) merged.sort((a, b) => a.seq - b.seq);
  return merged;
}

function ascendingUnique(messages: Message[]): boolean {
  for (let i = 1; i < messages.length; i++) if (messages[i]!.seq <= messages[i - 1]!.seq) return false;
  return true;
}

/** Marks `value` as applied: the contiguous resume point moves over it and any values held above. */
export function advance(view: RoomView, value: number): Pick<RoomView, "lastSeq" | "ahead"> {
  if (value <= view.lastSeq || view.ahead.includes(value)) return view;
  let lastSeq = view.lastSeq;
  let ahead = [...view.ahead, value].sort((a, b) => a - b);
  while (ahead[0] === lastSeq + 1) {
    lastSeq++;
    ahead = ahead.slice(1);
  }
  return { lastSeq, ahead };
}

function updateView(state: ChatState, roomId: string, change: (view: RoomView) => RoomView): ChatState {
  const view = state.views[roomId] ?? emptyView(roomId);
  const next = change(view);
  return next === view ? state : { ...state, views: { ...state.views, [roomId]: next } };
}

function updateRoom(state: ChatState, roomId: string, change: (room: RoomSummary) => RoomSummary): ChatState {
  const room = state.rooms[roomId];
  if (!room) return state;
  return { ...state, rooms: { ...state.rooms, [roomId]: change(room) } };
}

/** Pending messages that the server has confirmed are no longer pending. */
const withoutConfirmed = (pending: PendingMessage[], confirmed: Message[]) => {
  if (pending.length === 0) return pending;
  const ids = new Set(confirmed.map((m) => `${m.roomId}\n${m.clientMsgId}`));
  const rest = pending.filter((p) => !ids.has(`${p.roomId}\n${p.clientMsgId}`));
  return rest.length === pending.length ? pending : rest;
};

function applyRoomEvent(state: ChatState, frame: Extract<ServerFrameIn, { data: Message }>): ChatState {
  const message = frame.data;
  const value = frame.seq ?? versionOf(message);
  const before = state.views[message.roomId];
  const isNew = !before || (value > before.lastSeq && !before.ahead.includes(value));
  let next = updateView(state, message.roomId, (view) => {
    if (value <= view.lastSeq || view.ahead.includes(value)) {
      // Seen already (a replay overlapping a page): only a newer version may replace.
      const merged = mergeMessages(view.messages, [message]);
      return merged === view.messages ? view : { ...view, messages: merged };
    }
    return { ...view, messages: mergeMessages(view.messages, [message]), ...advance(view, value) };
  });
  if (frame.event === "new_message") next = { ...next, pending: withoutConfirmed(next.pending, [message]) };
  if (!isNew) return next;
  if (frame.event === "new_message") {
    next = updateRoom(next, message.roomId, (room) => ({
      ...room,
      lastSeq: Math.max(room.lastSeq, value),
      lastActivityAt: message.createdAt,
      unreadCount: message.author.id === state.me?.id ? room.unreadCount : room.unreadCount + 1,
    }));
  } else {
    next = updateRoom(next, message.roomId, (room) => ({ ...room, lastSeq: Math.max(room.lastSeq, value) }));
  }
  return next;
}

function applyFrame(state: ChatState, frame: ServerFrameIn, now: number): ChatState {
  switch (frame.event) {
    case "new_message":
    case "message_updated":
    case "message_deleted":
      return applyRoomEvent(state, frame);
    case "joined":
      return updateRoom(state, frame.data.roomId, (room) => ({ ...room, lastSeq: Math.max(room.lastSeq, frame.data.lastSeq) }));
    case "message_ack": {
      // The message itself arrives as new_message to the other sockets; here it is confirmed by seq.
      const { roomId, clientMsgId } = frame.data;
      const pending = state.pending.find((p) => p.roomId === roomId && p.clientMsgId === clientMsgId);
      if (!pending) return state;
      const message: Message = {
        id: frame.data.id,
        roomId,
        seq: frame.data.seq,
        updatedSeq: null,
        author: pending.author,
        content: pending.content,
        clientMsgId,
        sentAt: null,
        createdAt: pending.createdAt,
        editedAt: null,
        deletedAt: null,
        reactions: [],
      };
      return applyRoomEvent({ ...state, pending: state.pending.filter((p) => p !== pending) }, { event: "new_message", data: message, seq: frame.data.seq });
    }
    case "presence":
      return updateView(state, frame.data.roomId, (view) => ({
        ...view,
        online: { users: frame.data.users, total: frame.data.total ?? frame.data.users.length },
      }));
    case "presence_diff":
      return updateView(state, frame.data.roomId, (view) => {
        const left = new Set(frame.data.left);
        const joinedIds = new Set(frame.data.joined.map((u) => u.id));
        const users = [...view.online.users.filter((u) => !left.has(u.id) && !joinedIds.has(u.id)), ...frame.data.joined];
        return { ...view, online: { users, total: frame.data.total } };
      });
    case "typing":
      return updateView(state, frame.data.roomId, (view) => ({
        ...view,
        typing: [...view.typing.filter((t) => t.user.id !== frame.data.user.id), { user: frame.data.user, at: now }],
      }));
    case "room_activity": {
      const { roomId, lastSeq, lastActivityAt } = frame.data;
      return updateRoom(state, roomId, (room) => {
        if (lastSeq <= room.lastSeq) return { ...room, lastActivityAt: lastActivityAt ?? room.lastActivityAt };
        // Coalesced: at least one new event; the exact unread count comes with the next room list.
        const viewing = state.views[roomId]?.loaded;
        return { ...room, lastSeq, lastActivityAt: lastActivityAt ?? room.lastActivityAt, unreadCount: viewing ? room.unreadCount : room.unreadCount + 1 };
      });
    }
    case "membership_added":
      return { ...state, rooms: { ...state.rooms, [frame.data.room.id]: summary(frame.data.room, state.rooms[frame.data.room.id]) } };
    case "membership_removed": {
      const { [frame.data.roomId]: _gone, ...rooms } = state.rooms;
      return { ...state, rooms };
    }
  }
}

export function applyEvent(state: ChatState, event: ChatEvent): ChatState {
  switch (event.type) {
    case "signed_in":
      return { ...state, me: event.me };
    case "signed_out":
      return { ...initialState, connection: state.connection };
    case "connection":
      return state.connection === event.state ? state : { ...state, connection: event.state };
    case "rooms_loaded": {
      const rooms: Record<string, RoomSummary> = {};
      for (const room of event.rooms) rooms[room.id] = summary(room, state.rooms[room.id]);
      return { ...state, rooms };
    }
    case "room_upserted":
      return { ...state, rooms: { ...state.rooms, [event.room.id]: summary(event.room, state.rooms[event.room.id]) } };
    case "room_removed": {
      const { [event.roomId]: _gone, ...rooms } = state.rooms;
      return { ...state, rooms };
    }
    case "page_newest":
    case "page_older": {
      const next = updateView(state, event.roomId, (view) => {
        const messages = mergeMessages(view.messages, event.messages);
        const newest = event.messages.reduce((max, m) => Math.max(max, versionOf(m)), 0);
        // The newest page says everything up to its newest value exists; before any resume
        // point is known, that is the resume point (later changes arrive live or by `after`).
        const resume = event.type === "page_newest" && !view.loaded ? { lastSeq: Math.max(view.lastSeq, newest), ahead: view.ahead.filter((v) => v > newest) } : {};
        return {
          ...view,
          ...resume,
          messages,
          loaded: view.loaded || event.type === "page_newest",
          reachedStart: event.type === "page_older" || !view.loaded ? event.reachedStart || view.reachedStart : view.reachedStart,
        };
      });
      return { ...next, pending: withoutConfirmed(next.pending, event.messages) };
    }
    case "page_after": {
      const next = updateView(state, event.roomId, (view) => {
        const messages = mergeMessages(view.messages, event.messages);
        if (!event.complete) return { ...view, messages };
        // Every change after `after` is in hand: the hole up to the newest value is closed.
        const newest = event.messages.reduce((max, m) => Math.max(max, versionOf(m)), event.after);
        const top = Math.max(newest, view.lastSeq);
        let lastSeq = top;
        let ahead = view.ahead.filter((v) => v > top);
        while (ahead[0] === lastSeq + 1) {
          lastSeq++;
          ahead = ahead.slice(1);
        }
        return { ...view, messages, lastSeq, ahead };
      });
      return { ...next, pending: withoutConfirmed(next.pending, event.messages) };
    }
    case "frame":
      return applyFrame(state, event.frame, event.now);
    case "send_queued":
      if (state.pending.some((p) => p.clientMsgId === event.pending.clientMsgId && p.roomId === event.pending.roomId)) return state;
      return { ...state, pending: [...state.pending, event.pending] };
    case "send_failed":
      return {
        ...state,
        pending: state.pending.map((p) => (p.clientMsgId === event.clientMsgId ? { ...p, status: "failed", error: event.error } : p)),
      };
    case "send_confirmed": {
      const { message } = event;
      const pending = state.pending.filter((p) => !(p.roomId === message.roomId && p.clientMsgId === message.clientMsgId));
      // Into a loaded view only as a message (the resume point moves with its stream, not with HTTP).
      const view = state.views[message.roomId];
      const views = view?.loaded ? { ...state.views, [message.roomId]: { ...view, messages: mergeMessages(view.messages, [message]) } } : state.views;
      return { ...state, pending, views };
    }
    case "send_retry":
      return {
        ...state,
        pending: state.pending.map((p) => (p.clientMsgId === event.clientMsgId ? { ...p, status: "pending", error: undefined } : p)),
      };
    case "read":
      return updateRoom(state, event.roomId, (room) =>
        event.seq <= room.lastReadSeq && room.unreadCount === 0 ? room : { ...room, lastReadSeq: Math.max(room.lastReadSeq, event.seq), unreadCount: 0 },
      );
    case "typing_expired": {
      let next = state;
      for (const view of Object.values(state.views)) {
        const typing = view.typing.filter((t) => event.now - t.at < TYPING_SHOWN_MS);
        if (typing.length !== view.typing.length) next = updateView(next, view.roomId, (v) => ({ ...v, typing }));
      }
      return next;
    }
  }
}

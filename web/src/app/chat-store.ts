// Orchestration: owns the state (through applyEvent), the connection and the
// outbox, and offers the actions the screens call. Components only render.
import { useSyncExternalStore } from "react";
import type { Me, Message } from "../../../src/protocol.ts";
import { api, ApiError } from "../api.ts";
import { applyEvent, initialState, type ChatEvent, type ChatState, type ServerFrameIn } from "../apply-event.ts";
import { createOutboxSender, deleteLocalData, openOutbox, type Outbox, type OutboxEntry } from "../outbox/outbox.ts";
import { createConnection, Disconnected, FrameError } from "../realtime/connection.ts";
import { afterPaint } from "./after-paint.ts";
import { arrivedNewest, takeEarlyNewest, takeEarlyRooms } from "./early.ts";
import { notifyIfHidden } from "./notify.ts";

type Listener = () => void;

const newClientMsgId = () => `c-${crypto.randomUUID()}`;
const PAGE = 50;

export function createChatStore() {
  let state: ChatState = initialState;
  const listeners = new Set<Listener>();
  let outbox: Outbox | undefined;
  let everConnected = false;
  /** The first room list: a room opens at the first unread only once its read marker is known. */
  let roomsLoaded: Promise<void> = Promise.resolve();
  /** IndexedDB opened (or failed to): a message is written there before it is sent. */
  let outboxReady: Promise<void> = Promise.resolve();
  let listening = false;

  function dispatch(event: ChatEvent) {
    const before = state;
    state = applyEvent(state, event);
    if (event.type === "frame") onFrame(event.frame, before);
    // Back after a disconnect: per-user frames sent meanwhile are lost, so read the room list again.
    if (event.type === "connection" && event.state === "connected") {
      if (everConnected) void loadRooms().catch(() => {});
      everConnected = true;
    }
    if (state !== before) for (const l of listeners) l();
  }

  const connection = createConnection({
    url: () => `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`,
    resumePoint: (roomId) => state.views[roomId],
    fetchAfter: (roomId, after) => api.after(roomId, after),
    dispatch,
    onJoined: (roomId) => void sender?.flush(roomId),
    onSignedOut: () => void signOutLocally(),
  });

  async function sendEntry(entry: OutboxEntry): Promise<"sent" | "rejected" | "offline"> {
    // A room not open here (written before a reload, the tab now elsewhere): over HTTP, same clientMsgId.
    if (!connection.isOpen(entry.roomId)) return sendOverHttp(entry);
    try {
      await connection.request("send_message", { roomId: entry.roomId, content: entry.content, clientMsgId: entry.clientMsgId, timestamp: Date.now() });
      return "sent";
    } catch (err) {
      if (err instanceof FrameError && err.code !== "rate_limited" && err.code !== "internal" && err.code !== "not_joined") {
        dispatch({ type: "send_failed", clientMsgId: entry.clientMsgId, error: err.message });
        return "rejected";
      }
      if (err instanceof FrameError) dispatch({ type: "send_failed", clientMsgId: entry.clientMsgId, error: err.message });
      return "offline";
    }
  }
  let sender: ReturnType<typeof createOutboxSender> | undefined;

  async function sendOverHttp(entry: OutboxEntry): Promise<"sent" | "rejected" | "offline"> {
    try {
      const message = await api.send(entry.roomId, entry.content, entry.clientMsgId);
      dispatch({ type: "send_confirmed", message });
      return "sent";
    } catch (err) {
      if (err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 429) {
        dispatch({ type: "send_failed", clientMsgId: entry.clientMsgId, error: err.message });
        return "rejected";
      }
      return "offline";
    }
  }

  function onFrame(frame: ServerFrameIn, before: ChatState) {
    if (frame.event === "room_activity" || frame.event === "new_message") notifyIfHidden(frame, before);
    if (frame.event === "membership_removed" && connection.isOpen(frame.data.roomId)) connection.closeRoom(frame.data.roomId);
  }

  async function loadRooms() {
    const rooms = [];
    let cursor: string | undefined;
    // Fetched before sign-in (a visitor who then logs in), the early page is a 401: ask again.
    let early = takeEarlyRooms()?.catch(() => api.myRooms());
    do {
      const page = await (early ?? api.myRooms(cursor));
      early = undefined;
      rooms.push(...page.data);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    dispatch({ type: "rooms_loaded", rooms });
  }

  /** Signed in: nothing here waits for anything, so the first screen can render at once. */
  function start(me: Me) {
    dispatch({ type: "signed_in", me });
    // The room list fills in when it comes; the socket and the outbox start after the first
    // paint (a room's page comes over HTTP; joins wait in the connection until it is open).
    roomsLoaded = loadRooms().catch(() => {});
    // Signed out (or in as someone else) meanwhile: the deferred start is void.
    const stillMe = () => state.me?.id === me.id;
    afterPaint(() => stillMe() && connection.start());
    outboxReady = new Promise<void>((resolve) =>
      afterPaint(() =>
        (stillMe() ? openOutbox() : Promise.reject(new Error("signed out")))
          .then(
            (opened) => {
              outbox = opened;
              const ready = (sender = createOutboxSender(opened, sendEntry));
              void (async () => {
                for (const entry of await opened.all()) dispatch({ type: "send_queued", pending: { ...entry, status: "pending" } });
                // Rooms joined before the outbox was open flush now (the others on their `joined`).
                await ready.flush();
              })().catch(() => {});
            },
            () => {},
          )
          .finally(resolve),
      ),
    );
    if (!listening) {
      listening = true;
      window.addEventListener("online", () => connection.retryNow());
      document.addEventListener("visibilitychange", () => {
        if (!document.hidden) connection.retryNow();
      });
    }
  }

  async function signOutLocally() {
    connection.stop();
    outbox?.close();
    outbox = undefined;
    sender = undefined;
    await deleteLocalData().catch(() => {});
    // The service worker's copies of API answers are this user's data too; the app shell is not.
    if ("caches" in window) for (const name of await caches.keys()) if (!name.startsWith("workbox-precache")) await caches.delete(name);
    dispatch({ type: "signed_out" });
  }

  const store = {
    getState: () => state,
    subscribe(listener: Listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    dispatch,
    start,
    loadRooms,

    async logout() {
      await api.logout().catch(() => {});
      await signOutLocally();
    },

    /** Settles once the first room list is in (or failed). */
    roomsReady: () => roomsLoaded,

    /**
     * Before the first render: applies the room's early newest page, if it is in and shows where
     * the room opens (nothing unread above it), so the room is drawn with its messages at once.
     */
    primeRoom(roomId: string) {
      const page = arrivedNewest(roomId);
      const room = state.rooms[roomId];
      if (!page || !room || state.views[roomId]?.loaded) return;
      const oldest = page.data[0]?.seq;
      if (room.unreadCount > 0 && page.nextCursor !== null && oldest !== undefined && oldest > room.lastReadSeq + 1) return;
      takeEarlyNewest(roomId);
      dispatch({ type: "page_newest", roomId, messages: page.data, reachedStart: page.nextCursor === null });
    },

    /** Shows a room: its newest page over HTTP, then live events resuming after it. */
    async openRoom(roomId: string) {
      if (!state.views[roomId]?.loaded) {
        const [page] = await Promise.all([takeEarlyNewest(roomId) ?? api.newest(roomId, PAGE), roomsLoaded]);
        dispatch({ type: "page_newest", roomId, messages: page.data, reachedStart: page.nextCursor === null });
        // Opening at the first unread: page back until the read marker is in view (a few pages at most).
        const lastRead = state.rooms[roomId]?.lastReadSeq ?? 0;
        for (let i = 0; i < 4 && (state.rooms[roomId]?.unreadCount ?? 0) > 0; i++) {
          const view = state.views[roomId]!;
          const oldest = view.messages[0]?.seq;
          if (view.reachedStart || oldest === undefined || oldest <= lastRead + 1) break;
          await store.loadOlder(roomId);
        }
      }
      connection.openRoom(roomId);
    },
    closeRoom: (roomId: string) => connection.closeRoom(roomId),

    async loadOlder(roomId: string) {
      const view = state.views[roomId];
      const oldest = view?.messages[0]?.seq;
      if (!view || view.reachedStart || oldest === undefined) return;
      const page = await api.before(roomId, oldest, PAGE);
      dispatch({ type: "page_older", roomId, messages: page.data, reachedStart: page.nextCursor === null || page.data.length === 0 });
    },

    async send(roomId: string, content: string) {
      const me = state.me!;
      const entry: OutboxEntry = { clientMsgId: newClientMsgId(), roomId, content, author: { id: me.id, username: me.username }, createdAt: new Date().toISOString() };
      dispatch({ type: "send_queued", pending: { ...entry, status: "pending" } });
      // Written down first: a reload or a lost connection must not lose it.
      await outboxReady;
      await outbox?.add(entry).catch(() => {});
      if (sender) await sender.sendOne(entry);
      else await sendEntry(entry);
    },

    async retry(clientMsgId: string) {
      const p = state.pending.find((x) => x.clientMsgId === clientMsgId);
      if (!p) return;
      dispatch({ type: "send_retry", clientMsgId });
      const entry: OutboxEntry = { clientMsgId: p.clientMsgId, roomId: p.roomId, content: p.content, author: p.author, createdAt: p.createdAt };
      await outbox?.add(entry).catch(() => {});
      if (sender) await sender.sendOne(entry);
      else await sendEntry(entry);
    },

    /** Edits, deletes and reactions go over HTTP; their events come back on the socket (and are applied from here too). */
    async edit(id: string, content: string) {
      applyHttpMessage(await api.edit(id, content), "message_updated");
    },
    async remove(id: string) {
      applyHttpMessage(await api.remove(id), "message_deleted");
    },
    async react(id: string, emoji: string) {
      applyHttpMessage(await api.react(id, emoji), "message_updated");
    },

    typing(roomId: string) {
      connection.notify("typing", { roomId });
    },

    markRead(roomId: string, seq: number) {
      const room = state.rooms[roomId];
      if (room && seq <= room.lastReadSeq && room.unreadCount === 0) return;
      dispatch({ type: "read", roomId, seq });
      if (!connection.notify("read", { roomId, seq })) void api.markRead(roomId, seq).catch(() => {});
    },
  };

  function applyHttpMessage(message: Message, event: "message_updated" | "message_deleted") {
    // The same change also arrives as a frame with its counter value; this one only replaces the
    // message when newer, so the resume point is untouched (seq undefined -> treated by version).
    const view = state.views[message.roomId];
    if (!view) return;
    const version = message.updatedSeq ?? message.seq;
    if (version <= view.lastSeq) dispatch({ type: "frame", frame: { event, data: message, seq: version }, now: Date.now() });
  }

  return store;
}

export type ChatStore = ReturnType<typeof createChatStore>;

export const chat = createChatStore();

export function useChat<T>(select: (s: ChatState) => T): T {
  return useSyncExternalStore(chat.subscribe, () => select(chat.getState()));
}

export { ApiError, Disconnected };

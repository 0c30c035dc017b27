import type { Server } from "bun";
import type { Bus } from "../bus/bus.ts";
import type { DomainEvent } from "../events.ts";
import { describeError, type Logger } from "../log.ts";
import { createRoomPresence } from "../presence/room-presence.ts";
import type { PresenceStore } from "../presence/store.ts";
import { BusMessage, parseBusMessage, roomChannel, SESSIONS_CHANNEL, SessionRevoked } from "../protocol.ts";
import type { Socket, SocketData } from "../socket-context.ts";
import type { HubDomain } from "./hub-domain.ts";
import { createJoinSeam, type JoinRequest } from "./join-seam.ts";
import type { RealtimeMetrics } from "./metrics.ts";
import { createOrderedRelease } from "./ordered-release.ts";
import { createRechecks } from "./rechecks.ts";
import { createRoomTopics, type LocalRoom } from "./room-topics.ts";
import { createSessionSockets } from "./session-sockets.ts";
import { createSlowConsumers } from "./slow-consumers.ts";
import { createSubscriptionCaps } from "./subscription-caps.ts";
import { createTyping } from "./typing.ts";
import { encodeFor, publishShared, roomShared, topicOf } from "./wire.ts";

export interface HubOptions {
  instanceId: string;
  bus: Bus;
  presence: PresenceStore;
  domain: HubDomain;
  log: Logger;
  metrics: RealtimeMetrics;
  /** How long an early event waits for the missing ones before Postgres is asked. */
  gapWaitMs?: number;
  /** Typing is skipped for a socket with more than this buffered. */
  ephemeralBufferLimit?: number;
  /** Past this many buffered bytes a socket is closed with 4008. */
  maxBufferedBytes?: number;
  /** How often open rooms are compared with Postgres, for events whose bus message never came. */
  reconcileMs?: number;
  /** Events a join replays at most (WS_REPLAY_MAX). */
  replayMax?: number;
  /** Rooms one socket, and one user's sockets together, may be joined to (live subscriptions). */
  maxRoomsPerSocket?: number;
  maxRoomsPerUser?: number;
  /** How often every socket's buffered bytes are checked (sends check on their own). */
  sweepMs?: number;
  /** Names in a first presence list and in diffs at most (PRESENCE_LIST_MAX). */
  presenceListMax?: number;
  /** Early events a room holds at most before it reads Postgres instead. */
  maxPendingEvents?: number;
  /** Live events held for one joining socket at most before its seam is read from Postgres again. */
  maxJoinerBuffer?: number;
}

const REPLAY_PAGE = 500;

/**
 * This instance's rooms, composed: topics fed by the bus (room-topics), ordered
 * release (ordered-release), the join seam (join-seam), presence (src/presence/),
 * typing, slow consumers and the re-checks against Postgres (rechecks).
 */
export function createHub(opts: HubOptions) {
  const { instanceId, bus, domain, log, metrics } = opts;
  const gapWaitMs = opts.gapWaitMs ?? 100;
  let server: Server<SocketData> | undefined;
  let timers: ReturnType<typeof setInterval>[] = [];
  let unsubscribeSessions: (() => Promise<void>) | undefined;

  const logError = (what: string) => (err: unknown) => log.error(what, describeError(err));
  const publishBus = (roomId: string, message: BusMessage) =>
    bus.publish(roomChannel(roomId), JSON.stringify(message)).catch(logError("bus publish failed"));

  const slow = createSlowConsumers({
    metrics,
    maxBufferedBytes: opts.maxBufferedBytes ?? 4 * 1024 * 1024,
    ephemeralBufferLimit: opts.ephemeralBufferLimit ?? 64 * 1024,
  });
  const sessions = createSessionSockets();
  const release = createOrderedRelease({ metrics, server: () => server, maxJoinerBuffer: opts.maxJoinerBuffer ?? 5_000 });
  const rooms = createRoomTopics({
    bus,
    domain,
    metrics,
    gapWaitMs,
    maxPendingEvents: opts.maxPendingEvents ?? 10_000,
    replayPage: REPLAY_PAGE,
    release: release.release,
    onBusMessage,
    onClosed: (room) => presence.roomClosed(room.id),
    logError,
  });
  const presence = createRoomPresence({
    store: opts.presence,
    listMax: opts.presenceListMax ?? 100,
    logError,
    rooms: {
      ids: () => rooms.ids(),
      isOpen: (roomId) => rooms.get(roomId) !== undefined,
      // Through the topic, like room events: never dropped for a slow socket, which the sweep
      // closes with 4008 instead (it rejoins with a fresh list).
      sendToRoom: (roomId, diff) => {
        const room = rooms.get(roomId);
        if (!room) return;
        const frame = roomShared(room, "presence_diff", diff);
        for (const joiner of room.joiners) joiner.presence?.push(frame);
        publishShared(server, room, frame);
        metrics.presenceDiffs.inc();
      },
      announce: (roomId) => void publishBus(roomId, { t: "presence", o: instanceId, roomId }),
    },
  });
  const typing = createTyping(rooms, slow);
  const join = createJoinSeam({ rooms, domain, presence, slow, gapWaitMs, replayPage: REPLAY_PAGE, replayMax: opts.replayMax ?? 500 });
  const caps = createSubscriptionCaps({ sessions, perSocket: opts.maxRoomsPerSocket ?? 500, perUser: opts.maxRoomsPerUser ?? 2_000 });
  const rechecks = createRechecks({ rooms, sessions, domain, metrics, dropUserFromRoom });

  function onBusMessage(payload: string) {
    const message = parseBusMessage(BusMessage, payload);
    if (!message) return log.warn("bad bus message");
    if (message.o === instanceId) return; // already handled locally
    switch (message.t) {
      case "ev":
        return rooms.get(message.e.roomId)?.sequencer.push(message.e);
      case "typing":
        return typing.show(message.roomId, message.user);
      case "presence":
        return presence.changedElsewhere(message.roomId);
      case "left":
        return dropUserFromRoom(message.roomId, message.userId);
    }
  }

  function detach(ws: Socket, room: LocalRoom) {
    if (!room.sockets.delete(ws)) return;
    for (const [key, id] of ws.data.roomKeys) if (id === room.id) ws.data.roomKeys.delete(key);
    if (ws.data.aliases.get(room.id) === room.alias) ws.data.aliases.delete(room.id);
    if (ws.readyState === 1) ws.unsubscribe(topicOf(room, ws.data.protocol));
    presence.wentOffline(room.id, ws.data.user.id);
    rooms.closeIfIdle(room);
  }

  /** A member removed from a room stops receiving it on every instance. */
  function dropUserFromRoom(roomId: string, userId: string) {
    const room = rooms.get(roomId);
    if (!room) return;
    for (const joiner of room.joiners) if (joiner.userId === userId) joiner.cancelled = true;
    for (const ws of [...room.sockets]) if (ws.data.user.id === userId) detach(ws, room);
  }

  /** Once a tick: whatever a lost Redis message should have done (events, removals, revocations, expiries). */
  let rechecking = false;
  function recheck() {
    if (rechecking) return; // a slow Postgres must not pile the ticks up
    rechecking = true;
    void Promise.all([
      rechecks.checkRooms().catch(logError("room re-check failed")),
      rechecks.closeEndedSessions().catch(logError("session re-check failed")),
    ]).finally(() => (rechecking = false));
  }

  function onBusReconnected() {
    log.info("bus reconnected: filling holes from Postgres");
    for (const room of rooms.all()) void room.sequencer.catchUp();
    presence.heartbeat();
    void rechecks.closeEndedSessions().catch(logError("session re-check failed"));
    void rechecks.checkRooms(true).catch(logError("room re-check failed"));
  }

  return {
    attach(s: Server<SocketData>) {
      server = s;
    },

    async start() {
      unsubscribeSessions = await bus.subscribe(SESSIONS_CHANNEL, (payload) => {
        const message = parseBusMessage(SessionRevoked, payload);
        if (message) sessions.close(message.sessionId);
        else log.warn("bad session message");
      });
      bus.onReconnect?.(onBusReconnected);
      timers = [
        setInterval(() => slow.sweep(sessions.all()), opts.sweepMs ?? 250),
        setInterval(() => presence.heartbeat(), 2_000),
        setInterval(recheck, opts.reconcileMs ?? 1_000),
      ];
    },

    stop() {
      for (const t of timers) clearInterval(t);
      timers = [];
      void unsubscribeSessions?.().catch(logError("bus unsubscribe failed"));
      for (const room of [...rooms.all()]) rooms.close(room);
    },

    /** Wired to this process's domain events. */
    onDomainEvent(event: DomainEvent) {
      switch (event.type) {
        case "room.event":
          rooms.get(event.event.roomId)?.sequencer.push(event.event);
          void publishBus(event.event.roomId, { t: "ev", o: instanceId, e: event.event });
          break;
        case "room.member_left":
          dropUserFromRoom(event.roomId, event.userId);
          void publishBus(event.roomId, { t: "left", o: instanceId, roomId: event.roomId, userId: event.userId });
          break;
        case "session.revoked":
          sessions.close(event.sessionId);
          bus.publish(SESSIONS_CHANNEL, JSON.stringify({ sessionId: event.sessionId } satisfies SessionRevoked)).catch(logError("bus publish failed"));
          break;
        case "room.member_joined":
          break;
      }
    },

    connected(ws: Socket) {
      if (sessions.add(ws)) metrics.connections.inc();
    },

    disconnected(ws: Socket) {
      if (!sessions.remove(ws)) return;
      metrics.connections.dec();
      caps.forget(ws);
      for (const roomId of new Set(ws.data.roomKeys.values())) {
        const room = rooms.get(roomId);
        if (room) detach(ws, room);
      }
      // Nothing of a closed socket is kept: its maps go with it.
      ws.data.roomKeys.clear();
      ws.data.pendingJoins.clear();
      ws.data.typingAt.clear();
      ws.data.aliases.clear();
    },

    /** Live sockets of the user on this instance (the per-user socket cap). */
    socketsOf: (userId: string) => sessions.ofUser(userId).size,

    /** One frame to one socket; past its buffered-bytes limit it is closed with 4008. */
    send: slow.send,

    /** A frame for this socket, in the version it negotiated. */
    encodeFor,

    assertCanJoin(ws: Socket, roomKey: string) {
      if (ws.data.roomKeys.has(roomKey.toLowerCase())) return; // a rejoin replaces its subscription
      caps.assertRoomForOneMore(ws);
    },

    expectOrigin: release.expectOrigin,

    join(
      ws: Socket,
      info: { roomId: string; slug: string },
      afterSeq: number | undefined,
      ref?: string | number,
      leftMeanwhile?: () => boolean,
    ) {
      const req: JoinRequest = { roomId: info.roomId, slug: info.slug, afterSeq, ref, leftMeanwhile };
      return caps.counting(ws, () => join(ws, req));
    },

    leave(ws: Socket, roomId: string) {
      const room = rooms.get(roomId);
      if (room) detach(ws, room);
    },

    typing(ws: Socket, roomId: string) {
      const user = { id: ws.data.user.id, username: ws.data.user.username };
      typing.show(roomId, user, ws);
      void publishBus(roomId, { t: "typing", o: instanceId, roomId, user });
    },

    /** What this hub holds: all of it goes back to zero once its sockets have closed. */
    holding() {
      let roomsOpen = 0;
      for (const _ of rooms.all()) roomsOpen++;
      let socketsOpen = 0;
      for (const _ of sessions.all()) socketsOpen++;
      return { rooms: roomsOpen, sockets: socketsOpen, sessions: sessions.sessionIds().length, ...presence.holding() };
    },

    /** Graceful shutdown: every client is told to reconnect elsewhere. */
    closeAll(code: number, reason: string) {
      for (const ws of [...sessions.all()]) ws.close(code, reason);
    },
  };
}

export type Hub = ReturnType<typeof createHub>;

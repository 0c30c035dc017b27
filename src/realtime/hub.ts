import type { Server } from "bun";
import type { Bus } from "../bus/bus.ts";
import type { DomainEvent } from "../events.ts";
import type { Logger } from "../log.ts";
import { dedupeUsers, type PresenceStore } from "../presence/store.ts";
import { AppError } from "../http/errors.ts";
import type { RoomEvent, ServerEvent, UserRef } from "../protocol.ts";
import type { Socket, SocketData } from "../socket-context.ts";
import { RoomSequencer, type Sequenced } from "./room-sequencer.ts";
import type { RealtimeMetrics } from "./metrics.ts";

export interface HubDomain {
  /** One event per counter value above `afterSeq`, in order, at most `limit`. */
  eventsAfter(roomId: string, afterSeq: number, limit: number): Promise<RoomEvent[]>;
  lastSeq(roomId: string): Promise<number>;
  /** Counter values of several rooms at once (the periodic reconcile). */
  lastSeqs(roomIds: string[]): Promise<Map<string, number>>;
  /** Which of these sessions are revoked (checked after a bus outage). */
  revokedSessions(sessionIds: string[]): Promise<string[]>;
  /** Which of these (room, user) pairs are memberships (checked after a bus outage). */
  memberships(pairs: { roomId: string; userId: string }[]): Promise<{ roomId: string; userId: string }[]>;
}

export interface HubOptions {
  instanceId: string;
  bus: Bus;
  presence: PresenceStore;
  domain: HubDomain;
  log: Logger;
  metrics: RealtimeMetrics;
  /** How long an early event waits for the missing ones before Postgres is asked. */
  gapWaitMs?: number;
  /** Typing and presence are skipped for a socket with more than this buffered. */
  ephemeralBufferLimit?: number;
  /** Past this many buffered bytes a socket is closed with 4008. */
  maxBufferedBytes?: number;
  /** How often open rooms are compared with Postgres, for events whose bus message never came. */
  reconcileMs?: number;
}

type BusMessage =
  | { t: "ev"; o: string; e: RoomEvent }
  | { t: "typing"; o: string; roomId: string; user: UserRef }
  | { t: "presence"; o: string; roomId: string }
  | { t: "left"; o: string; roomId: string; userId: string };

interface Joiner {
  userId: string;
  /** Held live events; `origin` is the socket that sent it (it got message_ack instead). */
  buffer: { seq: number; text: string; origin?: Socket }[];
  /** The user was removed from the room while joining. */
  cancelled: boolean;
}

interface LocalRoom {
  id: string;
  topic: string;
  sockets: Set<Socket>;
  joiners: Set<Joiner>;
  users: Map<string, { user: UserRef; sockets: number }>;
  sequencer: RoomSequencer<Socket>;
  ready: Promise<void>;
  unsubscribeBus?: () => Promise<void>;
  presenceText?: string;
}

const REPLAY_PAGE = 500;
const BUS_SUBSCRIBE_WAIT_MS = 2_000;
/** Presence is best effort: a join or a heartbeat never waits longer for Redis. */
const PRESENCE_WAIT_MS = 500;
export const roomChannel = (roomId: string) => `room:${roomId}`;
export const SESSIONS_CHANNEL = "sessions";

export function frame(event: ServerEvent, data: unknown, extra: { ref?: string | number; seq?: number } = {}) {
  return JSON.stringify({ event, data, ...extra, timestamp: Date.now() });
}

/**
 * This instance's rooms: which local sockets receive which room, the Redis
 * subscriptions behind them, ordered release of room events, presence and typing.
 */
export function createHub(opts: HubOptions) {
  const { instanceId, bus, presence, domain, log, metrics } = opts;
  const gapWaitMs = opts.gapWaitMs ?? 100;
  const ephemeralLimit = opts.ephemeralBufferLimit ?? 64 * 1024;
  const maxBuffered = opts.maxBufferedBytes ?? 4 * 1024 * 1024;
  const rooms = new Map<string, LocalRoom>();
  const sockets = new Set<Socket>();
  const bySession = new Map<string, Set<Socket>>();
  /** Sockets whose send is in flight, keyed by room/author/clientMsgId: skipped when their message is published. */
  const origins = new Map<string, Socket>();
  let server: Server<SocketData> | undefined;
  let timers: ReturnType<typeof setInterval>[] = [];
  let unsubscribeSessions: (() => Promise<void>) | undefined;

  const logError = (what: string) => (err: unknown) => log.error(what, { error: String(err) });
  const withinPresenceWait = <T>(work: Promise<T>): Promise<T> =>
    Promise.race([work, Bun.sleep(PRESENCE_WAIT_MS).then(() => Promise.reject(new Error("presence store timed out")))]);
  const publishBus = (roomId: string, message: BusMessage) =>
    bus.publish(roomChannel(roomId), JSON.stringify(message)).catch(logError("bus publish failed"));
  const originKey = (roomId: string, userId: string, clientMsgId: string) => `${roomId}\n${userId}\n${clientMsgId}`;

  function release(room: LocalRoom, { event, extra }: Sequenced<Socket>) {
    const text = frame(event.kind, event.message, { seq: event.seq });
    let origin = extra;
    if (!origin && event.kind === "new_message") {
      const key = originKey(room.id, event.message.author.id, event.message.clientMsgId);
      origin = origins.get(key);
      origins.delete(key);
    }
    for (const joiner of room.joiners) joiner.buffer.push({ seq: event.seq, text, origin });
    // The sender gets message_ack instead: publishing from its socket skips it.
    if (origin && origin.readyState === 1) origin.publish(room.topic, text);
    else server?.publish(room.topic, text);
    metrics.released.inc();
    metrics.deliveries.inc(room.sockets.size - (origin && room.sockets.has(origin) ? 1 : 0));
  }

  function openRoom(roomId: string): LocalRoom {
    const existing = rooms.get(roomId);
    if (existing) return existing;
    const room: LocalRoom = {
      id: roomId,
      topic: `room:${roomId}`,
      sockets: new Set(),
      joiners: new Set(),
      users: new Map(),
      sequencer: undefined as unknown as RoomSequencer<Socket>,
      ready: Promise.resolve(),
    };
    room.sequencer = new RoomSequencer<Socket>(
      (item) => release(room, item),
      (after) => {
        metrics.gapFills.inc();
        return domain.eventsAfter(roomId, after, REPLAY_PAGE);
      },
      gapWaitMs,
      logError("room sequencer"),
      () => metrics.gapsDetected.inc(),
    );
    rooms.set(roomId, room);
    metrics.roomsOpen.set(rooms.size);
    // Subscribe upstream first, then read the baseline: nothing committed in between is missed.
    room.ready = (async () => {
      const subscribed = bus.subscribe(roomChannel(roomId), (payload) => onBusMessage(payload));
      subscribed.then(
        (off) => {
          if (rooms.get(roomId) === room) room.unsubscribeBus = off;
          else void off().catch(logError("bus unsubscribe failed"));
        },
        logError("bus subscribe failed"),
      );
      // While Redis is away the subscription waits for it; local delivery need not, and the
      // reconnect catch-up fills from Postgres whatever other instances sent meanwhile.
      await Promise.race([subscribed, Bun.sleep(BUS_SUBSCRIBE_WAIT_MS)]);
      room.sequencer.setBaseline(await domain.lastSeq(roomId));
    })();
    room.ready.catch((err) => {
      logError("opening room failed")(err);
      if (rooms.get(roomId) === room && room.sockets.size === 0 && room.joiners.size === 0) closeRoom(room);
    });
    return room;
  }

  function closeRoom(room: LocalRoom) {
    if (rooms.get(room.id) !== room) return;
    rooms.delete(room.id);
    metrics.roomsOpen.set(rooms.size);
    room.sequencer.close();
    // A subscription still pending when the room closes is undone when it completes (see openRoom).
    void room.unsubscribeBus?.().catch(logError("bus unsubscribe failed"));
  }

  function maybeCloseRoom(room: LocalRoom) {
    if (room.sockets.size === 0 && room.joiners.size === 0) closeRoom(room);
  }

  function onBusMessage(payload: string) {
    let message: BusMessage;
    try {
      message = JSON.parse(payload) as BusMessage;
    } catch {
      return log.warn("bad bus message");
    }
    if (message.o === instanceId) return; // already handled locally
    switch (message.t) {
      case "ev":
        rooms.get(message.e.roomId)?.sequencer.push(message.e);
        break;
      case "typing":
        sendTyping(message.roomId, message.user);
        break;
      case "presence":
        void refreshPresence([message.roomId]).catch(logError("presence refresh failed"));
        break;
      case "left":
        dropUserFromRoom(message.roomId, message.userId);
        break;
    }
  }

  function sendEphemeral(room: LocalRoom, text: string, except?: Socket) {
    for (const ws of room.sockets) {
      if (ws === except) continue;
      if (ws.getBufferedAmount() > ephemeralLimit) {
        metrics.ephemeralDropped.inc();
        continue;
      }
      ws.send(text);
    }
  }

  function sendTyping(roomId: string, user: UserRef, except?: Socket) {
    const room = rooms.get(roomId);
    if (room) sendEphemeral(room, frame("typing", { roomId, user }), except);
  }

  async function refreshPresence(roomIds: string[]) {
    if (!roomIds.length) return;
    const lists = await withinPresenceWait(presence.list(roomIds));
    for (const [roomId, users] of lists) {
      const room = rooms.get(roomId);
      if (!room) continue;
      const text = JSON.stringify(users);
      if (text === room.presenceText) continue;
      room.presenceText = text;
      sendEphemeral(room, frame("presence", { roomId, users }));
    }
  }

  /** Counts the socket; the first of its user in this room announces the change. */
  function userCameOnline(room: LocalRoom, ws: Socket, announce: boolean) {
    const { id, username } = ws.data.user;
    const entry = room.users.get(id);
    if (entry) entry.sockets += 1;
    else room.users.set(id, { user: { id, username }, sockets: 1 });
    if (!entry && announce) {
      void publishBus(room.id, { t: "presence", o: instanceId, roomId: room.id });
      void refreshPresence([room.id]).catch(logError("presence refresh failed"));
    }
  }

  function userWentOffline(room: LocalRoom, userId: string) {
    const entry = room.users.get(userId);
    if (!entry) return;
    entry.sockets -= 1;
    if (entry.sockets > 0) return;
    room.users.delete(userId);
    void withinPresenceWait(presence.remove(room.id, userId))
      .then(() => {
        void publishBus(room.id, { t: "presence", o: instanceId, roomId: room.id });
        return refreshPresence([room.id]);
      })
      .catch(logError("presence remove failed"));
  }

  function detach(ws: Socket, room: LocalRoom) {
    if (!room.sockets.delete(ws)) return;
    for (const [key, id] of ws.data.roomKeys) if (id === room.id) ws.data.roomKeys.delete(key);
    if (ws.readyState === 1) ws.unsubscribe(room.topic);
    userWentOffline(room, ws.data.user.id);
    maybeCloseRoom(room);
  }

  /** A member removed from a room stops receiving it on every instance. */
  function dropUserFromRoom(roomId: string, userId: string) {
    const room = rooms.get(roomId);
    if (!room) return;
    for (const joiner of room.joiners) if (joiner.userId === userId) joiner.cancelled = true;
    for (const ws of [...room.sockets]) if (ws.data.user.id === userId) detach(ws, room);
  }

  /** Rooms whose counter in Postgres is ahead of what they released: a bus message never came. */
  async function reconcile() {
    const open = [...rooms.values()].filter((r) => r.sequencer.lastReleased >= 0);
    if (!open.length) return;
    const latest = await domain.lastSeqs(open.map((r) => r.id));
    for (const room of open) {
      const lastSeq = latest.get(room.id);
      if (lastSeq !== undefined && lastSeq > room.sequencer.lastReleased && rooms.get(room.id) === room) {
        metrics.reconciled.inc();
        void room.sequencer.catchUp();
      }
    }
  }

  /** After a bus outage a removal message may have been lost: ask Postgres about every local member. */
  async function dropLostMembers() {
    const pairs = [...rooms.values()].flatMap((room) => [...room.users.keys()].map((userId) => ({ roomId: room.id, userId })));
    for (let i = 0; i < pairs.length; i += 1000) {
      const chunk = pairs.slice(i, i + 1000);
      const kept = new Set((await domain.memberships(chunk)).map((m) => `${m.roomId}\n${m.userId}`));
      for (const { roomId, userId } of chunk) if (!kept.has(`${roomId}\n${userId}`)) dropUserFromRoom(roomId, userId);
    }
  }

  /** After a bus outage a revocation message may have been lost: ask Postgres about every open session. */
  async function closeRevokedSessions() {
    const ids = [...bySession.keys()];
    for (let i = 0; i < ids.length; i += 1000) {
      for (const sessionId of await domain.revokedSessions(ids.slice(i, i + 1000))) closeSession(sessionId);
    }
  }

  function closeSlow(ws: Socket) {
    metrics.slowClosed.inc();
    ws.close(4008, "too slow: resume with afterSeq");
  }

  function closeSession(sessionId: string) {
    for (const ws of bySession.get(sessionId) ?? []) ws.close(4001, "signed out");
  }

  function sweepSlowConsumers() {
    for (const ws of sockets) if (ws.readyState === 1 && ws.getBufferedAmount() > maxBuffered) closeSlow(ws);
  }

  function heartbeat() {
    const entries: { roomId: string; user: UserRef }[] = [];
    for (const room of rooms.values()) for (const { user } of room.users.values()) entries.push({ roomId: room.id, user });
    void withinPresenceWait(presence.refresh(entries))
      .then(() => refreshPresence([...rooms.keys()]))
      .catch(logError("presence heartbeat failed"));
  }

  /**
   * The room's online users for a joiner. Its own entry is written first, so the list
   * includes itself. Presence lives in Redis and is best effort: without it the join goes
   * on with what this instance knows.
   */
  async function presenceForJoiner(room: LocalRoom, user: UserRef, newUser: boolean) {
    let added = false;
    if (newUser) {
      added = await withinPresenceWait(presence.add(room.id, user)).then(
        () => true,
        (err) => (logError("presence add failed")(err), false),
      );
    }
    const users =
      (await withinPresenceWait(presence.list([room.id])).catch(() => undefined))?.get(room.id) ??
      dedupeUsers([...[...room.users.values()].map((u) => u.user), user]);
    return { users, added };
  }

  /**
   * Sends the replay page by page; a client that cannot keep up is cut off like any slow
   * consumer. Returns the last value sent, null when there was nothing to replay, or
   * undefined when the join should stop.
   */
  async function streamReplay(ws: Socket, room: LocalRoom, firstPage: RoomEvent[], stillWanted: () => boolean) {
    let last: number | null = null;
    for (let page = firstPage; page.length; ) {
      for (const event of page) ws.send(frame(event.kind, event.message, { seq: event.seq }));
      last = page.at(-1)!.seq;
      if (ws.getBufferedAmount() > maxBuffered) {
        closeSlow(ws);
        return undefined;
      }
      if (page.length < REPLAY_PAGE) break;
      page = await domain.eventsAfter(room.id, last, REPLAY_PAGE);
      if (!stillWanted()) return undefined;
    }
    return last;
  }

  /**
   * The replay may be ahead of this instance's live stream, and the topic would repeat those
   * values: the joiner keeps collecting until the room has released everything replayed.
   */
  async function waitForLiveStream(room: LocalRoom, last: number) {
    for (let tries = 0; room.sequencer.lastReleased < last && tries < 20; tries++) {
      await room.sequencer.catchUp();
      if (room.sequencer.lastReleased < last) await Bun.sleep(gapWaitMs);
    }
    if (room.sequencer.lastReleased < last) {
      throw new AppError(503, "unavailable", "the room could not catch up; join again with afterSeq");
    }
  }

  /** Sends the held events above `last`, then subscribes: no await between, so nothing falls in between. */
  function subscribeAfterHeld(ws: Socket, room: LocalRoom, joiner: Joiner, last: number) {
    for (const held of joiner.buffer) {
      if (held.seq <= last) continue;
      last = held.seq;
      if (held.origin !== ws) ws.send(held.text); // its own message came as message_ack
    }
    ws.subscribe(room.topic);
    room.sockets.add(ws);
    ws.data.roomKeys.set(room.id, room.id);
  }

  return {
    attach(s: Server<SocketData>) {
      server = s;
    },

    async start() {
      unsubscribeSessions = await bus.subscribe(SESSIONS_CHANNEL, (payload) => {
        try {
          closeSession((JSON.parse(payload) as { sessionId: string }).sessionId);
        } catch {
          log.warn("bad session message");
        }
      });
      bus.onReconnect?.(() => {
        log.info("bus reconnected: filling holes from Postgres");
        for (const room of rooms.values()) void room.sequencer.catchUp();
        heartbeat();
        void closeRevokedSessions().catch(logError("session re-check failed"));
        void dropLostMembers().catch(logError("membership re-check failed"));
      });
      timers = [
        setInterval(sweepSlowConsumers, 250),
        setInterval(heartbeat, 2_000),
        setInterval(() => void reconcile().catch(logError("reconcile failed")), opts.reconcileMs ?? 1_000),
      ];
    },

    stop() {
      for (const t of timers) clearInterval(t);
      timers = [];
      void unsubscribeSessions?.().catch(logError("bus unsubscribe failed"));
      for (const room of [...rooms.values()]) closeRoom(room);
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
          closeSession(event.sessionId);
          bus
            .publish(SESSIONS_CHANNEL, JSON.stringify({ sessionId: event.sessionId }))
            .catch(logError("bus publish failed"));
          break;
        case "room.member_joined":
          break;
      }
    },

    connected(ws: Socket) {
      sockets.add(ws);
      let set = bySession.get(ws.data.sessionId);
      if (!set) bySession.set(ws.data.sessionId, (set = new Set()));
      set.add(ws);
      metrics.connections.inc();
    },

    disconnected(ws: Socket) {
      if (!sockets.delete(ws)) return;
      metrics.connections.dec();
      const set = bySession.get(ws.data.sessionId);
      set?.delete(ws);
      if (set?.size === 0) bySession.delete(ws.data.sessionId);
      for (const roomId of new Set(ws.data.roomKeys.values())) {
        const room = rooms.get(roomId);
        if (room) detach(ws, room);
      }
      ws.data.roomKeys.clear();
    },

    /** Registers the socket that is sending this message, so it gets the ack and not the event. */
    expectOrigin(roomId: string, userId: string, clientMsgId: string, ws: Socket) {
      const key = originKey(roomId, userId, clientMsgId);
      origins.set(key, ws);
      return () => {
        if (origins.get(key) === ws) origins.delete(key);
      };
    },

    /**
     * The join seam: subscribe upstream and hold live events for this socket,
     * send `joined`, presence and the replay read from Postgres, then the held
     * events above the last replayed value, then subscribe the socket to the topic.
     */
    async join(
      ws: Socket,
      info: { roomId: string; slug: string },
      afterSeq: number | undefined,
      ref?: string | number,
      /** The client sent leave_room before this join finished. */
      leftMeanwhile: () => boolean = () => false,
    ) {
      const room = openRoom(info.roomId);
      const { id, username } = ws.data.user;
      const joiner: Joiner = { userId: id, buffer: [], cancelled: false };
      room.joiners.add(joiner);
      let presenceAdded = false;
      let subscribed = false;
      const stillWanted = () => {
        if (joiner.cancelled) throw new AppError(404, "not_found", "room not found");
        return ws.readyState === 1 && !leftMeanwhile();
      };
      try {
        await room.ready;
        if (afterSeq !== undefined && afterSeq > room.sequencer.lastReleased && afterSeq > (await domain.lastSeq(room.id))) {
          throw new AppError(400, "invalid_data", "afterSeq is beyond the room's last value");
        }
        const firstPage = afterSeq === undefined ? [] : await domain.eventsAfter(room.id, afterSeq, REPLAY_PAGE);
        const newUser = !room.users.has(id);
        const online = await presenceForJoiner(room, { id, username }, newUser);
        presenceAdded = online.added;
        if (!stillWanted()) return;

        // Taken with `joined`, in the same tick: everything released later is held for this socket.
        const base = afterSeq ?? room.sequencer.lastReleased;
        const lastSeq = Math.max(room.sequencer.lastReleased, firstPage.at(-1)?.seq ?? 0, afterSeq ?? 0);
        ws.send(frame("joined", { roomId: room.id, slug: info.slug, lastSeq }, { ref }));
        ws.send(frame("presence", { roomId: room.id, users: online.users }));
        const replayed = await streamReplay(ws, room, firstPage, stillWanted);
        if (replayed === undefined) return;
        const last = replayed ?? base;
        await waitForLiveStream(room, last);
        if (!stillWanted()) return;
        subscribeAfterHeld(ws, room, joiner, last);
        subscribed = true;
        ws.data.roomKeys.set(info.slug, room.id);
        userCameOnline(room, ws, newUser);
        return { lastSeq };
      } finally {
        room.joiners.delete(joiner);
        if (presenceAdded && !subscribed && !room.users.has(id)) {
          void presence.remove(room.id, id).catch(logError("presence remove failed"));
        }
        maybeCloseRoom(room);
      }
    },

    leave(ws: Socket, roomId: string) {
      const room = rooms.get(roomId);
      if (room) detach(ws, room);
    },

    typing(ws: Socket, roomId: string) {
      const { id, username } = ws.data.user;
      sendTyping(roomId, { id, username }, ws);
      void publishBus(roomId, { t: "typing", o: instanceId, roomId, user: { id, username } });
    },

    /** Graceful shutdown: every client is told to reconnect elsewhere. */
    closeAll(code: number, reason: string) {
      for (const ws of [...sockets]) ws.close(code, reason);
    },

  };
}

export type Hub = ReturnType<typeof createHub>;

import type { Bus } from "../bus/bus.ts";
import { roomChannel } from "../protocol.ts";
import type { Socket } from "../socket-context.ts";
import type { HubDomain } from "./hub-domain.ts";
import type { RealtimeMetrics } from "./metrics.ts";
import { RoomSequencer, type Sequenced } from "./room-sequencer.ts";
import type { SharedFrame } from "./wire.ts";

/** A frame held for a socket that is still joining; `seq` is set for room events. */
export interface Held {
  seq?: number;
  frame: SharedFrame;
  /** The socket that sent this message (it got message_ack instead). */
  origin?: Socket;
}

export interface Joiner {
  userId: string;
  buffer: Held[];
  /** The user was removed from the room while joining. */
  cancelled: boolean;
  /** The buffer hit its bound and was emptied: what it held must be read from Postgres again. */
  overflowed: boolean;
  /** Presence diffs since its first list (undefined until that list is sent). */
  presence?: SharedFrame[];
}

/** One room as this instance sees it: its local sockets, its joiners and its ordered stream. */
export interface LocalRoom {
  id: string;
  /** The v2 name of the room on this instance while it is open (never reused). */
  alias: number;
  /** The v1 topic; other versions' topics derive from it (wire.ts topicOf). */
  topic: string;
  sockets: Set<Socket>;
  joiners: Set<Joiner>;
  sequencer: RoomSequencer<Socket>;
  /** Subscribed upstream (or gave up waiting) and baseline known. */
  ready: Promise<void>;
  unsubscribeBus?: () => Promise<void>;
}

export interface RoomTopicsOptions {
  bus: Bus;
  domain: HubDomain;
  metrics: RealtimeMetrics;
  gapWaitMs: number;
  /** Events a room may hold out of order before it drops them and reads Postgres instead. */
  maxPendingEvents: number;
  replayPage: number;
  release(room: LocalRoom, item: Sequenced<Socket>): void;
  onBusMessage(payload: string): void;
  onClosed(room: LocalRoom): void;
  logError(what: string): (err: unknown) => void;
}

/** How long a room waits for its Redis subscription before serving local sockets anyway. */
const BUS_SUBSCRIBE_WAIT_MS = 2_000;

/**
 * The rooms open on this instance. A room opens with its first local joiner and
 * closes with its last socket: subscribed to its bus channel in between.
 */
export function createRoomTopics(opts: RoomTopicsOptions) {
  const { bus, domain, metrics, logError } = opts;
  const rooms = new Map<string, LocalRoom>();
  let lastAlias = 0;

  function open(roomId: string): LocalRoom {
    const existing = rooms.get(roomId);
    if (existing) return existing;
    const room: LocalRoom = {
      id: roomId,
      alias: ++lastAlias,
      topic: roomChannel(roomId),
      sockets: new Set(),
      joiners: new Set(),
      sequencer: undefined as unknown as RoomSequencer<Socket>,
      ready: Promise.resolve(),
    };
    room.sequencer = new RoomSequencer<Socket>({
      release: (item) => opts.release(room, item),
      fetchAfter: (after) => {
        metrics.gapFills.inc();
        return domain.eventsAfter(roomId, after, opts.replayPage);
      },
      gapWaitMs: opts.gapWaitMs,
      maxPending: opts.maxPendingEvents,
      onError: logError("room sequencer"),
      onGap: () => metrics.gapsDetected.inc(),
    });
    rooms.set(roomId, room);
    metrics.roomsOpen.set(rooms.size);
    room.ready = subscribeThenBaseline(room);
    room.ready.catch((err) => {
      logError("opening room failed")(err);
      closeIfIdle(room);
    });
    return room;
  }

  // Subscribe upstream first, then read the baseline: nothing committed in between is missed.
  async function subscribeThenBaseline(room: LocalRoom) {
    const subscribed = bus.subscribe(roomChannel(room.id), opts.onBusMessage);
    subscribed.then(
      (off) => {
        if (rooms.get(room.id) === room) room.unsubscribeBus = off;
        else void off().catch(logError("bus unsubscribe failed"));
      },
      logError("bus subscribe failed"),
    );
    // While Redis is away the subscription waits for it; local delivery need not, and the
    // reconnect catch-up fills from Postgres whatever other instances sent meanwhile.
    await Promise.race([subscribed, Bun.sleep(BUS_SUBSCRIBE_WAIT_MS)]);
    room.sequencer.setBaseline(await domain.lastSeq(room.id));
  }

  function close(room: LocalRoom) {
    if (rooms.get(room.id) !== room) return;
    rooms.delete(room.id);
    metrics.roomsOpen.set(rooms.size);
    room.sequencer.close();
    // A subscription still pending when the room closes is undone when it completes (see above).
    void room.unsubscribeBus?.().catch(logError("bus unsubscribe failed"));
    opts.onClosed(room);
  }

  function closeIfIdle(room: LocalRoom) {
    if (room.sockets.size === 0 && room.joiners.size === 0) close(room);
  }

  return {
    open,
    close,
    closeIfIdle,
    get: (roomId: string) => rooms.get(roomId),
    all: () => rooms.values(),
    ids: () => rooms.keys(),
  };
}

export type RoomTopics = ReturnType<typeof createRoomTopics>;

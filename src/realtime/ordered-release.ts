import type { Server } from "bun";
import type { Socket, SocketData } from "../socket-context.ts";
import type { RealtimeMetrics } from "./metrics.ts";
import type { Sequenced } from "./room-sequencer.ts";
import type { LocalRoom } from "./room-topics.ts";
import { publishShared, roomEventShared } from "./wire.ts";

export interface OrderedReleaseOptions {
  metrics: RealtimeMetrics;
  server(): Server<SocketData> | undefined;
  /** Held events a joiner may collect; past it they are read from Postgres again. */
  maxJoinerBuffer: number;
}

const originKey = (roomId: string, userId: string, clientMsgId: string) => `${roomId}\n${userId}\n${clientMsgId}`;

/**
 * The last step of a room event on this instance: the sequencer hands it over in
 * counter order, and it goes to the room's topic and to the sockets still joining.
 */
export function createOrderedRelease({ metrics, server, maxJoinerBuffer }: OrderedReleaseOptions) {
  /** Sockets whose send is in flight, keyed by room/author/clientMsgId: skipped when their message is released. */
  const origins = new Map<string, Socket>();

  function release(room: LocalRoom, { event, extra }: Sequenced<Socket>) {
    const frame = roomEventShared(room, event);
    let origin = extra;
    if (!origin && event.kind === "new_message") {
      const key = originKey(room.id, event.message.author.id, event.message.clientMsgId);
      origin = origins.get(key);
      origins.delete(key);
    }
    for (const joiner of room.joiners) {
      if (joiner.overflowed) continue;
      if (joiner.buffer.length >= maxJoinerBuffer) {
        joiner.overflowed = true;
        joiner.buffer = [];
        metrics.joinerOverflows.inc();
        continue;
      }
      joiner.buffer.push({ seq: event.seq, frame, origin });
    }
    // The sender gets message_ack instead: publishing from its socket skips it.
    publishShared(server(), room, frame, origin);
    metrics.released.inc();
    metrics.deliveries.inc(room.sockets.size - (origin && room.sockets.has(origin) ? 1 : 0));
  }

  return {
    release,

    /** Registers the socket that is sending this message, so it gets the ack and not the event; returns the undo. */
    expectOrigin(roomId: string, userId: string, clientMsgId: string, ws: Socket) {
      const key = originKey(roomId, userId, clientMsgId);
      origins.set(key, ws);
      return () => {
        if (origins.get(key) === ws) origins.delete(key);
      };
    },
  };
}

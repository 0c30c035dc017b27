import { AppError } from "../http/errors.ts";
import type { Socket } from "../socket-context.ts";
import type { SessionSockets } from "./session-sockets.ts";

export interface SubscriptionCapsOptions {
  sessions: SessionSockets;
  /** WS_MAX_ROOMS_PER_SOCKET */
  perSocket: number;
  /** WS_MAX_ROOMS_PER_USER: one user's sockets on this instance together. */
  perUser: number;
}

/**
 * Rooms a socket, and a user's sockets together, may be joined to. They count live
 * subscriptions (joined, and joins in flight), not memberships.
 */
export function createSubscriptionCaps({ sessions, perSocket, perUser }: SubscriptionCapsOptions) {
  const joining = new Map<Socket, number>();

  /** Rooms the socket receives or is joining (roomKeys maps each joined room's id to itself). */
  function roomsOf(ws: Socket) {
    let count = joining.get(ws) ?? 0;
    for (const [key, id] of ws.data.roomKeys) if (key === id) count++;
    return count;
  }

  function assertRoomForOneMore(ws: Socket) {
    if (roomsOf(ws) >= perSocket) {
      throw new AppError(429, "too_many_rooms", `a socket may be joined to at most ${perSocket} rooms`);
    }
    let ofUser = 0;
    for (const other of sessions.ofUser(ws.data.user.id)) ofUser += roomsOf(other);
    if (ofUser >= perUser) {
      throw new AppError(429, "too_many_rooms", `a user's sockets may be joined to at most ${perUser} rooms together`);
    }
  }

  return {
    assertRoomForOneMore,

    /** Runs a join counted against the caps while it is in flight. */
    async counting<T>(ws: Socket, join: () => Promise<T>): Promise<T> {
      assertRoomForOneMore(ws);
      joining.set(ws, (joining.get(ws) ?? 0) + 1);
      try {
        return await join();
      } finally {
        const left = (joining.get(ws) ?? 1) - 1;
        if (left > 0) joining.set(ws, left);
        else joining.delete(ws);
      }
    },

    forget(ws: Socket) {
      joining.delete(ws);
    },
  };
}

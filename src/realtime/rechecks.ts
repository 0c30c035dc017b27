import type { HubDomain } from "./hub-domain.ts";
import type { RealtimeMetrics } from "./metrics.ts";
import type { RoomTopics } from "./room-topics.ts";
import type { SessionSockets } from "./session-sockets.ts";

export interface RechecksOptions {
  rooms: RoomTopics;
  sessions: SessionSockets;
  domain: HubDomain;
  metrics: RealtimeMetrics;
  dropUserFromRoom(roomId: string, userId: string): void;
}

/**
 * Redis Pub/Sub is at-most-once: an event, a removal or a revocation whose
 * message never came is found here by asking Postgres about what is open.
 */
export function createRechecks({ rooms, sessions, domain, metrics, dropUserFromRoom }: RechecksOptions) {
  return {
    /** Rooms whose counter in Postgres is ahead of what they released: a bus message never came. */
    async catchUpRooms() {
      const open = [...rooms.all()].filter((r) => r.sequencer.lastReleased >= 0);
      if (!open.length) return;
      const latest = await domain.lastSeqs(open.map((r) => r.id));
      for (const room of open) {
        const lastSeq = latest.get(room.id);
        if (lastSeq !== undefined && lastSeq > room.sequencer.lastReleased && rooms.get(room.id) === room) {
          metrics.reconciled.inc();
          void room.sequencer.catchUp();
        }
      }
    },

    /** Local sockets of users who are no longer members (their removal message was lost). */
    async dropLostMembers() {
      const pairs = new Map<string, { roomId: string; userId: string }>();
      for (const room of rooms.all()) {
        for (const ws of room.sockets) pairs.set(`${room.id}\n${ws.data.user.id}`, { roomId: room.id, userId: ws.data.user.id });
      }
      if (!pairs.size) return;
      const kept = new Set((await domain.memberships([...pairs.values()])).map((m) => `${m.roomId}\n${m.userId}`));
      for (const [key, { roomId, userId }] of pairs) if (!kept.has(key)) dropUserFromRoom(roomId, userId);
    },

    /** Sockets of sessions revoked (the message was lost) or expired since they opened. */
    async closeEndedSessions() {
      const ids = sessions.sessionIds();
      if (!ids.length) return;
      for (const sessionId of await domain.endedSessions(ids)) sessions.close(sessionId);
    },
  };
}

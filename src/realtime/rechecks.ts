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
  /**
   * Per room: its member_removals when the users beside it were confirmed members. While the
   * count stays, no membership there has ended, so only users new to the room are asked about.
   */
  const confirmed = new Map<string, { removals: number; users: Set<string> }>();

  return {
    /**
     * One read of every open room's counter and member removals, then: rooms whose counter in
     * Postgres is ahead of what they released (a bus message never came) catch up, and local
     * sockets of users who are no longer members (their removal message was lost) leave. The
     * memberships asked about are those in rooms whose removals moved, and users new to a room
     * since the last check; `everything` asks about all (after the bus was away).
     */
    async checkRooms(everything = false) {
      const open = [...rooms.all()];
      if (!open.length) return confirmed.clear();
      const states = await domain.roomStates(open.map((r) => r.id));
      for (const room of open) {
        const lastSeq = states.get(room.id)?.lastSeq;
        if (room.sequencer.lastReleased < 0 || lastSeq === undefined) continue;
        if (lastSeq > room.sequencer.lastReleased && rooms.get(room.id) === room) {
          metrics.reconciled.inc();
          void room.sequencer.catchUp();
        }
      }

      const asked = new Map<string, { roomId: string; userId: string }>();
      const next = new Map<string, { removals: number; users: Set<string> }>();
      for (const room of open) {
        // A room gone from Postgres has no members: every user in it is asked about (and dropped).
        const removals = states.get(room.id)?.memberRemovals;
        const before = confirmed.get(room.id);
        const known = !everything && removals !== undefined && before?.removals === removals ? before.users : undefined;
        const users = new Set<string>();
        for (const ws of room.sockets) {
          const userId = ws.data.user.id;
          if (known?.has(userId)) users.add(userId);
          else asked.set(`${room.id}\n${userId}`, { roomId: room.id, userId });
        }
        if (removals !== undefined) next.set(room.id, { removals, users });
      }
      if (asked.size) {
        const kept = new Set((await domain.memberships([...asked.values()])).map((m) => `${m.roomId}\n${m.userId}`));
        for (const [key, { roomId, userId }] of asked) {
          if (kept.has(key)) next.get(roomId)?.users.add(userId);
          else dropUserFromRoom(roomId, userId);
        }
      }
      confirmed.clear();
      for (const [roomId, entry] of next) confirmed.set(roomId, entry);
    },

    /** Sockets of sessions revoked (the message was lost) or expired since they opened. */
    async closeEndedSessions() {
      const ids = sessions.sessionIds();
      if (!ids.length) return;
      for (const sessionId of await domain.endedSessions(ids)) sessions.close(sessionId);
    },
  };
}

import { encodeFrame, type UserRef } from "../protocol.ts";
import { dedupeUsers, type PresenceStore } from "./store.ts";

/** What presence needs of the real-time layer (which implements it). */
export interface PresenceRooms {
  /** Room ids open on this instance. */
  ids(): Iterable<string>;
  isOpen(roomId: string): boolean;
  /** A frame to this instance's sockets of the room. */
  sendToRoom(roomId: string, text: string): void;
  /** Tells the other instances that the room's online set changed. */
  announce(roomId: string): void;
}

export interface RoomPresenceOptions {
  store: PresenceStore;
  rooms: PresenceRooms;
  logError(what: string): (err: unknown) => void;
}

/** Presence is best effort: a join or a heartbeat never waits longer for Redis. */
const PRESENCE_WAIT_MS = 500;

/**
 * Who is online in the rooms open here: this instance's users per room (counted by
 * socket), written to the shared store, and the room's list sent when it changes.
 */
export function createRoomPresence({ store, rooms, logError }: RoomPresenceOptions) {
  const users = new Map<string, Map<string, { user: UserRef; sockets: number }>>();
  const lastSent = new Map<string, string>();
  const withinWait = <T>(work: Promise<T>): Promise<T> =>
    Promise.race([work, Bun.sleep(PRESENCE_WAIT_MS).then(() => Promise.reject(new Error("presence store timed out")))]);

  async function refresh(roomIds: string[]) {
    if (!roomIds.length) return;
    const lists = await withinWait(store.list(roomIds));
    for (const [roomId, list] of lists) {
      if (!rooms.isOpen(roomId)) continue;
      const text = JSON.stringify(list);
      if (text === lastSent.get(roomId)) continue;
      lastSent.set(roomId, text);
      rooms.sendToRoom(roomId, encodeFrame("presence", { roomId, users: list, total: list.length }));
    }
  }
  const refreshLogged = (roomIds: string[]) => void refresh(roomIds).catch(logError("presence refresh failed"));

  return {
    /** Whether this instance counts the user as online in the room. */
    has: (roomId: string, userId: string) => users.get(roomId)?.has(userId) ?? false,

    /** Counts one more socket of the user; the first of its user in this room announces the change. */
    cameOnline(roomId: string, user: UserRef, announce: boolean) {
      let room = users.get(roomId);
      if (!room) users.set(roomId, (room = new Map()));
      const entry = room.get(user.id);
      if (entry) entry.sockets += 1;
      else room.set(user.id, { user, sockets: 1 });
      if (!entry && announce) {
        rooms.announce(roomId);
        refreshLogged([roomId]);
      }
    },

    /** One socket fewer; the user's last one removes it from the store. */
    wentOffline(roomId: string, userId: string) {
      const room = users.get(roomId);
      const entry = room?.get(userId);
      if (!room || !entry) return;
      entry.sockets -= 1;
      if (entry.sockets > 0) return;
      room.delete(userId);
      if (room.size === 0) users.delete(roomId);
      void withinWait(store.remove(roomId, userId))
        .then(() => {
          rooms.announce(roomId);
          return refresh([roomId]);
        })
        .catch(logError("presence remove failed"));
    },

    /** Another instance announced a change. */
    changedElsewhere(roomId: string) {
      refreshLogged([roomId]);
    },

    /**
     * The room's online users for a joiner. Its own entry is written first, so the list
     * includes itself. Without the store the join goes on with what this instance knows.
     */
    async forJoiner(roomId: string, user: UserRef) {
      const newUser = !users.get(roomId)?.has(user.id);
      let added = false;
      if (newUser) {
        added = await withinWait(store.add(roomId, user)).then(
          () => true,
          (err) => (logError("presence add failed")(err), false),
        );
      }
      const list =
        (await withinWait(store.list([roomId])).catch(() => undefined))?.get(roomId) ??
        dedupeUsers([...[...(users.get(roomId)?.values() ?? [])].map((u) => u.user), user]);
      return { users: list, added, newUser };
    },

    /** A join that wrote the user's entry and then did not finish. */
    joinAbandoned(roomId: string, userId: string) {
      if (users.get(roomId)?.has(userId)) return;
      void store.remove(roomId, userId).catch(logError("presence remove failed"));
    },

    /** Rewrites this instance's entries (they expire unless refreshed) and re-reads every open room. */
    heartbeat() {
      const entries: { roomId: string; user: UserRef }[] = [];
      for (const [roomId, room] of users) for (const { user } of room.values()) entries.push({ roomId, user });
      void withinWait(store.refresh(entries))
        .then(() => refresh([...rooms.ids()]))
        .catch(logError("presence heartbeat failed"));
    },

    roomClosed(roomId: string) {
      lastSent.delete(roomId);
    },
  };
}

export type RoomPresence = ReturnType<typeof createRoomPresence>;

import type { UserRef } from "../protocol.ts";

/**
 * Who is online per room, across instances. Each instance writes its own
 * entries with a short expiry and refreshes them by heartbeat, so the users of
 * an instance that dies drop out within `ttlMs`.
 */
export interface PresenceStore {
  add(roomId: string, user: UserRef): Promise<void>;
  /** Removes this instance's entry of the user (other instances keep theirs). */
  remove(roomId: string, user: UserRef): Promise<void>;
  /** Rewrites every entry of this instance (heartbeat, and after Redis comes back). */
  refresh(entries: { roomId: string; user: UserRef }[]): Promise<void>;
  /** Online users of each room, deduplicated, sorted by username. */
  list(roomIds: string[]): Promise<Map<string, UserRef[]>>;
}

export const PRESENCE_TTL_MS = 8_000;

export function dedupeUsers(users: Iterable<UserRef>): UserRef[] {
  const byId = new Map<string, UserRef>();
  for (const u of users) byId.set(u.id, u);
  return [...byId.values()].sort((a, b) => a.username.localeCompare(b.username) || a.id.localeCompare(b.id));
}

export function createMemoryPresence(now: () => number = Date.now): PresenceStore {
  const rooms = new Map<string, Map<string, { user: UserRef; expiresAt: number }>>();
  const put = (roomId: string, user: UserRef) => {
    let room = rooms.get(roomId);
    if (!room) rooms.set(roomId, (room = new Map()));
    room.set(user.id, { user, expiresAt: now() + PRESENCE_TTL_MS });
  };
  return {
    async add(roomId, user) {
      put(roomId, user);
    },
    async remove(roomId, user) {
      const room = rooms.get(roomId);
      room?.delete(user.id);
      if (room?.size === 0) rooms.delete(roomId);
    },
    async refresh(entries) {
      for (const { roomId, user } of entries) put(roomId, user);
    },
    async list(roomIds) {
      const t = now();
      const out = new Map<string, UserRef[]>();
      for (const roomId of roomIds) {
        const room = rooms.get(roomId);
        const live = room ? [...room.values()].filter((e) => e.expiresAt > t).map((e) => e.user) : [];
        out.set(roomId, dedupeUsers(live));
      }
      return out;
    },
  };
}

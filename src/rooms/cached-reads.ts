import { HIDDEN, type Guard } from "../cache/http-cache.ts";
import type { ResponseCache } from "../cache/response-cache.ts";
import { isUuid } from "../db/uuid.ts";
import { AppError, notFound } from "../http/errors.ts";
import type { Rooms } from "./store.ts";

const isNotFound = (err: unknown) => err instanceof AppError && err.status === 404;

/**
 * May this user see this room, and are they a member? Depends only on the room (its privacy never
 * changes) and the user's own memberships, so the answer is cached under the
 * user's version, bumped whenever they join or leave anything.
 */
export function visibilityGuard(rooms: Rooms, roomId: string, userId: string): Guard {
  return {
    key: `vis:${roomId}:${userId}`,
    versions: [`user:${userId}`],
    check: () =>
      rooms.resolveReadable(roomId, userId).then(
        (room) => (room.role ? "member" : "visible"),
        (err) => (isNotFound(err) ? HIDDEN : Promise.reject(err)),
      ),
  };
}

/**
 * The room id a path key names for this user. An id is itself; a slug's room
 * depends on which rooms exist and on the caller's memberships, so its answer
 * is cached under the room-creation counter and the user's version.
 */
export async function roomIdFor(cache: ResponseCache, rooms: Rooms, roomKey: string, userId: string): Promise<string> {
  if (isUuid(roomKey)) return roomKey.toLowerCase();
  const resolve = () =>
    rooms.resolveReadable(roomKey, userId).then(
      (room) => room.id,
      (err) => (isNotFound(err) ? "" : Promise.reject(err)),
    );
  let id: string;
  let key: string | undefined;
  let hit: string | null = null;
  if (roomKey.length <= 100) {
    try {
      const [epoch, dir, user] = await cache.stamp(["dir", `user:${userId}`]);
      key = `slug:${userId}:${roomKey.toLowerCase()}@${epoch}.${dir}.${user}`;
      hit = (await cache.read([key]))[0] ?? null;
    } catch {
      key = undefined; // store unreachable: ask Postgres
    }
  }
  if (hit !== null) id = hit;
  else if (key) {
    const entry = key;
    id = await cache.once(entry, async () => {
      const found = await resolve();
      cache.write(entry, found);
      return found;
    });
  } else id = await resolve();
  if (!id) throw notFound("room");
  return id;
}

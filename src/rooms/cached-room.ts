import type { Context } from "hono";
import { answer, etagOf, passGuard, type CachedEndpoint } from "../cache/http-cache.ts";
import type { AppEnv } from "../http/context.ts";
import type { Room } from "../protocol.ts";
import { visibilityGuard } from "./cached-reads.ts";
import type { Rooms } from "./store.ts";

/**
 * One room, cached like the room list (cached-list.ts): the room without the
 * caller's unread count is shared by everyone who may see it, under the room's
 * membership version; lastSeq comes from its event counter; the caller's unread
 * count is an entry of its own, the same one the room list reads. Visibility is
 * the caller's own entry, checked on every answer.
 */
export async function cachedRoom(
  c: Context<AppEnv>,
  ep: CachedEndpoint,
  rooms: Rooms,
  { roomId, userId }: { roomId: string; userId: string },
): Promise<Response> {
  const { cache } = ep;
  const guard = visibilityGuard(rooms, roomId, userId);
  let keys: { stable: string; guard: string; unread: string };
  let e: string;
  let cached: (string | null)[];
  let etag: string;
  try {
    const [epoch, m, ev, u] = (await cache.stamp([`room:${roomId}:m`, `room:${roomId}:e`, `user:${userId}`])) as [string, string, string, string];
    e = ev;
    keys = {
      stable: `room:${roomId}@${epoch}.${m}`,
      guard: `${guard.key}@${epoch}.${u}`,
      unread: `unread:${roomId}:${userId}@${epoch}.${e}.${u}`,
    };
    etag = etagOf(`room:${roomId}:${userId}@${epoch}.${m}.${e}.${u}`);
    cached = await cache.read([keys.stable, keys.guard, keys.unread]);
  } catch {
    await passGuard(ep, guard, undefined, null);
    return answer(c, ep, "bypass", JSON.stringify(await rooms.get(roomId, userId)));
  }
  const seen = (await passGuard(ep, guard, keys.guard, cached[1]!)) as string;
  const stable = cached[0] ?? null;
  const unread = cached[2] ?? null;
  if (stable !== null && (seen !== "member" || unread !== null)) {
    const room = JSON.parse(stable) as Room;
    const view = { ...room, lastSeq: Math.max(room.lastSeq, Number(e)) };
    return answer(c, ep, "hit", JSON.stringify(seen === "member" ? { ...view, unreadCount: Number(unread) } : view), etag);
  }
  if (stable !== null) {
    // Only the unread count changed (a message, or the caller read): count this one room.
    const counted = await cache.once(keys.unread, async () => {
      const n = (await rooms.unreadCounts(userId, [roomId])).get(roomId) ?? 0;
      cache.write(keys.unread, String(n));
      return n;
    });
    const room = JSON.parse(stable) as Room;
    return answer(c, ep, "miss", JSON.stringify({ ...room, lastSeq: Math.max(room.lastSeq, Number(e)), unreadCount: counted }), etag);
  }
  const text = await cache.once(`${keys.stable}/${userId}`, async () => {
    const room = await rooms.get(roomId, userId);
    const { unreadCount, ...shared } = room;
    cache.write(keys.stable, JSON.stringify(shared));
    if (unreadCount !== undefined) cache.write(keys.unread, String(unreadCount));
    return JSON.stringify(room);
  });
  return answer(c, ep, "miss", text, etag);
}

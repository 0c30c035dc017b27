import type { Context } from "hono";
import { answer, etagOf, type CachedEndpoint } from "../cache/http-cache.ts";
import type { AppEnv } from "../http/context.ts";
import type { Room } from "../protocol.ts";

/**
 * My rooms (`GET /api/rooms?mine=true`), cached per user. Everything on the
 * page is the caller's own view (unread counts, read markers), so an entry is
 * never shared. It stays valid while:
 *
 *   - the user's version stays (joins, leaves, read markers: which rooms, lastReadSeq, unread);
 *   - each listed room's membership counter stays (memberCount);
 *   - each listed room's event counter stays (lastSeq, lastActivityAt, unread).
 *
 * The entry records the rooms it lists and their counters; a read checks those
 * counters in one round trip. On a miss the counters are read before the query
 * whose result they label, so a stored page is never older than its versions.
 */
interface Page {
  data: Room[];
  nextCursor: string | null;
}

interface MineEntry {
  ids: string[];
  versions: string;
  text: string;
}

export async function cachedMyRooms(
  c: Context<AppEnv>,
  ep: CachedEndpoint,
  spec: { userId: string; key: string; compute: () => Promise<Page> },
): Promise<Response> {
  const { cache } = ep;
  const roomVersions = async (ids: string[]) =>
    ids.length ? (await cache.stamp(ids.flatMap((id) => [`room:${id}:m`, `room:${id}:e`]))).slice(1).join(".") : "";

  let entryKey: string;
  let entry: MineEntry | null;
  let current: string | undefined;
  try {
    const [epoch, user] = await cache.stamp([`user:${spec.userId}`]);
    entryKey = `${spec.key}@${epoch}.${user}`;
    const raw = (await cache.read([entryKey]))[0];
    entry = raw ? (JSON.parse(raw) as MineEntry) : null;
    if (entry) current = await roomVersions(entry.ids);
  } catch {
    return answer(c, ep, "bypass", JSON.stringify(await spec.compute()));
  }
  if (entry && entry.versions === current) return answer(c, ep, "hit", entry.text, etagOf(`${entryKey}/${current}`));

  const flight = `${entryKey}/${current ?? ""}`;
  const computed = await cache.once(flight, async (): Promise<{ text: string; etag?: string; bypass?: boolean }> => {
    let known = entry?.ids ?? [];
    let versions = current ?? "";
    for (let attempt = 0; ; attempt++) {
      const page = await spec.compute();
      const text = JSON.stringify(page);
      const ids = page.data.map((r) => r.id);
      if (ids.length === known.length && ids.every((id, i) => id === known[i])) {
        cache.write(entryKey, JSON.stringify({ ids, versions, text } satisfies MineEntry));
        return { text, etag: etagOf(`${entryKey}/${versions}`) };
      }
      // The page lists rooms whose counters were not read before the query: read them, query once more.
      if (attempt === 1) return { text };
      try {
        versions = await roomVersions(ids);
      } catch {
        return { text, bypass: true };
      }
      known = ids;
    }
  });
  return answer(c, ep, computed.bypass ? "bypass" : "miss", computed.text, computed.etag);
}

import type { Context } from "hono";
import type { AppEnv } from "../http/context.ts";
import { notFound } from "../http/errors.ts";
import type { Metrics } from "../metrics/registry.ts";
import type { ResponseCache } from "./response-cache.ts";

/**
 * The HTTP side of the response cache. The ETag is derived from the versions
 * the answer was computed under, so a revalidation (If-None-Match) is answered
 * 304 from Redis alone, before any Postgres query; Hono's etag middleware would
 * hash the body after the handler had already done the work.
 */
export interface CachedEndpoint {
  cache: ResponseCache;
  metrics: Metrics;
  /** Label for metrics and X-Cache accounting: a route pattern, never a URL. */
  endpoint: string;
}

/** Who may see it: checked on every answer, hit or miss, with its own cached entry. */
export interface Guard {
  key: string;
  versions: string[];
  check: () => Promise<boolean>;
}

const HEADERS = { "content-type": "application/json", "cache-control": "private, no-cache" };

const etagOf = (key: string) => `"${Bun.hash(key).toString(36)}"`;

function matches(c: Context<AppEnv>, etag: string): boolean {
  const header = c.req.header("if-none-match");
  if (!header) return false;
  return header.split(",").some((t) => {
    const tag = t.trim().replace(/^W\//, "");
    return tag === etag || tag === "*";
  });
}

function answer(c: Context<AppEnv>, ep: CachedEndpoint, result: "hit" | "miss" | "bypass", body: string, etag?: string) {
  ep.metrics.httpCache.inc({ endpoint: ep.endpoint, result });
  const headers: Record<string, string> = { ...HEADERS, "x-cache": result === "hit" ? "HIT" : "MISS" };
  if (etag) headers.etag = etag;
  if (etag && matches(c, etag)) return new Response(null, { status: 304, headers: { ...headers, "content-type": "" } });
  return new Response(body, { status: 200, headers });
}

async function passGuard(ep: CachedEndpoint, guard: Guard | undefined, key: string | undefined, cached: string | null) {
  if (!guard) return;
  let allowed = cached;
  if (allowed === null) {
    allowed = (await ep.cache.once(key ?? guard.key, guard.check)) ? "1" : "0";
    if (key) ep.cache.write(key, allowed);
  }
  // Rooms the caller may not see answer exactly like rooms that do not exist.
  if (allowed !== "1") throw notFound("room");
}

/** One cached JSON answer: the entry under `key` is valid while `versions` stay where they were. */
export async function cachedJson(
  c: Context<AppEnv>,
  ep: CachedEndpoint,
  spec: { key: string; versions: string[]; guard?: Guard; compute: () => Promise<unknown> },
): Promise<Response> {
  const guardVersions = spec.guard?.versions ?? [];
  let entryKey: string;
  let guardKey: string | undefined;
  let cached: (string | null)[];
  try {
    const [epoch, ...values] = await ep.cache.stamp([...spec.versions, ...guardVersions]);
    entryKey = `${spec.key}@${[epoch, ...values.slice(0, spec.versions.length)].join(".")}`;
    guardKey = spec.guard && `${spec.guard.key}@${[epoch, ...values.slice(spec.versions.length)].join(".")}`;
    cached = await ep.cache.read(guardKey ? [entryKey, guardKey] : [entryKey]);
  } catch {
    // Redis unreachable or stalled: straight to Postgres. Never a copy in this process that others cannot invalidate.
    await passGuard(ep, spec.guard, undefined, null);
    return answer(c, ep, "bypass", JSON.stringify(await spec.compute()));
  }
  await passGuard(ep, spec.guard, guardKey, cached[1] ?? null);
  const etag = etagOf(entryKey);
  if (cached[0] !== null) return answer(c, ep, "hit", cached[0]!, etag);
  const body = await ep.cache.once(entryKey, async () => {
    const text = JSON.stringify(await spec.compute());
    ep.cache.write(entryKey, text);
    return text;
  });
  return answer(c, ep, "miss", body, etag);
}

interface PageEntry {
  /** Versions of the page as a whole (epoch, room creations, the caller's memberships). */
  base: string;
  /** The items on the page and the versions each was computed under. */
  ids: string[];
  itemVersions: string;
  body: string;
}

/**
 * A page whose items each have versions of their own (the room list: every
 * room's lastSeq and memberCount). The entry remembers which items it holds
 * and is valid while the page's and each item's versions are unchanged, so a
 * message in one room retires only the pages that show that room.
 */
export async function cachedPage<T>(
  c: Context<AppEnv>,
  ep: CachedEndpoint,
  spec: {
    key: string;
    versions: string[];
    itemVersions: (id: string) => string[];
    compute: () => Promise<{ body: T; ids: string[] }>;
  },
): Promise<Response> {
  const readItems = async (ids: string[]) =>
    ids.length ? (await ep.cache.stamp(ids.flatMap(spec.itemVersions))).slice(1).join(".") : "";
  let base: string;
  let entry: PageEntry | null = null;
  let itemsNow: string | undefined;
  try {
    base = (await ep.cache.stamp(spec.versions)).join(".");
    const [raw] = await ep.cache.read([spec.key]);
    entry = raw ? (JSON.parse(raw) as PageEntry) : null;
    if (entry && entry.base === base) {
      itemsNow = await readItems(entry.ids);
      if (itemsNow === entry.itemVersions) {
        return answer(c, ep, "hit", entry.body, etagOf(`${spec.key}@${base}/${itemsNow}`));
      }
    }
  } catch {
    return answer(c, ep, "bypass", JSON.stringify((await spec.compute()).body));
  }
  const flightKey = `${spec.key}@${base}/${itemsNow ?? ""}`;
  const computed = await ep.cache.once(flightKey, async (): Promise<{ text: string; etag?: string; bypass?: boolean }> => {
    // Item versions must be read before the query that the entry will hold; when the
    // page now shows items not read before, read theirs and query once more.
    let known = entry?.base === base ? entry.ids : [];
    let versionsBefore = itemsNow ?? "";
    for (let attempt = 0; ; attempt++) {
      const { body, ids } = await spec.compute();
      const text = JSON.stringify(body);
      const sameItems = ids.length === known.length && ids.every((id, i) => id === known[i]);
      if (sameItems) {
        ep.cache.write(spec.key, JSON.stringify({ base, ids, itemVersions: versionsBefore, body: text } satisfies PageEntry));
        return { text, etag: etagOf(`${spec.key}@${base}/${versionsBefore}`) };
      }
      if (attempt === 1) return { text };
      try {
        versionsBefore = await readItems(ids);
      } catch {
        return { text, bypass: true };
      }
      known = ids;
    }
  });
  return answer(c, ep, computed.bypass ? "bypass" : "miss", computed.text, computed.etag);
}

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
  /** "hidden" answers 404; any other value (e.g. "visible", "member") lets the request on. */
  check: () => Promise<string>;
}

export const HIDDEN = "hidden";

const HEADERS = { "content-type": "application/json", "cache-control": "private, no-cache" };

export const etagOf = (key: string) => `"${Bun.hash(key).toString(36)}"`;

function matches(c: Context<AppEnv>, etag: string): boolean {
  const header = c.req.header("if-none-match");
  if (!header) return false;
  return header.split(",").some((t) => {
    const tag = t.trim().replace(/^W\//, "");
    return tag === etag || tag === "*";
  });
}

export function answer(c: Context<AppEnv>, ep: CachedEndpoint, result: "hit" | "miss" | "bypass", body: string, etag?: string) {
  ep.metrics.httpCache.inc({ endpoint: ep.endpoint, result });
  const headers: Record<string, string> = { ...HEADERS, "x-cache": result === "hit" ? "HIT" : "MISS" };
  if (etag) headers.etag = etag;
  if (etag && matches(c, etag)) return new Response(null, { status: 304, headers: { ...headers, "content-type": "" } });
  return new Response(body, { status: 200, headers });
}

/** The guard's answer (from its entry, or checked and stored); throws 404 when the caller may not see it. */
export async function passGuard(ep: CachedEndpoint, guard: Guard | undefined, key: string | undefined, cached: string | null) {
  if (!guard) return undefined;
  let allowed = cached;
  if (allowed === null) {
    allowed = await ep.cache.once(key ?? guard.key, guard.check);
    if (key) ep.cache.write(key, allowed);
  }
  // Rooms the caller may not see answer exactly like rooms that do not exist.
  if (allowed === HIDDEN) throw notFound("room");
  return allowed;
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

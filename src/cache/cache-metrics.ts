// Counts every read of the shared cache as a hit or a miss, by cache (the key's prefix).
// Applied once per instance in server.ts, so every caller is counted alike.
import { CACHE_NAMES, type Metrics } from "../metrics/registry.ts";
import type { Cache } from "./cache.ts";

// Key prefixes of the caches that read through the shared Cache.
const PREFIXES: Record<string, (typeof CACHE_NAMES)[number]> = { session: "session", rc: "response", cv: "response_version" };
const cacheName = (key: string) => PREFIXES[key.slice(0, key.indexOf(":"))] ?? "other";

/** Counts every read as a hit or a miss, by the key's prefix (session:…). */
export function instrumentCache(cache: Cache, metrics: Metrics): Cache {
  return {
    ...cache,
    async get(key) {
      const value = await cache.get(key);
      metrics.cacheRequests.inc({ cache: cacheName(key), result: value === null ? "miss" : "hit" });
      return value;
    },
    async getMany(keys) {
      const values = await cache.getMany(keys);
      keys.forEach((key, i) => metrics.cacheRequests.inc({ cache: cacheName(key), result: values[i] == null ? "miss" : "hit" }));
      return values;
    },
  };
}

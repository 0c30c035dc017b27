// Counting decorators for the shared plumbing, applied once per instance in server.ts, so
// the stores stay free of metrics and every caller is counted alike.
import type { Bus } from "../bus/bus.ts";
import type { Cache } from "../cache/cache.ts";
import { CACHE_NAMES, type Metrics } from "./registry.ts";

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

export function instrumentBus(bus: Bus, metrics: Metrics): Bus {
  return {
    ...bus,
    async publish(channel, payload) {
      try {
        await bus.publish(channel, payload);
        metrics.busPublished.inc();
      } catch (err) {
        metrics.busPublishFailed.inc();
        throw err;
      }
    },
    subscribe(channel, handler) {
      return bus.subscribe(channel, (payload) => {
        metrics.busReceived.inc();
        handler(payload);
      });
    },
  };
}

import type { Cache } from "./cache.ts";

/** One process's cache: the `bun dev` default when REDIS_URL is unset. */
export function createMemoryCache(now: () => number = Date.now): Cache {
  const entries = new Map<string, { value: string; expiresAt: number }>();

  const live = (key: string) => {
    const entry = entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= now()) {
      entries.delete(key);
      return undefined;
    }
    return entry;
  };

  // Expired keys that are never read again are swept now and then.
  const sweeper = setInterval(() => {
    const t = now();
    for (const [key, entry] of entries) if (entry.expiresAt <= t) entries.delete(key);
  }, 30_000);
  sweeper.unref?.();

  return {
    async get(key) {
      return live(key)?.value ?? null;
    },
    async set(key, value, ttlSeconds) {
      entries.set(key, { value, expiresAt: now() + ttlSeconds * 1000 });
    },
    async add(key, value, ttlSeconds) {
      if (!live(key)) entries.set(key, { value, expiresAt: now() + ttlSeconds * 1000 });
    },
    async del(...keys) {
      for (const key of keys) entries.delete(key);
    },
    async getMany(keys) {
      return keys.map((key) => live(key)?.value ?? null);
    },
    async raise(key, value) {
      if (Number(live(key)?.value ?? 0) < value) entries.set(key, { value: String(value), expiresAt: Number.POSITIVE_INFINITY });
    },
    async incr(key) {
      const next = Number(live(key)?.value ?? 0) + 1;
      entries.set(key, { value: String(next), expiresAt: Number.POSITIVE_INFINITY });
      return next;
    },
    async ping() {},
    async close() {
      clearInterval(sweeper);
      entries.clear();
    },
  };
}

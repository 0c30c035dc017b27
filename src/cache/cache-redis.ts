import type Redis from "ioredis";
import type { Cache } from "./cache.ts";

// INCR and set the window's expiry on the first hit, atomically.
const HIT_SCRIPT = `
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('TTL', KEYS[1])
return {count, ttl}
`;

/** Cache shared by every instance. `redis` is the instance's command connection. */
export function createRedisCache(redis: Redis, prefix = ""): Cache {
  const k = (key: string) => prefix + key;
  return {
    async get(key) {
      return redis.get(k(key));
    },
    async set(key, value, ttlSeconds) {
      await redis.set(k(key), value, "EX", ttlSeconds);
    },
    async add(key, value, ttlSeconds) {
      await redis.set(k(key), value, "EX", ttlSeconds, "NX");
    },
    async del(...keys) {
      if (keys.length) await redis.del(...keys.map(k));
    },
    async hit(key, windowSeconds) {
      const [count, ttl] = (await redis.eval(HIT_SCRIPT, 1, k(key), windowSeconds)) as [number, number];
      return { count, resetInSeconds: Math.max(1, ttl) };
    },
    async peek(key) {
      const [[, count], [, ttl]] = (await redis.multi().get(k(key)).ttl(k(key)).exec()) as [[unknown, string | null], [unknown, number]];
      if (count === null) return null;
      return { count: Number(count), resetInSeconds: Math.max(1, ttl) };
    },
    async ping() {
      await redis.ping();
    },
    async close() {},
  };
}

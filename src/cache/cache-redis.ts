import type Redis from "ioredis";
import type { Cache } from "./cache.ts";

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
    async getMany(keys) {
      return keys.length ? redis.mget(...keys.map(k)) : [];
    },
    async incr(key) {
      return redis.incr(k(key));
    },
    async ping() {
      await redis.ping();
    },
    async close() {},
  };
}

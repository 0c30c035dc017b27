import type Redis from "ioredis";
import type { Cache } from "./cache.ts";

// Compare and set in one step: versions only move forward, whatever order bumps arrive in.
const RAISE_SCRIPT = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then redis.call('SET', KEYS[1], ARGV[1]) end
return 0
`;

interface RaiseCommand {
  cacheRaise(key: string, value: string): Promise<number>;
}

/** Cache shared by every instance. `redis` is the instance's command connection. */
export function createRedisCache(redis: Redis, prefix = ""): Cache {
  const k = (key: string) => prefix + key;
  if (!(redis as unknown as Partial<RaiseCommand>).cacheRaise) redis.defineCommand("cacheRaise", { numberOfKeys: 1, lua: RAISE_SCRIPT });
  const commands = redis as unknown as RaiseCommand;
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
    async raise(key, value) {
      await commands.cacheRaise(k(key), String(value));
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

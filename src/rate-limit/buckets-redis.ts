import type Redis from "ioredis";
import { bucketShape, type BucketAnswer, type BucketStore } from "./bucket.ts";

// GCRA in one round trip, on Redis's clock (so instances with skewed clocks agree).
// KEYS[1] bucket; ARGV[1] interval ms, ARGV[2] tolerance ms, ARGV[3] 1 = take, 0 = peek.
// Returns {allowed (1|0), retry after in ms}.
const TAKE_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local stored = redis.call('GET', KEYS[1])
local tat = now
if stored then tat = math.max(tonumber(stored), now) end
if tat - now > tolerance then
  return {0, math.ceil(tat - tolerance - now)}
end
if ARGV[3] == '1' then
  local next_tat = tat + interval
  redis.call('SET', KEYS[1], string.format('%.3f', next_tat), 'PX', math.ceil(next_tat - now) + 1)
end
return {1, 0}
`;

// The sliding log (Limit.exact), as a sorted set of take times.
// KEYS[1] log; ARGV[1] window ms, ARGV[2] max, ARGV[3] 1 = take, 0 = peek, ARGV[4] a unique member.
const LOG_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, tonumber(oldest[2]) + window - now}
end
if ARGV[3] == '1' then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], window)
end
return {1, 0}
`;

interface BucketCommands {
  rateBucket(key: string, intervalMs: string, toleranceMs: string, take: string): Promise<[number, number]>;
  rateLog(key: string, windowMs: string, max: string, take: string, member: string): Promise<[number, number]>;
}

/**
 * Buckets shared by every instance. The script is registered once with
 * defineCommand: ioredis sends EVALSHA and falls back to EVAL only when Redis
 * does not know the script yet (after a restart).
 */
export function createRedisBuckets(redis: Redis, prefix = ""): BucketStore {
  if (!(redis as unknown as Partial<BucketCommands>).rateBucket) {
    redis.defineCommand("rateBucket", { numberOfKeys: 1, lua: TAKE_SCRIPT });
    redis.defineCommand("rateLog", { numberOfKeys: 1, lua: LOG_SCRIPT });
  }
  const commands = redis as unknown as BucketCommands;
  return {
    async check(key, limit, take): Promise<BucketAnswer> {
      if (limit.exact) {
        const [allowed, retryAfterMs] = await commands.rateLog(
          `${prefix}rl:${key}`,
          String(limit.windowSeconds * 1000),
          String(limit.max),
          take ? "1" : "0",
          crypto.randomUUID(),
        );
        return { allowed: allowed === 1, retryAfterMs: Number(retryAfterMs) };
      }
      const { intervalMs, toleranceMs } = bucketShape(limit);
      const [allowed, retryAfterMs] = await commands.rateBucket(
        `${prefix}rl:${key}`,
        intervalMs.toFixed(3),
        toleranceMs.toFixed(3),
        take ? "1" : "0",
      );
      return { allowed: allowed === 1, retryAfterMs: Number(retryAfterMs) };
    },
    async reset(key) {
      await redis.del(`${prefix}rl:${key}`);
    },
  };
}

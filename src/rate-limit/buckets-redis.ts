import type Redis from "ioredis";
import { bucketShape, type BucketAnswer, type BucketStore } from "./bucket.ts";

// GCRA for every bucket asked about in one tick, in one round trip and one script run, on
// Redis's clock (so instances with skewed clocks agree). KEYS are the buckets, in order;
// ARGV holds three values per key: interval ms, tolerance ms, 1 = take, 0 = peek. Returns
// two values per key: allowed (1|0), retry after in ms. A key asked twice sees its own take.
const TAKE_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local out = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[3 * i - 2])
  local tolerance = tonumber(ARGV[3 * i - 1])
  local stored = redis.call('GET', key)
  local tat = now
  if stored then tat = math.max(tonumber(stored), now) end
  if tat - now > tolerance then
    out[2 * i - 1] = 0
    out[2 * i] = math.ceil(tat - tolerance - now)
  else
    if ARGV[3 * i] == '1' then
      local next_tat = tat + interval
      redis.call('SET', key, string.format('%.3f', next_tat), 'PX', math.ceil(next_tat - now) + 1)
    end
    out[2 * i - 1] = 1
    out[2 * i] = 0
  end
end
return out
`;

/** Buckets per script call at most; a busier tick sends several calls. */
const MAX_BATCH = 256;

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
  /** numberOfKeys, the keys, then three values per key. */
  rateBuckets(...args: (string | number)[]): Promise<number[]>;
  rateLog(key: string, windowMs: string, max: string, take: string, member: string): Promise<[number, number]>;
}

interface Pending {
  key: string;
  intervalMs: string;
  toleranceMs: string;
  take: string;
  settle: { resolve(answer: BucketAnswer): void; reject(err: unknown): void };
}

/**
 * Buckets shared by every instance. The scripts are registered once with
 * defineCommand: ioredis sends EVALSHA and falls back to EVAL only when Redis
 * does not know the script yet (after a restart). Token-bucket checks made in
 * one tick of the event loop (a busy instance takes many: one per send and per
 * HTTP request) go to Redis together, as one script call: a script call costs
 * Redis far more than the few commands inside it.
 */
export function createRedisBuckets(redis: Redis, prefix = ""): BucketStore {
  if (!(redis as unknown as Partial<BucketCommands>).rateBuckets) {
    redis.defineCommand("rateBuckets", { lua: TAKE_SCRIPT });
    redis.defineCommand("rateLog", { numberOfKeys: 1, lua: LOG_SCRIPT });
  }
  const commands = redis as unknown as BucketCommands;
  let queued: Pending[] = [];

  function flush() {
    const all = queued;
    queued = [];
    for (let from = 0; from < all.length; from += MAX_BATCH) {
      const batch = all.slice(from, from + MAX_BATCH);
      const args: (string | number)[] = [batch.length, ...batch.map((p) => p.key)];
      for (const p of batch) args.push(p.intervalMs, p.toleranceMs, p.take);
      commands.rateBuckets(...args).then(
        (out) => batch.forEach((p, i) => p.settle.resolve({ allowed: out[2 * i] === 1, retryAfterMs: Number(out[2 * i + 1]) })),
        (err) => batch.forEach((p) => p.settle.reject(err)),
      );
    }
  }

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
      return new Promise<BucketAnswer>((resolve, reject) => {
        queued.push({ key: `${prefix}rl:${key}`, intervalMs: intervalMs.toFixed(3), toleranceMs: toleranceMs.toFixed(3), take: take ? "1" : "0", settle: { resolve, reject } });
        if (queued.length === 1) setImmediate(flush);
      });
    },
    async reset(key) {
      await redis.del(`${prefix}rl:${key}`);
    },
  };
}

import type { Limit } from "./limits.ts";

/** What a bucket answered: allowed, or refused with the wait until the next request would pass. */
export interface BucketAnswer {
  allowed: boolean;
  retryAfterMs: number;
}

/** Emission interval and tolerance of GCRA, the token bucket written as one timestamp per key. */
export function bucketShape(limit: Limit) {
  const intervalMs = (limit.windowSeconds * 1000) / limit.max;
  return { intervalMs, toleranceMs: intervalMs * (limit.max - 1) };
}

/**
 * GCRA: the bucket is its "theoretical arrival time" (tat). A request passes while
 * tat - now <= tolerance (max - 1 intervals); taking moves tat one interval on.
 * Refused requests take nothing. Same arithmetic as the Lua script in buckets-redis.ts.
 */
export function gcra(storedTat: number | undefined, now: number, limit: Limit, take: boolean) {
  const { intervalMs, toleranceMs } = bucketShape(limit);
  const tat = Math.max(storedTat ?? now, now);
  if (tat - now > toleranceMs) return { answer: { allowed: false, retryAfterMs: tat - toleranceMs - now }, tat: storedTat };
  return { answer: { allowed: true, retryAfterMs: 0 }, tat: take ? tat + intervalMs : storedTat };
}

/** The sliding log: at most `max` takes in any window; refused takes are not logged. */
export function slidingLog(stamps: number[], now: number, limit: Limit, take: boolean) {
  const windowMs = limit.windowSeconds * 1000;
  const live = stamps.filter((t) => t > now - windowMs);
  if (live.length >= limit.max) return { answer: { allowed: false, retryAfterMs: live[0]! + windowMs - now }, stamps: live };
  if (take) live.push(now);
  return { answer: { allowed: true, retryAfterMs: 0 }, stamps: live };
}

/** Where buckets live: Redis (shared by every instance) or this process. */
export interface BucketStore {
  /** take=false: would a take pass now? (nothing is consumed) */
  check(key: string, limit: Limit, take: boolean): Promise<BucketAnswer>;
  reset(key: string): Promise<void>;
}

/** Buckets of this process: the store without Redis, and the fallback while Redis is away. */
export function createMemoryBuckets(now: () => number = Date.now): BucketStore & { size(): number; close(): void } {
  const tats = new Map<string, number>();
  const logs = new Map<string, { stamps: number[]; windowMs: number }>();
  // A bucket whose tat has passed is full again, a log whose newest entry left the window is empty: both as no entry.
  const sweeper = setInterval(() => {
    const t = now();
    for (const [key, tat] of tats) if (tat <= t) tats.delete(key);
    for (const [key, log] of logs) if ((log.stamps.at(-1) ?? 0) <= t - log.windowMs) logs.delete(key);
  }, 10_000);
  sweeper.unref?.();
  return {
    async check(key, limit, take) {
      if (limit.exact) {
        const { answer, stamps } = slidingLog(logs.get(key)?.stamps ?? [], now(), limit, take);
        logs.set(key, { stamps, windowMs: limit.windowSeconds * 1000 });
        return answer;
      }
      const { answer, tat } = gcra(tats.get(key), now(), limit, take);
      if (tat !== undefined) tats.set(key, tat);
      return answer;
    },
    async reset(key) {
      tats.delete(key);
      logs.delete(key);
    },
    size: () => tats.size + logs.size,
    close: () => clearInterval(sweeper),
  };
}

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

/** Where buckets live: Redis (shared by every instance) or this process. */
export interface BucketStore {
  /** take=false: would a take pass now? (nothing is consumed) */
  check(key: string, limit: Limit, take: boolean): Promise<BucketAnswer>;
  reset(key: string): Promise<void>;
}

/** Buckets of this process: the store without Redis, and the fallback while Redis is away. */
export function createMemoryBuckets(now: () => number = Date.now): BucketStore & { size(): number; close(): void } {
  const tats = new Map<string, number>();
  // A bucket whose tat has passed is full again: the same as no entry.
  const sweeper = setInterval(() => {
    const t = now();
    for (const [key, tat] of tats) if (tat <= t) tats.delete(key);
  }, 10_000);
  sweeper.unref?.();
  return {
    async check(key, limit, take) {
      const { answer, tat } = gcra(tats.get(key), now(), limit, take);
      if (tat !== undefined) tats.set(key, tat);
      return answer;
    },
    async reset(key) {
      tats.delete(key);
    },
    size: () => tats.size,
    close: () => clearInterval(sweeper),
  };
}

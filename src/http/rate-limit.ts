import type { Cache } from "../cache/cache.ts";
import { AppError } from "./errors.ts";

export interface Limit {
  /** Allowed hits per window before RATE_LIMIT_MULTIPLIER is applied. */
  max: number;
  windowSeconds: number;
}

/**
 * Fixed-window counters in the shared cache: the same limit holds across instances.
 * `onLimited` hears the key of every refusal (metrics count them by limit).
 */
export function createRateLimiter(cache: Cache, multiplier: number, onLimited: (key: string) => void = () => {}) {
  return {
    async consume(key: string, limit: Limit) {
      // Fails open: while the shared cache is unreachable, chat goes on unlimited rather than not at all.
      const hit = await cache.hit(`rl:${key}`, limit.windowSeconds).catch(() => null);
      if (!hit) return;
      const { count, resetInSeconds } = hit;
      if (count > Math.ceil(limit.max * multiplier)) {
        onLimited(key);
        throw new AppError(429, "rate_limited", "too many requests, slow down", undefined, resetInSeconds);
      }
    },
    /** Throws 429 while `key` has used up its window, without counting this call (a lock checked before the work). */
    async assertOpen(key: string, limit: Limit) {
      const seen = await cache.peek(`rl:${key}`).catch(() => null);
      if (seen && seen.count >= Math.ceil(limit.max * multiplier)) {
        onLimited(key);
        throw new AppError(429, "rate_limited", "too many requests, slow down", undefined, seen.resetInSeconds);
      }
    },
    async reset(key: string) {
      await cache.del(`rl:${key}`);
    },
  };
}

export type RateLimiter = ReturnType<typeof createRateLimiter>;

import { AppError } from "../http/errors.ts";
import { createMemoryBuckets, type BucketAnswer, type BucketStore } from "./bucket.ts";
import type { LimitKind, LimitTable } from "./limits.ts";

export interface RateLimiterOptions {
  table: LimitTable;
  /** Redis buckets; undefined: this process only (no REDIS_URL). */
  shared?: BucketStore;
  /** A shared bucket that does not answer within this is replaced by the local one. */
  sharedTimeoutMs: number;
  /** Told when the shared store fails and the local buckets answer instead. */
  onFallback?: (err: unknown) => void;
  /** Told the kind of every refused request (metrics count them by limit). */
  onRefused?: (kind: LimitKind) => void;
}

export const rateLimited = (retryAfterMs: number) =>
  new AppError(429, "rate_limited", "too many requests, slow down", undefined, Math.max(1, Math.ceil(retryAfterMs / 1000)));

/**
 * The one rate limiter: `take(kind, key)` spends one request of that kind for
 * that key (a user id, or `ip:…` before login) and throws 429 when its bucket
 * is empty; `peek` asks the same without spending. Buckets live in Redis,
 * shared by every instance; while Redis fails or stalls, this process's own
 * buckets answer, so limits still hold per instance instead of failing open.
 */
export function createRateLimiter({ table, shared, sharedTimeoutMs, onFallback, onRefused }: RateLimiterOptions) {
  const local = createMemoryBuckets();

  async function check(kind: LimitKind, key: string, take: boolean): Promise<BucketAnswer> {
    const bucket = `${kind}:${key}`;
    const limit = table[kind];
    if (!shared) return local.check(bucket, limit, take);
    let timer: Timer | undefined;
    try {
      return await Promise.race([
        shared.check(bucket, limit, take),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`rate limit store slower than ${sharedTimeoutMs} ms`)), sharedTimeoutMs);
        }),
      ]);
    } catch (err) {
      onFallback?.(err);
      return local.check(bucket, limit, take);
    } finally {
      clearTimeout(timer);
    }
  }

  const refuse = (kind: LimitKind, retryAfterMs: number) => {
    onRefused?.(kind);
    return rateLimited(retryAfterMs);
  };

  /** Buckets the shared store refused after a takeSoon, and until when (ms since epoch). */
  const refusedUntil = new Map<string, number>();
  function rememberRefusal(bucket: string, retryAfterMs: number) {
    const now = Date.now();
    if (refusedUntil.size >= 10_000) for (const [b, until] of refusedUntil) if (until <= now) refusedUntil.delete(b);
    refusedUntil.set(bucket, now + retryAfterMs);
  }

  return {
    table,
    /**
     * Spends one request without waiting for Redis: this process's bucket answers now (429
     * when it is empty, or while the shared bucket's last answer was a refusal) and the shared
     * bucket is spent in the background; its refusal blocks the bucket here until it refills.
     * Across instances the limit holds within one round trip: a burst spread over N instances
     * can pass it by what they admit while that first refusal is on its way, never for longer.
     * For sends, where a Redis round trip before every message doubled delivery latency under
     * load (README, "Rate limits").
     */
    async takeSoon(kind: LimitKind, key: string): Promise<void> {
      const bucket = `${kind}:${key}`;
      const waitMs = (refusedUntil.get(bucket) ?? 0) - Date.now();
      if (waitMs > 0) throw refuse(kind, waitMs);
      refusedUntil.delete(bucket);
      const answer = await local.check(bucket, table[kind], true);
      if (!answer.allowed) throw refuse(kind, answer.retryAfterMs);
      if (!shared) return;
      shared.check(bucket, table[kind], true).then(
        (settled) => {
          if (!settled.allowed) rememberRefusal(bucket, settled.retryAfterMs);
        },
        (err) => onFallback?.(err),
      );
    },
    async take(kind: LimitKind, key: string): Promise<void> {
      const answer = await check(kind, key, true);
      if (!answer.allowed) throw refuse(kind, answer.retryAfterMs);
    },
    /** Throws 429 when a take would be refused now; spends nothing. */
    async peek(kind: LimitKind, key: string): Promise<void> {
      const answer = await check(kind, key, false);
      if (!answer.allowed) throw refuse(kind, answer.retryAfterMs);
    },
    async reset(kind: LimitKind, key: string): Promise<void> {
      await Promise.allSettled([shared?.reset(`${kind}:${key}`), local.reset(`${kind}:${key}`)]);
    },
    close: () => local.close(),
  };
}

export type RateLimiter = ReturnType<typeof createRateLimiter>;

import { createPasswordHasher } from "./auth/password.ts";
import { createSessions } from "./auth/session.ts";
import { createUsers } from "./auth/users.ts";
import type { Cache } from "./cache/cache.ts";
import type { Database } from "./db/client.ts";
import type { Env } from "./env.ts";
import type { DomainEvents } from "./events.ts";
import { createMessages } from "./messages/store.ts";
import type { Metrics } from "./metrics/registry.ts";
import { createRateLimiter } from "./rate-limit/limiter.ts";
import { limitTable } from "./rate-limit/limits.ts";
import type { BucketStore } from "./rate-limit/bucket.ts";
import { createRooms } from "./rooms/store.ts";
import { createResponseCache } from "./cache/response-cache.ts";

/** The capabilities' stores, made once per instance and shared by HTTP routes and WebSocket handlers. */
export function createCapabilities(deps: {
  env: Env;
  database: Database;
  cache: Cache;
  events: DomainEvents;
  buckets?: BucketStore;
  onLimiterFallback?: (err: unknown) => void;
  metrics?: Metrics;
}) {
  const { env, database, cache, events, metrics } = deps;
  const { db } = database;
  const limiter = createRateLimiter({
    table: limitTable(env.RATE_LIMITS, env.RATE_LIMIT_MULTIPLIER),
    shared: deps.buckets,
    sharedTimeoutMs: env.RATE_LIMIT_REDIS_TIMEOUT_MS,
    onFallback: deps.onLimiterFallback,
    onRefused: (kind) => metrics?.rateLimited.inc({ limit: kind }),
  });
  // Every limit is listed from the first scrape, at 0.
  for (const kind of Object.keys(limiter.table)) metrics?.rateLimited.inc({ limit: kind }, 0);
  const rooms = createRooms(db, events, limiter);
  const responseCache = createResponseCache({
    cache,
    enabled: env.RESPONSE_CACHE === "on",
    ttlSeconds: env.CACHE_TTL_SECONDS,
    timeoutMs: env.CACHE_TIMEOUT_MS,
  });
  // The instance that makes a change bumps its versions, right where the change is announced.
  events.on(responseCache.onDomainEvent);
  return {
    limiter,
    responseCache,
    sessions: createSessions(db, cache, env.SESSION_TTL_DAYS),
    users: createUsers(db),
    passwords: createPasswordHasher({ memoryKib: env.PASSWORD_MEMORY_KIB, timeCost: env.PASSWORD_TIME_COST }),
    rooms,
    messages: createMessages({
      database,
      events,
      rooms,
      limiter,
      maxReactionsPerMessage: env.MAX_REACTIONS_PER_MESSAGE,
      timings: metrics && {
        persist: (seconds) => metrics.persistSeconds.observe(seconds),
        delivery: (seconds) => metrics.deliverySeconds.observe(seconds),
      },
    }),
  };
}

export type Capabilities = ReturnType<typeof createCapabilities>;

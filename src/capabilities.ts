import { createPasswordHasher } from "./auth/password.ts";
import { createSessions } from "./auth/session.ts";
import { createUsers } from "./auth/users.ts";
import type { Cache } from "./cache/cache.ts";
import type { Database } from "./db/client.ts";
import type { Env } from "./env.ts";
import type { DomainEvents } from "./events.ts";
import { createRateLimiter } from "./http/rate-limit.ts";
import { createMessages } from "./messages/store.ts";
import { limitName, type Metrics } from "./metrics/registry.ts";
import { createRooms } from "./rooms/store.ts";

/** The capabilities' stores, made once per instance and shared by HTTP routes and WebSocket handlers. */
export function createCapabilities(deps: { env: Env; database: Database; cache: Cache; events: DomainEvents; metrics?: Metrics }) {
  const { env, database, cache, events, metrics } = deps;
  const { db } = database;
  const limiter = createRateLimiter(cache, env.RATE_LIMIT_MULTIPLIER, (key) => metrics?.rateLimited.inc({ limit: limitName(key) }));
  const rooms = createRooms(db, events);
  return {
    limiter,
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

import { createMemoryBus } from "./bus/bus-memory.ts";
import { createRedisBus } from "./bus/bus-redis.ts";
import type { Bus } from "./bus/bus.ts";
import { createMemoryCache } from "./cache/cache-memory.ts";
import { createRedisCache } from "./cache/cache-redis.ts";
import type { Cache } from "./cache/cache.ts";
import { openDatabase, type Database } from "./db/client.ts";
import type { Env } from "./env.ts";
import { createRedisBuckets } from "./rate-limit/buckets-redis.ts";
import type { BucketStore } from "./rate-limit/bucket.ts";
import { createRedisPresence } from "./presence/store-redis.ts";
import { createMemoryPresence, type PresenceStore } from "./presence/store.ts";
import { createRedisSnapshots } from "./ops/snapshot-store-redis.ts";
import { createMemorySnapshots, type SnapshotStore } from "./ops/snapshot-store.ts";
import { openRedis, untilReady, type RedisStates } from "./redis/connections.ts";

export interface Stores {
  database: Database;
  cache: Cache;
  bus: Bus;
  presence: PresenceStore;
  /** Each instance's own metrics snapshot, for the operator's page. */
  snapshots: SnapshotStore;
  /** Called when a Redis connection comes back after a loss (none without Redis). */
  onRedisReconnect(handler: (connection: "commands" | "subscriber") => void): void;
  /** Rate-limit buckets shared by every instance; undefined without Redis (the limiter keeps its own). */
  buckets?: BucketStore;
  /** The Redis connections' states; undefined when the stores are in-process. */
  redisStates?: () => RedisStates;
  close(): Promise<void>;
}

export interface StoreOptions {
  /** Namespaces every Redis key and channel (tests share one Redis). */
  redisPrefix?: string;
  /** PGlite only: keep data in memory. */
  inMemory?: boolean;
  /** Tags this instance's presence entries. */
  instanceId?: string;
}

/** Postgres or PGlite, Redis or in-process: chosen by DATABASE_URL and REDIS_URL alone. */
export async function openStores(env: Env, opts: StoreOptions = {}): Promise<Stores> {
  const database = await openDatabase({
    url: env.DATABASE_URL,
    dataDir: env.DATA_DIR,
    poolSize: env.DB_POOL_SIZE,
    connectTimeoutMs: env.DB_CONNECT_TIMEOUT_MS,
    statementTimeoutMs: env.DB_STATEMENT_TIMEOUT_MS,
    inMemory: opts.inMemory,
  });
  if (!env.REDIS_URL) {
    const cache = createMemoryCache();
    const bus = createMemoryBus();
    return {
      database,
      cache,
      bus,
      presence: createMemoryPresence(),
      snapshots: createMemorySnapshots(),
      onRedisReconnect() {},
      async close() {
        await Promise.allSettled([bus.close(), cache.close()]);
        await database.close();
      },
    };
  }
  const prefix = opts.redisPrefix ?? "";
  // Commands fail within REDIS_COMMAND_TIMEOUT_MS while Redis is away or frozen: sessions fall back
  // to Postgres, limits fail open, presence and bus publishes are best effort.
  const redis = openRedis(env.REDIS_URL, { commandTimeoutMs: env.REDIS_COMMAND_TIMEOUT_MS });
  const { commands, subscriber } = redis;
  // Start with a working connection when Redis is there; /readyz reports it when it is not.
  await untilReady(commands, 3_000);
  const cache = createRedisCache(commands, prefix);
  const bus = createRedisBus(commands, subscriber, prefix, env.REDIS_COMMAND_TIMEOUT_MS);
  const reconnectHandlers = new Set<(connection: "commands" | "subscriber") => void>();
  for (const [name, connection] of [["commands", commands], ["subscriber", subscriber]] as const) {
    let readyBefore = connection.status === "ready";
    connection.on("ready", () => {
      if (readyBefore) for (const handler of reconnectHandlers) handler(name);
      readyBefore = true;
    });
  }
  return {
    database,
    cache,
    bus,
    presence: createRedisPresence(commands, opts.instanceId ?? "instance", prefix),
    snapshots: createRedisSnapshots(commands, prefix),
    onRedisReconnect(handler) {
      reconnectHandlers.add(handler);
    },
    buckets: createRedisBuckets(commands, prefix),
    redisStates: redis.states,
    async close() {
      await bus.close();
      await redis.close();
      await database.close();
    },
  };
}

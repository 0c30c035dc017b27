import Redis from "ioredis";
import { createMemoryBus } from "./bus/bus-memory.ts";
import { createRedisBus } from "./bus/bus-redis.ts";
import type { Bus } from "./bus/bus.ts";
import { createMemoryCache } from "./cache/cache-memory.ts";
import { createRedisCache } from "./cache/cache-redis.ts";
import type { Cache } from "./cache/cache.ts";
import { openDatabase, type Database } from "./db/client.ts";
import type { Env } from "./env.ts";
import { createRedisPresence } from "./presence/store-redis.ts";
import { createMemoryPresence, type PresenceStore } from "./presence/store.ts";

export interface Stores {
  database: Database;
  cache: Cache;
  bus: Bus;
  presence: PresenceStore;
  /** Called when a Redis connection comes back after a loss (none without Redis). */
  onRedisReconnect(handler: (connection: "commands" | "subscriber") => void): void;
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
      onRedisReconnect() {},
      async close() {
        await Promise.allSettled([bus.close(), cache.close()]);
        await database.close();
      },
    };
  }
  const prefix = opts.redisPrefix ?? "";
  const redisOptions = { maxRetriesPerRequest: 2, connectTimeout: 5_000, lazyConnect: false };
  // Commands fail at once while Redis is away (no offline queue): sessions fall back to Postgres,
  // limits fail open, presence and bus publishes are best effort. Only subscriptions wait for Redis.
  const commands = new Redis(env.REDIS_URL, { ...redisOptions, enableOfflineQueue: false });
  const subscriber = new Redis(env.REDIS_URL, { ...redisOptions, maxRetriesPerRequest: null });
  // Errors surface through failed commands and /readyz; ioredis reconnects by itself.
  commands.on("error", () => {});
  subscriber.on("error", () => {});
  // Start with a working connection when Redis is there; /readyz reports it when it is not.
  await Promise.race([
    new Promise((resolve) => (commands.status === "ready" ? resolve(undefined) : commands.once("ready", resolve))),
    Bun.sleep(3_000),
  ]);
  const cache = createRedisCache(commands, prefix);
  const bus = createRedisBus(commands, subscriber, prefix);
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
    onRedisReconnect(handler) {
      reconnectHandlers.add(handler);
    },
    async close() {
      await bus.close();
      subscriber.disconnect();
      await commands.quit().catch(() => commands.disconnect());
      await database.close();
    },
  };
}

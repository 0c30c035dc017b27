import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { sql, type SQLWrapper } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import { schema } from "./schema.ts";
import { lockDataDir } from "./data-dir-lock.ts";

export type Schema = typeof schema;
/** Either driver: postgres.js against a server, or PGlite embedded. */
export type Db = PgDatabase<PgQueryResultHKT, Schema>;
export type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];

export interface Database {
  db: Db;
  driver: "postgres" | "pglite";
  /**
   * A hand-written statement with $1.. placeholders, prepared once per connection
   * (drizzle re-plans every query): for the few hot paths. int8 values come back as strings
   * from postgres.js and as numbers from PGlite: convert them.
   */
  queryRows<T>(text: string, params: unknown[]): Promise<T[]>;
  /** Statements and transactions under way now (counted around each), and the pool's size. */
  poolUsage(): { size: number; active: number };
  /** Apply pending migrations; safe when several processes call it at once. */
  migrate(): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export const MIGRATIONS_DIR = resolve(import.meta.dir, "../../drizzle");

// Any fixed 64-bit number, shared by every instance of this app.
const MIGRATION_LOCK_KEY = 7_305_182_240_915_123n;

export interface DatabaseOptions {
  url?: string;
  dataDir: string;
  poolSize: number;
  /** PGlite only: keep the data in memory (tests). */
  inMemory?: boolean;
}

/**
 * Neither driver exposes pool counters, so the queries are counted: a statement or a
 * transaction holds one connection from its start until it settles; more under way than
 * the pool has connections are waiting for one.
 */
function usageCounter() {
  let active = 0;
  return {
    get active() {
      return active;
    },
    /** Counts `work` until it settles; returns it unchanged (postgres.js runs a query a tick later, after .values()). */
    track<T extends PromiseLike<unknown>>(work: T): T {
      active++;
      const done = () => {
        active--;
      };
      work.then(done, done);
      return work;
    },
  };
}

export async function openDatabase(opts: DatabaseOptions): Promise<Database> {
  return opts.url ? openPostgres(opts.url, opts.poolSize) : openPglite(opts);
}

async function openPostgres(url: string, poolSize: number): Promise<Database> {
  const { default: postgres } = await import("postgres");
  const { drizzle } = await import("drizzle-orm/postgres-js");
  const { migrate } = await import("drizzle-orm/postgres-js/migrator");
  const client = postgres(url, { max: poolSize, onnotice: () => {}, connect_timeout: 10 });
  const usage = usageCounter();
  // drizzle sends every statement through unsafe() and every transaction through begin().
  const unsafe = client.unsafe.bind(client);
  const begin = client.begin.bind(client) as (...args: unknown[]) => Promise<unknown>;
  client.unsafe = ((...args: Parameters<typeof unsafe>) => usage.track(unsafe(...args))) as typeof client.unsafe;
  client.begin = ((...args: unknown[]) => usage.track(begin(...args))) as typeof client.begin;
  const db = drizzle(client, { schema }) as unknown as Db;
  return {
    db,
    driver: "postgres",
    poolUsage: () => ({ size: poolSize, active: usage.active }),
    async queryRows<T>(text: string, params: unknown[]) {
      return (await client.unsafe(text, params as never[], { prepare: true })) as unknown as T[];
    },
    async migrate() {
      // The advisory lock lives on one dedicated connection, never a pooled one.
      const lockConn = postgres(url, { max: 1, onnotice: () => {} });
      try {
        await lockConn`select pg_advisory_lock(${MIGRATION_LOCK_KEY.toString()}::bigint)`;
        await migrate(drizzle(lockConn), { migrationsFolder: MIGRATIONS_DIR });
        await lockConn`select pg_advisory_unlock(${MIGRATION_LOCK_KEY.toString()}::bigint)`;
      } finally {
        await lockConn.end({ timeout: 5 });
      }
    },
    async ping() {
      await client`select 1`;
    },
    async close() {
      await client.end({ timeout: 5 });
    },
  };
}

async function openPglite(opts: DatabaseOptions): Promise<Database> {
  const { PGlite } = await import("@electric-sql/pglite");
  const { drizzle } = await import("drizzle-orm/pglite");
  const { migrate } = await import("drizzle-orm/pglite/migrator");
  let release = () => {};
  let dataDir: string | undefined;
  if (!opts.inMemory) {
    const dir = resolve(opts.dataDir);
    mkdirSync(dir, { recursive: true });
    release = lockDataDir(dir);
    dataDir = join(dir, "pglite");
  }
  try {
    const client = await PGlite.create(dataDir ? { dataDir } : {});
    // One connection: statements queue inside PGlite; count them as the pool's use the same way.
    const usage = usageCounter();
    const query = client.query.bind(client);
    const transaction = client.transaction.bind(client);
    client.query = ((...args: Parameters<typeof query>) => usage.track(query(...args))) as typeof client.query;
    client.transaction = ((...args: Parameters<typeof transaction>) => usage.track(transaction(...args))) as typeof client.transaction;
    const db = drizzle(client, { schema }) as unknown as Db;
    return {
      db,
      driver: "pglite",
      poolUsage: () => ({ size: 1, active: usage.active }),
      async queryRows<T>(text: string, params: unknown[]) {
        return (await client.query<T>(text, params)).rows;
      },
      async migrate() {
        await migrate(drizzle(client), { migrationsFolder: MIGRATIONS_DIR });
      },
      async ping() {
        await db.execute(sql`select 1`);
      },
      async close() {
        await client.close();
        release();
      },
    };
  } catch (err) {
    release();
    throw err;
  }
}

/** Rows of `db.execute(sql…)` on either driver: postgres.js gives an array, PGlite `{ rows }`. */
export async function executeRows<T>(db: Db, query: SQLWrapper): Promise<T[]> {
  const result = (await db.execute(query as never)) as unknown as T[] | { rows: T[] };
  return Array.isArray(result) ? result : result.rows;
}

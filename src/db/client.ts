import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { sql, type SQLWrapper } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import { schema } from "./schema.ts";
import { lockDataDir } from "./data-dir-lock.ts";
import { armStatement, withDeadline } from "./deadline.ts";

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
  /** `select 1`; rejects when the database does not answer within `timeoutMs`. */
  ping(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export const MIGRATIONS_DIR = resolve(import.meta.dir, "../../drizzle");

// Any fixed 64-bit number, shared by every instance of this app.
export const MIGRATION_LOCK_KEY = 7_305_182_240_915_123n;

export interface DatabaseOptions {
  url?: string;
  dataDir: string;
  poolSize: number;
  /** Postgres only: a new connection must be ready within this (default 2 s). */
  connectTimeoutMs?: number;
  /** Postgres only: every statement must answer within this, client- and server-side (default 2 s). */
  statementTimeoutMs?: number;
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
  return opts.url ? openPostgres(opts.url, opts) : openPglite(opts);
}

async function openPostgres(url: string, opts: DatabaseOptions): Promise<Database> {
  const { default: postgres } = await import("postgres");
  const { drizzle } = await import("drizzle-orm/postgres-js");
  const { migrate } = await import("drizzle-orm/postgres-js/migrator");
  const statementTimeoutMs = opts.statementTimeoutMs ?? 2_000;
  const connect_timeout = (opts.connectTimeoutMs ?? 2_000) / 1000;
  const raw = postgres(url, {
    max: opts.poolSize,
    onnotice: () => {},
    connect_timeout,
    // postgres.js waits up to 20 s between attempts after repeated failures: an instance would
    // stay unready that long after Postgres is back. Half a second at most.
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 0.5),
    // The server's own limit frees a connection held by a slow statement; the client's deadline
    // (withDeadline) also covers a server that is frozen and cannot enforce anything.
    connection: { statement_timeout: statementTimeoutMs },
  });
  const usage = usageCounter();
  // drizzle sends every statement through unsafe() and every transaction through begin().
  const unsafe = raw.unsafe.bind(raw);
  const begin = raw.begin.bind(raw) as (...args: unknown[]) => Promise<unknown>;
  // drizzle asks postgres.js to prepare only the queries given a name (.prepare("…")): every
  // other statement was parsed and planned by Postgres on every call, which made its CPU 2.6x
  // the Socket.IO peer's (named statements) for the same statements at 1,000 k6 users. One
  // statement text is one prepared statement per connection (postgres.js caches them).
  raw.unsafe = ((query: string, params?: unknown[], options?: { prepare?: boolean }) =>
    usage.track(unsafe(query, params as never[], { ...options, prepare: true }))) as typeof raw.unsafe;
  raw.begin = ((...args: unknown[]) => usage.track(begin(...args))) as typeof raw.begin;
  const client = withDeadline(raw, statementTimeoutMs);
  const db = drizzle(client, { schema }) as unknown as Db;
  return {
    db,
    driver: "postgres",
    poolUsage: () => ({ size: opts.poolSize, active: usage.active }),
    async queryRows<T>(text: string, params: unknown[]) {
      return (await client.unsafe(text, params as never[], { prepare: true })) as unknown as T[];
    },
    async migrate() {
      // The advisory lock lives on one dedicated connection, never a pooled one. No statement
      // timeout here: waiting for another instance's migration is expected.
      const lockConn = postgres(url, { max: 1, onnotice: () => {}, connect_timeout });
      try {
        await lockConn`select pg_advisory_lock(${MIGRATION_LOCK_KEY.toString()}::bigint)`;
        await migrate(drizzle(lockConn), { migrationsFolder: MIGRATIONS_DIR });
        await lockConn`select pg_advisory_unlock(${MIGRATION_LOCK_KEY.toString()}::bigint)`;
      } finally {
        await lockConn.end({ timeout: 5 });
      }
    },
    async ping(timeoutMs) {
      await armStatement(raw.unsafe("select 1"), timeoutMs);
    },
    async close() {
      await raw.end({ timeout: 5 });
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
        // In-process: it cannot stall apart from this process.
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

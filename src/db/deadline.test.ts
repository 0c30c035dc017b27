// A throwaway Postgres of its own (the suite's shared one must not be frozen): statements,
// transactions and the readiness ping answer within their deadline while the server is frozen,
// as DatabaseUnavailableError; the server's own statement_timeout ends slow statements; all
// works again once it wakes.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import { startPostgres, type PostgresService } from "../../scripts/services.ts";
import { openDatabase, type Database } from "./client.ts";
import { isDatabaseUnavailable } from "./unavailable.ts";

const DEADLINE_MS = 300;
let dir: string;
let server: PostgresService;
let database: Database;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "chat-pg-"));
  chmodSync(dir, 0o711);
  server = await startPostgres(join(dir, "pg"), { maxConnections: 20 });
  database = await openDatabase({ url: server.url, dataDir: "unused", poolSize: 2, statementTimeoutMs: DEADLINE_MS, connectTimeoutMs: 500 });
  await database.migrate();
}, 30_000);

afterAll(async () => {
  await server.thaw().catch(() => {});
  await database.close().catch(() => {});
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function settle(work: () => Promise<unknown>) {
  const started = performance.now();
  const error = await work().then(
    () => undefined,
    (err: unknown) => err,
  );
  return { error, ms: performance.now() - started };
}

describe("database deadlines", () => {
  test("a slow statement is ended by Postgres's statement_timeout and reads as unavailable", async () => {
    const { error, ms } = await settle(() => database.queryRows("select pg_sleep(2)", []));
    expect(isDatabaseUnavailable(error)).toBe(true);
    expect(ms).toBeLessThan(DEADLINE_MS + 500);
    // The server ended it too (the client's deadline alone would leave it running for 2 s).
    await Bun.sleep(100);
    const running = await database.queryRows("select pid from pg_stat_activity where query like 'select pg_sleep%' and state = 'active'", []);
    expect(running).toEqual([]);
  });

  test("frozen: statements, transactions and the ping give up in time; more queries than connections too", async () => {
    await server.freeze();
    try {
      const work = [
        ...Array.from({ length: 10 }, () => () => database.queryRows("select 1", [])),
        () => database.db.execute(sql`select count(*) from rooms`),
        () => database.db.transaction(async (tx) => tx.execute(sql`select 1`)),
      ];
      const results = await Promise.all(work.map(settle));
      for (const { error, ms } of results) {
        expect(isDatabaseUnavailable(error)).toBe(true);
        expect(ms).toBeLessThan(DEADLINE_MS + 300);
      }
      const ping = await settle(() => database.ping(200));
      expect(ping.error).toBeDefined();
      expect(ping.ms).toBeLessThan(500);
    } finally {
      await server.thaw();
    }
    // Queries that were still waiting for a connection were dropped, not run later; the pool works again.
    const deadline = Date.now() + 5_000;
    while (!(await database.ping(500).then(() => true, () => false))) {
      if (Date.now() > deadline) throw new Error("the database did not come back");
    }
    expect(await database.queryRows<{ n: number }>("select 1 as n", [])).toEqual([{ n: 1 }]);
    await database.db.transaction(async (tx) => tx.execute(sql`select 1`));
  }, 20_000);

  test("stopped: queries fail fast as unavailable, and work again after a restart", async () => {
    await server.stop();
    const { error, ms } = await settle(() => database.queryRows("select 1", []));
    if (!isDatabaseUnavailable(error)) throw new Error(`not classified as unavailable: ${String(error)} ${(error as any)?.code}`);
    expect(ms).toBeLessThan(DEADLINE_MS + 300);
    await server.restart();
    const deadline = Date.now() + 5_000;
    while (!(await database.ping(500).then(() => true, () => false))) {
      if (Date.now() > deadline) throw new Error("the database did not come back");
      await Bun.sleep(50);
    }
    expect(await database.queryRows<{ n: number }>("select 1 as n", [])).toEqual([{ n: 1 }]);
  }, 20_000);
});

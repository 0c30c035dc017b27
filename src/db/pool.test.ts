// The pool hands a query to the connection that went idle last (postgres.js patched under
// patches/: upstream takes the one idle longest, so every pooled backend wakes in turn and
// none stays warm). Against the suite's real Postgres.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createDatabase } from "../../test/support/test-app.ts";
import { openDatabase, type Database } from "./client.ts";

const POOL = 6;
let database: Database;

beforeAll(async () => {
  database = await openDatabase({ url: await createDatabase(), dataDir: "unused", poolSize: POOL });
}, 30_000);

afterAll(() => database.close());

const backend = async () => (await database.queryRows<{ pid: number }>("select pg_backend_pid() as pid", []))[0]!.pid;

test("a burst opens the whole pool; one query at a time afterwards keeps to one backend", async () => {
  // All at once: each holds its connection, so the pool opens every one of them.
  const burst = await Promise.all(
    Array.from({ length: POOL }, () => database.queryRows<{ pid: number }>("select pg_backend_pid() as pid, pg_sleep(0.05)", [])),
  );
  expect(new Set(burst.map((rows) => rows[0]!.pid)).size).toBe(POOL);

  const serial: number[] = [];
  for (let i = 0; i < 3 * POOL; i++) serial.push(await backend());
  // Oldest-idle-first would have cycled through all six backends.
  expect(new Set(serial).size).toBe(1);
  expect(burst.map((rows) => rows[0]!.pid)).toContain(serial[0]!);
});

test("two queries at a time keep to two backends", async () => {
  const used = new Set<number>();
  for (let i = 0; i < 2 * POOL; i++) for (const pid of await Promise.all([backend(), backend()])) used.add(pid);
  expect(used.size).toBe(2);
});

// The expensive reads (search, the room list's unread counts, history after=N) read a
// bounded number of buffers: the same on a history four times as large. The forms
// they replaced grow with it, which shows the check can fail.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { explain } from "../db/explain.ts";
import { readQueries, unboundedQueries } from "../../scripts/read-queries.ts";
import { seedMessages } from "../../scripts/seed-messages.ts";
import { createTestApp, type TestApp } from "../../test/support/test-app.ts";

const SMALL = 30_000;
const LARGE = 120_000;
/** No read of a page of results may touch more shared buffers than this, whatever the history. */
const MAX_BUFFERS = 6_000;

async function measure(t: TestApp, messages: number) {
  const seeded = await seedMessages(t.stores.database, { messages });
  const buffers = new Map<string, number>();
  for (const { name, query } of [...readQueries(t.stores.database, seeded), ...unboundedQueries(seeded)]) {
    await explain(t.stores.database, query);
    buffers.set(name, (await explain(t.stores.database, query)).buffers);
  }
  return buffers;
}

describe("bounded reads", () => {
  let small: TestApp;
  let large: TestApp;
  let before: Map<string, number>;
  let after: Map<string, number>;
  beforeAll(async () => {
    // Seeding takes one long statement: past a request's deadline (DB_STATEMENT_TIMEOUT_MS) on a busy machine.
    const seeding = { DB_STATEMENT_TIMEOUT_MS: "120000" };
    [small, large] = await Promise.all([createTestApp("postgres", seeding), createTestApp("postgres", seeding)]);
    before = await measure(small, SMALL);
    after = await measure(large, LARGE);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([small?.close(), large?.close()]);
  });

  test("each read touches a bounded number of buffers that does not grow with the history", () => {
    const bounded = [...before.keys()].filter((name) => !name.startsWith("(before)"));
    expect(bounded.length).toBeGreaterThanOrEqual(9);
    for (const name of bounded) {
      const [b, a] = [before.get(name)!, after.get(name)!];
      expect({ name, buffers: a, flat: a <= b * 1.25 + 50 }).toEqual({ name, buffers: a, flat: true });
      expect({ name, buffers: a, bounded: a <= MAX_BUFFERS }).toEqual({ name, buffers: a, bounded: true });
    }
  });

  test("the unbounded forms they replaced grow with the history", () => {
    const unbounded = [...before.keys()].filter((name) => name.startsWith("(before)"));
    expect(unbounded.length).toBe(3);
    for (const name of unbounded) expect({ name, grew: after.get(name)! > before.get(name)! * 2.5 }).toEqual({ name, grew: true });
  });
});

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { createTestApp, registerUser, type TestApp } from "../test/support/test-app.ts";
import { describeError } from "./log.ts";

describe("error logs", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp("postgres");
  });
  afterAll(async () => {
    await t?.close();
  });

  test("a failed query is logged by SQLSTATE, without its parameters or the values Postgres quotes", async () => {
    const secret = "my secret message content";
    const token = "tok_0123456789abcdefghijklmnop";
    const err = await t.stores.database.db
      .execute(sql`select ${secret}::int, ${token}::uuid`)
      .then(() => undefined, (e: unknown) => e);
    expect(err).toBeDefined();
    // What the log printed before: the driver's message names the parameters.
    expect(String(err)).toContain(secret);
    const fields = JSON.stringify(describeError(err));
    expect(fields).toContain("22P02");
    expect(fields).not.toContain(secret);
    expect(fields).not.toContain(token);
  });

  test("other errors keep their name and message, and only the frames of their stack", () => {
    const fields = describeError(new TypeError("x is not a function"));
    expect(fields.error).toBe("TypeError: x is not a function");
    expect(fields.stack?.split("\n").every((line) => /^\s+at /.test(line))).toBe(true);
  });

  test("a request that fails inside logs no content (the app's one error handler)", async () => {
    const user = await registerUser(t);
    const lines: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    const app = (await import("./app.ts")).createApp({
      ...t.stores,
      env: t.env,
      instanceId: "log-test",
      log: (await import("./log.ts")).createLogger("error"),
      metrics: (await import("./metrics/registry.ts")).createMetrics("log-test"),
      state: t.state,
      events: t.events,
    });
    // A store that fails with the request's content in the error, as a driver error would.
    const original = t.stores.database.db.transaction.bind(t.stores.database.db);
    (t.stores.database.db as { transaction: unknown }).transaction = () =>
      Promise.reject(Object.assign(new Error(`Failed query: insert ... params: secret-room-name`), { query: "insert", params: ["secret-room-name"] }));
    process.stderr.write = ((chunk: string) => (lines.push(String(chunk)), true)) as typeof process.stderr.write;
    try {
      const res = await app.request("/api/rooms", {
        method: "POST",
        headers: { authorization: `Bearer ${user.token}`, "content-type": "application/json" },
        body: JSON.stringify({ name: "secret-room-name" }),
      });
      expect(res.status).toBe(500);
    } finally {
      process.stderr.write = write;
      (t.stores.database.db as { transaction: unknown }).transaction = original;
    }
    const logged = lines.join("");
    expect(logged).toContain("unhandled error");
    expect(logged).toContain("database query failed");
    expect(logged).not.toContain("secret-room-name");
    expect(logged).not.toContain(user.token);
  });
});

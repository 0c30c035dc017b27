import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createPasswordHasher } from "../src/auth/password.ts";
import { createTestApp, type TestApp } from "../test/support/test-app.ts";
import { SEED_PASSWORD, seedDatabase } from "./seed.ts";

describe("seed", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp("postgres");
  }, 30_000);
  afterAll(async () => {
    await t?.close();
  });

  test("seeds users, rooms and memberships, twice without harm; a seeded user logs in", async () => {
    const hasher = createPasswordHasher({ memoryKib: t.env.PASSWORD_MEMORY_KIB, timeCost: t.env.PASSWORD_TIME_COST });
    const opts = { users: 50, rooms: 5, passwordHash: await hasher.hash(SEED_PASSWORD) };
    const first = await seedDatabase(t.stores.database.db, opts);
    expect(first).toEqual({ users: 50, rooms: 6, memberships: expect.any(Number) });
    expect(first.memberships).toBeGreaterThan(50);

    // The command line, against the same database: nothing new, nothing broken.
    const run = Bun.spawnSync(["bun", "scripts/seed.ts", "--users", "50", "--rooms", "5"], {
      env: { ...process.env, DATABASE_URL: t.env.DATABASE_URL, REDIS_URL: "" },
      stderr: "pipe",
      stdout: "pipe",
    });
    expect(run.stderr.toString()).toBe("");
    expect(run.exitCode).toBe(0);
    expect(run.stdout.toString()).toContain(`seeded 50 users, 6 rooms, ${first.memberships} memberships`);

    const login = await t.call("POST", "/api/auth/login", { body: { email: "user7@example.com", password: SEED_PASSWORD } });
    expect(login.status).toBe(200);
    expect(login.body.user.username).toBe("user7");
    const general = await t.call("GET", "/api/rooms/general", { token: login.body.token });
    expect(general.body.memberCount).toBe(50);
    const listed = await t.call("GET", "/api/rooms?limit=100", { token: login.body.token });
    const mine = listed.body.data.filter((r: { unreadCount?: number }) => r.unreadCount !== undefined);
    expect(mine.length).toBeGreaterThanOrEqual(2);
  });

  test("bad flags stop the command with a usage line", () => {
    const run = Bun.spawnSync(["bun", "scripts/seed.ts", "--users", "ten"], { env: { ...process.env, DATABASE_URL: "", REDIS_URL: "" }, stderr: "pipe" });
    expect(run.exitCode).toBe(1);
    expect(run.stderr.toString()).toContain("--users must be an integer");
  });
});

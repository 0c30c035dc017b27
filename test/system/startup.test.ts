// Start-up as operators and developers see it: real `bun src/main.ts` processes.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { MIGRATION_LOCK_KEY, openDatabase } from "../../src/db/client.ts";
import { createDatabase, serverEnv } from "../support/test-app.ts";
import { startServer, type ServerProcess } from "../support/server-process.ts";

const journal = (await Bun.file(join(import.meta.dir, "../../drizzle/meta/_journal.json")).json()) as {
  entries: unknown[];
};

const started: ServerProcess[] = [];
const dirs: string[] = [];
afterAll(async () => {
  await Promise.allSettled(started.map((s) => s.stop("SIGKILL")));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir() {
  const dir = mkdtempSync(join(tmpdir(), "chat-sys-"));
  dirs.push(dir);
  return dir;
}

async function migrationState(url: string) {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [applied] = await sql`select count(*)::int as n from drizzle.__drizzle_migrations`;
    const general = await sql`select slug, is_private from rooms where slug = 'general'`;
    return { applied: applied!.n as number, general: general.length };
  } finally {
    await sql.end();
  }
}

describe("migrations", () => {
  test("apply to an empty database, and a second run changes nothing", async () => {
    const url = await createDatabase();
    for (let run = 0; run < 2; run++) {
      const db = await openDatabase({ url, dataDir: "unused", poolSize: 2 });
      await db.migrate();
      await db.close();
      expect(await migrationState(url)).toEqual({ applied: journal.entries.length, general: 1 });
    }
  });

  test("two processes migrating the same empty database at once both come up", async () => {
    const url = await createDatabase();
    const { REDIS_URL } = serverEnv();
    const servers = [0, 1].map((i) =>
      startServer({ DATABASE_URL: url, REDIS_URL: REDIS_URL!, INSTANCE_ID: `mig-${i}` }),
    );
    started.push(...servers);
    await Promise.all(servers.map((s) => s.waitReady()));
    expect(await migrationState(url)).toEqual({ applied: journal.entries.length, general: 1 });
    const ready = await Promise.all(servers.map((s) => fetch(`${s.url}/readyz`).then((r) => r.json())));
    expect(ready.map((r) => r.instance).sort()).toEqual(["mig-0", "mig-1"]);
    expect(await Promise.all(servers.map((s) => s.stop()))).toEqual([0, 0]);
  }, 60_000);
});

describe("before migrations finish", () => {
  test("only /healthz and /readyz are served (others 503 JSON), and SIGTERM stops the process at once", async () => {
    const url = await createDatabase();
    // Another "instance" holds the migration lock: this one waits in migrate().
    const holder = postgres(url, { max: 1, onnotice: () => {} });
    await holder`select pg_advisory_lock(${MIGRATION_LOCK_KEY.toString()}::bigint)`;
    try {
      const server = startServer({ DATABASE_URL: url, REDIS_URL: serverEnv().REDIS_URL!, INSTANCE_ID: "early" });
      started.push(server);
      const deadline = Date.now() + 20_000;
      while ((await fetch(`${server.url}/healthz`).catch(() => null))?.status !== 200) {
        if (Date.now() > deadline) throw new Error(`never listened:\n${server.output()}`);
        await Bun.sleep(100);
      }
      const ready = await fetch(`${server.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { status: string }).status).toBe("starting");
      for (const path of ["/api/me", "/api/rooms", "/ws", "/metrics"]) {
        const res = await fetch(`${server.url}${path}`);
        expect(res.status).toBe(503);
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe("unavailable");
      }
      const stoppedAt = Date.now();
      expect(await server.stop("SIGTERM")).toBe(0);
      expect(Date.now() - stoppedAt).toBeLessThan(3_000);
    } finally {
      await holder.end();
    }
  }, 60_000);
});

describe("embedded single-instance mode", () => {
  test("runs on PGlite with no DATABASE_URL or REDIS_URL, locks DATA_DIR, keeps data across restarts", async () => {
    const dataDir = tempDir();
    const env = { DATABASE_URL: "", REDIS_URL: "", DATA_DIR: dataDir };
    const first = startServer(env);
    started.push(first);
    await first.waitReady(60_000);
    expect(first.output()).toContain('"database":"pglite"');

    const account = { email: "embedded@example.com", username: "embedded", password: "password123" };
    const reg = await fetch(`${first.url}/api/auth/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(account),
    });
    expect(reg.status).toBe(201);

    const second = startServer(env);
    started.push(second);
    expect(await second.proc.exited).not.toBe(0);
    expect(second.output()).toContain(`DATA_DIR ${dataDir} is in use`);

    expect(await first.stop("SIGTERM")).toBe(0);

    const again = startServer(env);
    started.push(again);
    await again.waitReady(60_000);
    const login = await fetch(`${again.url}/api/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: account.email, password: account.password }),
    });
    expect(login.status).toBe(200);
    expect(await again.stop("SIGTERM")).toBe(0);
  }, 120_000);

  test("invalid settings stop start-up with a message naming them", async () => {
    const server = startServer({ PORT: "70000", RATE_LIMIT_MULTIPLIER: "-1", DATABASE_URL: "mysql://x", DATA_DIR: tempDir() });
    started.push(server);
    expect(await server.proc.exited).toBe(1);
    const out = server.output();
    expect(out).toContain("Invalid environment");
    for (const name of ["PORT", "RATE_LIMIT_MULTIPLIER", "DATABASE_URL"]) expect(out).toContain(name);
  });

  test("an unreachable database is reported, not a hang", async () => {
    const server = startServer({ DATABASE_URL: "postgres://postgres@127.0.0.1:1/none", REDIS_URL: "", DATA_DIR: tempDir() });
    started.push(server);
    expect(await server.proc.exited).toBe(1);
    expect(server.output()).toContain("migrations failed");
  }, 60_000);
});

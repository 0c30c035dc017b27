// Builds the real app against the real stores the test runner started:
// a fresh Postgres database per call (or an in-memory PGlite), a Redis key prefix of its own.
import postgres from "postgres";
import { createApp, type AppState } from "../../src/app.ts";
import { createCapabilities } from "../../src/capabilities.ts";
import { loadEnv, type Env } from "../../src/env.ts";
import { createDomainEvents, type DomainEvents } from "../../src/events.ts";
import { createLogger } from "../../src/log.ts";
import { createMetrics } from "../../src/metrics/registry.ts";
import { openStores, type Stores } from "../../src/stores.ts";

export type Driver = "postgres" | "pglite";

export function serverEnv(): Env {
  const env = loadEnv();
  if (!env.DATABASE_URL || !env.REDIS_URL) {
    throw new Error("DATABASE_URL and REDIS_URL are unset: run the suite with `bun run test`");
  }
  return env;
}

const suffix = () => Math.random().toString(36).slice(2, 10);

/** A new, empty database on the test server; returns its URL. */
export async function createDatabase(): Promise<string> {
  const adminUrl = serverEnv().DATABASE_URL!;
  const name = `t_${Date.now().toString(36)}_${suffix()}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export interface TestApp {
  app: ReturnType<typeof createApp>;
  env: Env;
  redisPrefix: string;
  stores: Stores;
  state: AppState;
  events: DomainEvents;
  /** JSON request helper: returns status, headers and parsed body. */
  call(method: string, path: string, opts?: { body?: unknown; token?: string; headers?: Record<string, string> }): Promise<{
    status: number;
    headers: Headers;
    body: any;
  }>;
  close(): Promise<void>;
}

/**
 * `overrides` set environment variables; pass another TestApp's DATABASE_URL and
 * `redisPrefix` to get a second "instance" sharing its stores.
 */
export async function createTestApp(
  driver: Driver = "postgres",
  overrides: Record<string, string> = {},
  opts: { redisPrefix?: string } = {},
): Promise<TestApp> {
  const base = serverEnv();
  const env = loadEnv({
    DATABASE_URL: driver === "postgres" ? (overrides.DATABASE_URL ?? (await createDatabase())) : "",
    REDIS_URL: driver === "postgres" ? base.REDIS_URL : "",
    LOG_LEVEL: "silent",
    ...overrides,
  });
  const redisPrefix = opts.redisPrefix ?? `t:${suffix()}:`;
  const stores = await openStores(env, { redisPrefix, inMemory: driver === "pglite" });
  await stores.database.migrate();
  const state: AppState = { ready: true, draining: false };
  const events = createDomainEvents((err) => {
    throw err;
  });
  const app = createApp({
    env,
    instanceId: `test-${suffix()}`,
    log: createLogger("silent"),
    metrics: createMetrics("test"),
    state,
    events,
    ...stores,
  });
  return {
    app,
    env,
    redisPrefix,
    stores,
    state,
    events,
    async call(method, path, opts = {}) {
      const headers: Record<string, string> = { ...opts.headers };
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      let body: string | undefined;
      if (opts.body !== undefined) {
        body = typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body);
        headers["content-type"] ??= "application/json";
      }
      const res = await app.request(path, { method, headers, body });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {}
      return { status: res.status, headers: res.headers, body: parsed };
    },
    close: () => stores.close(),
  };
}

let counter = 0;
/** A unique, valid account. */
/** The app's capabilities on a test app's stores, for tests that call them without HTTP. */
export const capabilitiesOf = (t: TestApp) => createCapabilities({ env: t.env, events: t.events, ...t.stores });

export function newAccount(tag = "u") {
  const n = `${tag}${Date.now().toString(36)}${(counter++).toString(36)}${suffix().slice(0, 4)}`;
  return { email: `${n}@example.com`, username: n.slice(0, 32), password: "correct horse battery" };
}

export async function registerUser(t: TestApp, tag?: string) {
  const account = newAccount(tag);
  const res = await t.call("POST", "/api/auth/register", { body: account });
  if (res.status !== 201) throw new Error(`register failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { ...account, id: res.body.user.id as string, token: res.body.token as string };
}

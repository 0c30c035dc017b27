import { hostname } from "node:os";
import { DataDirLockedError } from "./db/data-dir-lock.ts";
import { EnvError, loadEnv, type Env } from "./env.ts";
import { createLogger, describeError } from "./log.ts";
import { startChatServer, type ChatServer } from "./server.ts";
import { loadWeb } from "./static/load-web.ts";
import { openStores, type Stores } from "./stores.ts";

// Composition root: read the environment, open the stores, migrate, serve, drain on SIGTERM.

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

let env: Env;
try {
  env = loadEnv();
} catch (err) {
  fail(err instanceof EnvError ? err.message : String(err));
}

const instanceId = env.INSTANCE_ID ?? `${hostname()}-${process.pid}`;
const log = createLogger(env.LOG_LEVEL, { instance: instanceId });
// A promise nobody awaited must not take every client of this instance down with it.
process.on("unhandledRejection", (reason) => log.error("unhandled rejection", describeError(reason)));

/** After the announce (two health-check intervals): requests and sockets settle within 5 s, the stores close within 5 s. */
const DRAIN_GRACE_MS = 15_000;
// Registered before anything slow (opening PGlite, waiting for Redis, migrating): a SIGTERM at
// any point stops the process cleanly.
let stores: Stores | undefined;
let chat: ChatServer | undefined;
let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  log.info("draining", { signal });
  // Every step of the drain has its own bound; this one is for a step that still hangs (a store
  // that never answers): a process asked to stop must stop, so a supervisor can start another.
  const deadlineMs = 2 * env.HEALTH_CHECK_INTERVAL_MS + DRAIN_GRACE_MS;
  setTimeout(() => {
    log.error("drain did not finish in time; exiting", { afterMs: deadlineMs });
    process.exit(1);
  }, deadlineMs).unref();
  // Once the stores are open (a SIGTERM before that is handled right after they open).
  if (!stores) return;
  await chat?.drain();
  await stores.close().catch((err) => log.error("closing stores failed", describeError(err)));
  log.info("stopped");
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));

stores = await openStores(env, { instanceId }).catch((err) => {
  fail(err instanceof DataDirLockedError ? err.message : `cannot open the stores: ${err?.message ?? err}`);
});
if (stopping) {
  await stores.close().catch(() => {});
  log.info("stopped");
  process.exit(0);
}
if (env.DATABASE_URL && !env.REDIS_URL) {
  log.warn("DATABASE_URL without REDIS_URL: events stay in this process; run several instances only with Redis");
}

// Listening from here on, but only /healthz and /readyz (and the PWA's static files) are served until migrations are applied.
chat = startChatServer({ env, instanceId, stores, log, web: await loadWeb(env, log) });

try {
  await stores.database.migrate();
  await chat.ready();
} catch (err) {
  if (stopping) process.exit(0);
  await stores.close().catch(() => {});
  fail(`migrations failed: ${(err as Error).message}`);
}
log.info("listening", {
  url: `http://localhost:${chat.server.port}`,
  database: stores.database.driver,
  bus: env.REDIS_URL ? "redis" : "memory",
});

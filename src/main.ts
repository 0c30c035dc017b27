import { hostname } from "node:os";
import { createApp, type AppState } from "./app.ts";
import { DataDirLockedError } from "./db/data-dir-lock.ts";
import { createDomainEvents } from "./events.ts";
import { EnvError, loadEnv, type Env } from "./env.ts";
import { createLogger } from "./log.ts";
import { createMetrics } from "./metrics/registry.ts";
import { openStores } from "./stores.ts";

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
const state: AppState = { ready: false, draining: false };

const stores = await openStores(env).catch((err) => {
  fail(err instanceof DataDirLockedError ? err.message : `cannot open the stores: ${err?.message ?? err}`);
});
if (env.DATABASE_URL && !env.REDIS_URL) {
  log.warn("DATABASE_URL without REDIS_URL: events stay in this process; run several instances only with Redis");
}

const events = createDomainEvents((err) => log.error("event listener failed", { error: String(err) }));
const app = createApp({ env, instanceId, log, state, events, metrics: createMetrics(instanceId), ...stores });

const server = Bun.serve({
  port: env.PORT,
  hostname: env.HOST,
  // Above the app's own limit, so the app answers 413 with the contract's body.
  maxRequestBodySize: env.MAX_BODY_BYTES * 4,
  fetch: (req, srv) => app.fetch(req, { ip: srv.requestIP(req)?.address }),
});

try {
  await stores.database.migrate();
} catch (err) {
  await stores.close().catch(() => {});
  fail(`migrations failed: ${(err as Error).message}`);
}
state.ready = true;
log.info("listening", {
  url: `http://localhost:${server.port}`,
  database: stores.database.driver,
  bus: env.REDIS_URL ? "redis" : "memory",
});

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  state.draining = true;
  log.info("draining", { signal });
  // In-flight requests finish; new connections are refused.
  await server.stop(false);
  await stores.close().catch((err) => log.error("closing stores failed", { error: String(err) }));
  log.info("stopped");
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));

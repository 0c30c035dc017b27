import { HTTPException } from "hono/http-exception";
import { bodyLimit } from "hono/body-limit";
import { secureHeaders } from "hono/secure-headers";
import { routePath } from "hono/route";
import { authRoutes, meRoutes } from "./auth/routes.ts";
import { userRoutes } from "./auth/user-routes.ts";
import type { Bus } from "./bus/bus.ts";
import type { Cache } from "./cache/cache.ts";
import { createCapabilities, type Capabilities } from "./capabilities.ts";
import type { Database } from "./db/client.ts";
import { isDatabaseUnavailable } from "./db/unavailable.ts";
import type { Env } from "./env.ts";
import type { DomainEvents } from "./events.ts";
import { AppError, errorBody, type ErrorCode } from "./http/errors.ts";
import { createReadiness } from "./http/readiness.ts";
import { SESSION_COOKIE } from "./auth/middleware.ts";
import { clientAddress } from "./http/client-ip.ts";
import { csrfGuard } from "./http/csrf.ts";
import { withCommonErrors } from "./http/openapi.ts";
import { methodNotAllowed } from "./http/method-not-allowed.ts";
import { createRouter } from "./http/router.ts";
import { describeError, type Logger } from "./log.ts";
import type { Metrics } from "./metrics/registry.ts";
import { isRedisUnavailable, type RedisStates } from "./redis/connections.ts";
import { messageRoutes } from "./messages/routes.ts";
import { opsRoutes } from "./ops/routes.ts";
import type { SnapshotStore } from "./ops/snapshot-store.ts";
import { presenceRoutes } from "./presence/routes.ts";
import type { PresenceStore } from "./presence/store.ts";
import { roomRoutes } from "./rooms/routes.ts";

export interface AppState {
  /** Migrations applied: until then only /healthz and /readyz are served. */
  ready: boolean;
  /** SIGTERM received: /readyz answers 503 so the load balancer stops sending here; requests are still served. */
  leaving?: boolean;
  /** Past that grace: new requests and upgrades are refused with 503, those in flight finish. */
  draining: boolean;
}

export interface AppDeps {
  env: Env;
  instanceId: string;
  database: Database;
  cache: Cache;
  bus: Bus;
  presence: PresenceStore;
  /** Every instance's metrics snapshot (the operator's page). */
  snapshots: SnapshotStore;
  /** The Redis connections' states, for /readyz and its gauge; undefined when in-process. */
  redisStates?: () => RedisStates;
  /** After-commit facts of this process (see events.ts). */
  events: DomainEvents;
  log: Logger;
  metrics: Metrics;
  state: AppState;
  /** Made here when not given; the server passes the ones its WebSocket handlers share. */
  capabilities?: Capabilities;
}

const STATUS_CODES: Record<number, ErrorCode> = {
  400: "invalid_request",
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  409: "conflict",
  413: "payload_too_large",
  415: "unsupported_media_type",
  431: "headers_too_large",
  429: "rate_limited",
  503: "unavailable",
};

export function createApp(deps: AppDeps) {
  const { env, database, log, metrics, state } = deps;
  const { sessions, users, passwords, limiter, rooms, messages, responseCache } = deps.capabilities ?? createCapabilities(deps);

  const app = createRouter();

  app.use(async (c, next) => {
    const started = performance.now();
    await next();
    const route = routePath(c);
    metrics.httpDuration.observe(
      { method: c.req.method, route: route === "/*" ? "unmatched" : route, status: String(c.res.status) },
      (performance.now() - started) / 1000,
    );
  });
  // The API serves JSON only: nothing in it may run, load or be framed.
  app.use(secureHeaders({ contentSecurityPolicy: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"] } }));
  // Nothing but the health endpoints before migrations are applied, or once draining.
  app.use(async (c, next) => {
    if (c.req.path === "/healthz" || c.req.path === "/readyz" || (state.ready && !state.draining)) return next();
    c.header("Retry-After", "1");
    const why = state.ready ? "shutting down: retry, another instance will answer" : "starting: try again shortly";
    return c.json(errorBody("unavailable", why), 503);
  });
  app.use(clientAddress(env.TRUSTED_PROXIES));
  // No compression here: Caddy compresses every response once, at the edge (README, "Compression").
  // Checked before anything parses the body: Content-Length first, then the stream itself.
  app.use(
    "/api/*",
    bodyLimit({
      maxSize: env.MAX_BODY_BYTES,
      onError: (c) => c.json(errorBody("payload_too_large", `request body over ${env.MAX_BODY_BYTES} bytes`), 413),
    }),
  );

  app.use("/api/*", csrfGuard({ allowedOrigins: env.ALLOWED_ORIGINS, sessionCookie: SESSION_COOKIE }));

  // A write answers once the cache versions it bumped are in Redis: the next read, on any instance, sees it.
  app.use("/api/*", async (c, next) => {
    await next();
    if (c.req.method !== "GET" && c.req.method !== "HEAD") await responseCache.settled();
  });

  app.get("/healthz", (c) => c.json({ status: "ok", instance: deps.instanceId }));
  app.get("/readyz", createReadiness({ instanceId: deps.instanceId, database, redisStates: deps.redisStates, state, metrics }));
  app.get("/metrics", async (c) => {
    c.header("content-type", metrics.registry.contentType);
    return c.body(await metrics.registry.metrics());
  });

  app.route(
    "/api/auth",
    authRoutes({
      env,
      users,
      sessions,
      passwords,
      limiter,
      onSessionRevoked: (sessionId, userId) => deps.events.emit({ type: "session.revoked", sessionId, userId }),
      // The people lookup's answers change only when someone signs up; the new member of general
      // changes its member count and (through the user feed) nothing else yet.
      onUserCreated: (userId, joinedRoomIds) => {
        responseCache.bump("users");
        for (const roomId of joinedRoomIds) deps.events.emit({ type: "room.member_joined", roomId, userId });
      },
    }),
  );
  app.route("/api", meRoutes(sessions));
  app.route("/api", userRoutes({ sessions, users, cache: responseCache, metrics }));
  app.route("/api", roomRoutes({ sessions, rooms, limiter, cache: responseCache, metrics }));
  app.route("/api", messageRoutes({ sessions, messages, limiter, rooms, cache: responseCache, metrics }));
  app.route("/api", presenceRoutes({ sessions, rooms, presence: deps.presence }));
  app.route("/api", opsRoutes({ sessions, snapshots: deps.snapshots, operatorEmails: env.OPERATOR_EMAILS }));

  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer" });
  let document: unknown;
  app.get("/api/openapi.json", (c) => {
    document ??= withCommonErrors(
      app.getOpenAPIDocument({
        openapi: "3.0.3",
        info: { title: "Chat API", version: "1.0.0", description: "The WebSocket protocol at /ws is described in docs/protocol.md of the repository." },
      }),
    );
    return c.json(document);
  });

  const wrongMethod = methodNotAllowed(app.routes);
  app.notFound((c) => wrongMethod(c) ?? c.json(errorBody("not_found", `no route for ${c.req.method} ${c.req.path}`), 404));

  let lastUnavailableLog = 0;
  app.onError((err, c) => {
    if (err instanceof AppError) {
      if (err.retryAfterSeconds !== undefined) {
        // Counted by limit where it is refused (the rate limiter).
        c.header("Retry-After", String(err.retryAfterSeconds));
      }
      return c.json(errorBody(err.code, err.message, err.details), err.status);
    }
    if (isDatabaseUnavailable(err)) {
      c.header("Retry-After", "1");
      if (Date.now() - lastUnavailableLog > 1_000) {
        lastUnavailableLog = Date.now();
        log.warn("database unavailable (logged at most once a second)", { path: c.req.path, error: describeError(err).error });
      }
      return c.json(errorBody("unavailable", "the database is not answering: try again shortly"), 503);
    }
    if (isRedisUnavailable(err)) {
      // Only what cannot go on without Redis gets here (limits and caches fail open).
      c.header("Retry-After", "1");
      return c.json(errorBody("unavailable", "a store is not answering: try again shortly"), 503);
    }
    if (err instanceof HTTPException && err.status < 500) {
      const code = err.message.startsWith("Malformed JSON") ? "invalid_json" : (STATUS_CODES[err.status] ?? "invalid_request");
      return c.json(errorBody(code, err.message || code), err.status);
    }
    log.error("unhandled error", { method: c.req.method, path: c.req.path, ...describeError(err) });
    return c.json(errorBody("internal", "internal server error"), 500);
  });

  return app;
}

export type App = ReturnType<typeof createApp>;

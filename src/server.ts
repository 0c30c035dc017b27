import type { Server } from "bun";
import { createApp, type AppState } from "./app.ts";
import { errorBody } from "./http/errors.ts";
import { createCapabilities } from "./capabilities.ts";
import type { Env } from "./env.ts";
import { createDomainEvents } from "./events.ts";
import { describeError, type Logger } from "./log.ts";
import { messageFrameHandlers } from "./messages/ws.ts";
import { instrumentBus } from "./bus/bus-metrics.ts";
import { instrumentCache } from "./cache/cache-metrics.ts";
import { createMetrics } from "./metrics/registry.ts";
import { startOpsPublisher } from "./ops/publisher.ts";
import { presenceFrameHandlers } from "./presence/ws.ts";
import { createHub, type HubOptions } from "./realtime/hub.ts";
import type { SocketData } from "./socket-context.ts";
import { createHubDomain, type HubDomain } from "./realtime/hub-domain.ts";
import { createRealtimeMetrics } from "./realtime/metrics.ts";
import { createRealtime } from "./realtime/socket.ts";
import { createUserFeed } from "./realtime/user-feed.ts";
import { roomFrameHandlers } from "./rooms/ws.ts";
import type { WebApp } from "./static/load-web.ts";
import type { Stores } from "./stores.ts";

/**
 * Request line and headers, as Bun's own default limit counts them. Bun runs with
 * --max-http-header-size above this (package.json, cluster, tests), so the app,
 * not Bun, answers first, with the contract's body.
 */
const MAX_HEADER_BYTES = 16 * 1024;

function headerBytes(req: Request): number {
  let total = req.url.length + req.method.length + 12;
  for (const [name, value] of req.headers) total += name.length + value.length + 4;
  return total;
}

export interface ChatServerOptions {
  env: Env;
  instanceId: string;
  stores: Stores;
  log: Logger;
  /** Tests tune the hub's bounds and may wrap what it asks Postgres (e.g. to widen the join seam). */
  hub?: Partial<Pick<HubOptions, "gapWaitMs" | "maxPendingEvents" | "maxJoinerBuffer" | "reconcileMs" | "sweepMs">> & {
    wrapDomain?: (domain: HubDomain) => HubDomain;
  };
  /** The PWA (main.ts loads it; in-process test servers go without). */
  web?: WebApp;
}

/** One instance: HTTP (Hono) and WebSocket (/ws) on one Bun.serve, wired to the stores. Not ready until `ready()`. */
export function startChatServer({ env, instanceId, stores, log, hub: tuning = {}, web }: ChatServerOptions) {
  const state: AppState = { ready: false, draining: false };
  const events = createDomainEvents((err) => log.error("event listener failed", describeError(err)));
  const metrics = createMetrics(instanceId, { dbPool: () => stores.database.poolUsage() });
  stores.onRedisReconnect((connection) => metrics.redisReconnects.inc({ connection }));
  // Every cache read and bus message of this instance is counted on its way through.
  const counted = { ...stores, cache: instrumentCache(stores.cache, metrics), bus: instrumentBus(stores.bus, metrics) };
  const capabilities = createCapabilities({ env, events, metrics, ...counted });
  const { rooms, messages, sessions } = capabilities;
  const app = createApp({ env, instanceId, log, state, events, metrics, capabilities, ...counted });
  const { db } = stores.database;
  const realtimeMetrics = createRealtimeMetrics(metrics);
  const { wrapDomain = (d: HubDomain) => d, ...hubTuning } = tuning;
  const hub = createHub({
    ...hubTuning,
    instanceId,
    bus: counted.bus,
    presence: stores.presence,
    log,
    metrics: realtimeMetrics,
    maxBufferedBytes: env.WS_MAX_BUFFERED_BYTES,
    presenceListMax: env.PRESENCE_LIST_MAX,
    replayMax: env.WS_REPLAY_MAX,
    maxRoomsPerSocket: env.WS_MAX_ROOMS_PER_SOCKET,
    maxRoomsPerUser: env.WS_MAX_ROOMS_PER_USER,
    domain: wrapDomain(createHubDomain(stores.database, messages)),
  });
  events.on(hub.onDomainEvent);
  const userFeed = createUserFeed({ instanceId, bus: stores.bus, log, domain: { roomIdsOf: rooms.roomIdsOf, roomFor: rooms.getMine } });
  events.on(userFeed.onDomainEvent);
  const realtime = createRealtime({
    hub,
    sessions,
    handlers: { ...roomFrameHandlers(rooms), ...messageFrameHandlers(messages, rooms), ...presenceFrameHandlers() },
    state,
    log,
    metrics: realtimeMetrics,
    allowedOrigins: env.ALLOWED_ORIGINS,
    framesPerSecond: env.WS_FRAMES_PER_SECOND * env.RATE_LIMIT_MULTIPLIER,
    maxFrameBytes: env.WS_MAX_FRAME_BYTES,
    perMessageDeflate: env.WS_PER_MESSAGE_DEFLATE,
    maxSocketsPerUser: env.WS_MAX_SOCKETS_PER_USER,
    // Bun drops frames past its own limit without closing: keep it well above the app's 4008 limit.
    backpressureLimit: Math.max(64 * 1024 * 1024, env.WS_MAX_BUFFERED_BYTES * 2),
  });

  // Requests being answered, so a drain can let them finish.
  let inflight = 0;
  let onIdle: (() => void) | undefined;
  const server: Server<SocketData> = Bun.serve<SocketData>({
    port: env.PORT,
    hostname: env.HOST,
    // No limit of Bun's own: past it Bun drops the connection without an answer (a 502 behind
    // Caddy). The app's bodyLimit reads at most MAX_BODY_BYTES of any body and answers 413.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    routes: web?.routes,
    development: web?.routes ? { hmr: true } : false,
    async fetch(req, srv) {
      if (headerBytes(req) > MAX_HEADER_BYTES) {
        return Response.json(errorBody("headers_too_large", `request line and headers over ${MAX_HEADER_BYTES} bytes`), { status: 431 });
      }
      const url = new URL(req.url);
      if (url.pathname === "/ws") return realtime.upgrade(req, url, srv);
      const asset = await web?.assets?.serve(req, url);
      if (asset) return asset;
      inflight += 1;
      try {
        return await app.fetch(req, { ip: srv.requestIP(req)?.address });
      } finally {
        inflight -= 1;
        if (inflight === 0) onIdle?.();
      }
    },
    websocket: {
      ...realtime.websocket,
      // The user feed follows sockets beside the hub, without a hook inside it.
      open(ws) {
        realtime.websocket.open?.(ws);
        userFeed.connected(ws);
      },
      close(ws, code, reason) {
        realtime.websocket.close?.(ws, code, reason);
        userFeed.disconnected(ws);
      },
    },
  });
  hub.attach(server);
  const started = hub.start();
  const opsPublisher = startOpsPublisher({ instanceId, registry: metrics.registry, store: stores.snapshots, log });
  // Best effort: the room list also refreshes on every reconnect; readiness never waits for Redis here.
  void userFeed.start().catch((err) => log.error("user feed subscribe failed", { error: String(err) }));

  const requestsSettled = (timeoutMs: number) =>
    inflight === 0
      ? Promise.resolve()
      : Promise.race([new Promise<void>((resolve) => (onIdle = resolve)), Bun.sleep(timeoutMs)]);

  return {
    server,
    app,
    hub,
    state,
    events,
    async ready() {
      await started;
      state.ready = true;
    },
    /**
     * SIGTERM, in order: /readyz turns 503 while requests are still served, for `announceMs`
     * (default twice Caddy's health-check interval, so Caddy stops sending here); then new
     * requests and upgrades get 503; those in flight finish; sockets close with 1012 so clients
     * resume elsewhere; the listener stops.
     */
    async drain({ announceMs = 2 * env.HEALTH_CHECK_INTERVAL_MS }: { announceMs?: number } = {}) {
      if (state.ready && announceMs > 0) {
        state.leaving = true;
        log.info("draining: /readyz answers 503, still serving", { forMs: announceMs });
        await Bun.sleep(announceMs);
      }
      state.draining = true;
      log.info("draining: refusing new requests, finishing those in flight", { requests: inflight });
      await Promise.all([realtime.settle(5_000), requestsSettled(5_000)]);
      hub.closeAll(1012, "server restarting");
      hub.stop();
      await Promise.all([userFeed.stop(), opsPublisher.stop()]);
      await server.stop(false);
    },
  };
}

export type ChatServer = ReturnType<typeof startChatServer>;

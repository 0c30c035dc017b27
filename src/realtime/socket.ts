import type { Server, WebSocketHandler } from "bun";
import type { AppState } from "../app.ts";
import { SESSION_COOKIE } from "../auth/middleware.ts";
import type { Sessions } from "../auth/session.ts";
import { isDatabaseUnavailable } from "../db/unavailable.ts";
import { AppError, errorBody } from "../http/errors.ts";
import { describeError, type Logger } from "../log.ts";
import { parseClientFrame, type ClientFrame } from "../protocol.ts";
import { chooseProtocol } from "../protocol-v2.ts";

/** The ref of a frame, when it has a readable one. */
function refOf(text: string): string | number | undefined {
  const parsed = parseClientFrame(text);
  return parsed.ok ? parsed.frame.ref : parsed.error.ref;
}
import type { FrameContext, FrameHandlers, Socket, SocketData } from "../socket-context.ts";
import type { Hub } from "./hub.ts";
import type { RealtimeMetrics } from "./metrics.ts";

export interface RealtimeOptions {
  hub: Hub;
  sessions: Sessions;
  handlers: FrameHandlers;
  state: AppState;
  log: Logger;
  metrics: RealtimeMetrics;
  allowedOrigins: string[];
  /** Client frames per second a connection may send (burst: twice that). */
  framesPerSecond: number;
  /** Larger text frames get an `error` frame. */
  maxFrameBytes: number;
  perMessageDeflate: boolean;
  backpressureLimit: number;
  /** Live sockets per user on this instance; past it the upgrade gets 429. */
  maxSocketsPerUser: number;
}

const json = (status: number, code: Parameters<typeof errorBody>[0], message: string) =>
  Response.json(errorBody(code, message), { status });

const SESSION_COOKIE_PATTERN = new RegExp(`(?:^|;\\s*)${SESSION_COOKIE}=([^;]+)`);

function tokenOf(req: Request, url: URL): string | undefined {
  const query = url.searchParams.get("token");
  if (query) return query;
  const cookie = req.headers.get("cookie");
  const match = cookie && SESSION_COOKIE_PATTERN.exec(cookie);
  return match ? decodeURIComponent(match[1]!) : undefined;
}

/** A browser's Origin must be listed in ALLOWED_ORIGINS; with none listed (development), same-origin passes. */
function originAllowed(req: Request, url: URL, allowed: string[]): boolean {
  const origin = req.headers.get("origin");
  if (!origin) return true; // not a browser
  if (allowed.length) return allowed.includes(origin) || allowed.includes("*");
  const host = req.headers.get("x-forwarded-host") ?? req.headers.get("host");
  const proto = req.headers.get("x-forwarded-proto") ?? url.protocol.replace(":", "");
  return origin === `${proto}://${host}`;
}

export function createRealtime(opts: RealtimeOptions) {
  const { hub, sessions, handlers, state, log, metrics } = opts;
  const inflight = new Set<Promise<void>>();
  /** Upgrades accepted whose socket has not opened yet, per user: they count against the cap. */
  const opening = new Map<string, number>();

  function sendError(ws: Socket, code: string, message: string, ref?: string | number) {
    metrics.frameErrors.inc({ code });
    hub.send(ws, hub.encodeFor(ws.data, "error", { code, message }, { ref }));
  }

  /**
   * Token bucket per connection, taken by every frame, bad ones included (each would cost an
   * error frame). A frame over the rate is dropped; the first one dropped gets `rate_limited`,
   * and the next notice waits for the bucket to refill, so a flood cannot queue error frames.
   */
  function admitFrame(ws: Socket, message: string | Buffer): boolean {
    const now = performance.now();
    const { bucket } = ws.data;
    bucket.tokens = Math.min(opts.framesPerSecond * 2, bucket.tokens + ((now - bucket.at) / 1000) * opts.framesPerSecond);
    bucket.at = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      bucket.noticed = false;
      return true;
    }
    metrics.framesDropped.inc();
    if (!bucket.noticed) {
      bucket.noticed = true;
      // Only this one frame of the flood is read, for its ref.
      const ref = typeof message === "string" && message.length <= opts.maxFrameBytes ? refOf(message) : undefined;
      sendError(ws, "rate_limited", "too many frames, slow down", ref);
    }
    return false;
  }

  async function dispatch(ws: Socket, parsed: ClientFrame) {
    const ref = parsed.ref;
    const ctx: FrameContext = {
      ws,
      hub,
      ref,
      reply: (event, data) => void hub.send(ws, hub.encodeFor(ws.data, event, data, { ref })),
    };
    metrics.frames.inc({ event: parsed.event });
    try {
      if (parsed.event === "ping") return ctx.reply("pong", {});
      const handler = handlers[parsed.event] as (c: FrameContext, d: unknown) => Promise<void> | void;
      await handler(ctx, parsed.data);
    } catch (err) {
      if (ws.readyState !== 1) return;
      if (err instanceof AppError) return sendError(ws, err.code, err.message, ref);
      if (isDatabaseUnavailable(err)) return sendError(ws, "unavailable", "the database is not answering: try again shortly", ref);
      log.error("frame handler failed", { event: parsed.event, ...describeError(err) });
      sendError(ws, "internal", "internal error", ref);
    }
  }

  function release(userId: string) {
    const left = (opening.get(userId) ?? 1) - 1;
    if (left > 0) opening.set(userId, left);
    else opening.delete(userId);
  }

  const websocket: WebSocketHandler<SocketData> = {
    // Bun's own limits sit above the app's, so clients get an error frame or 4008, not 1009/1006.
    maxPayloadLength: Math.max(1024 * 1024, opts.maxFrameBytes * 4),
    backpressureLimit: opts.backpressureLimit,
    closeOnBackpressureLimit: false,
    idleTimeout: 120,
    sendPings: true,
    perMessageDeflate: opts.perMessageDeflate,
    open(ws) {
      release(ws.data.user.id);
      hub.connected(ws);
    },
    message(ws, message) {
      if (!admitFrame(ws, message)) return;
      if (typeof message !== "string") return sendError(ws, "invalid_frame", "send text frames");
      // Bytes, not UTF-16 units: a character may take up to 3 bytes (4 for a pair, which is 2 units).
      if (message.length * 3 > opts.maxFrameBytes && Buffer.byteLength(message, "utf8") > opts.maxFrameBytes) {
        return sendError(ws, "too_large", `frame over ${opts.maxFrameBytes} bytes`);
      }
      const parsed = parseClientFrame(message);
      if (!parsed.ok) return sendError(ws, parsed.error.code, parsed.error.message, parsed.error.ref);
      const work = dispatch(ws, parsed.frame);
      inflight.add(work);
      void work.finally(() => inflight.delete(work));
    },
    close(ws) {
      hub.disconnected(ws);
    },
  };

  return {
    websocket,

    /** Waits (up to `timeoutMs`) for the frames being handled, so nothing acknowledged is cut off. */
    async settle(timeoutMs: number) {
      const deadline = Bun.sleep(timeoutMs);
      while (inflight.size > 0) {
        const done = await Promise.race([Promise.allSettled([...inflight]).then(() => false), deadline.then(() => true)]);
        if (done) break;
      }
    },

    /** Called by Bun.serve's fetch for /ws, before Hono. Returns a response when the upgrade is refused. */
    async upgrade(req: Request, url: URL, server: Server<SocketData>): Promise<Response | undefined> {
      if (state.draining || !state.ready) return json(503, "unavailable", "server is not accepting connections");
      if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
        return json(400, "invalid_request", "expected a WebSocket upgrade");
      }
      if (!originAllowed(req, url, opts.allowedOrigins)) return json(403, "forbidden", "origin not allowed");
      const token = tokenOf(req, url);
      let auth = null;
      try {
        auth = token ? await sessions.resolve(token) : null;
      } catch (err) {
        // A database that does not answer is not a bad token: the client retries, keeping it.
        if (isDatabaseUnavailable(err)) return json(503, "unavailable", "the database is not answering: try again shortly");
      }
      if (!auth) return json(401, "unauthorized", "missing or invalid token");
      // No await from here to the upgrade: the count cannot change in between.
      const userId = auth.user.id;
      if (hub.socketsOf(userId) + (opening.get(userId) ?? 0) >= opts.maxSocketsPerUser) {
        return json(429, "too_many_sockets", `at most ${opts.maxSocketsPerUser} open sockets per user`);
      }
      // v2 when listed, else v1. With only unknown names Bun echoes the first one (browsers fail a
      // handshake whose answer names none); the frames are v1 then.
      const chosen = chooseProtocol(req.headers.get("sec-websocket-protocol"));
      const data: SocketData = {
        user: auth.user,
        sessionId: auth.sessionId,
        roomKeys: new Map(),
        pendingJoins: new Map(),
        typingAt: new Map(),
        protocol: chosen.version,
        aliases: new Map(),
        bucket: { tokens: opts.framesPerSecond * 2, at: performance.now(), noticed: false },
      };
      opening.set(userId, (opening.get(userId) ?? 0) + 1);
      const headers = chosen.answer ? { "Sec-WebSocket-Protocol": chosen.answer } : undefined;
      if (server.upgrade(req, { data, headers })) return undefined;
      release(userId);
      return json(400, "invalid_request", "WebSocket upgrade failed");
    },
  };
}

export type Realtime = ReturnType<typeof createRealtime>;

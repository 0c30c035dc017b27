import type { Server, WebSocketHandler } from "bun";
import type { AppState } from "../app.ts";
import { SESSION_COOKIE } from "../auth/middleware.ts";
import type { Sessions } from "../auth/session.ts";
import { AppError, errorBody } from "../http/errors.ts";
import type { Logger } from "../log.ts";
import { encodeFrame, parseClientFrame, type ClientFrame } from "../protocol.ts";
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

  function sendError(ws: Socket, code: string, message: string, ref?: string | number) {
    metrics.frameErrors.inc({ code });
    ws.send(encodeFrame("error", { code, message }, { ref }));
  }

  /** Token bucket per connection; a frame over the rate gets an error frame and is dropped. */
  function allowFrame(data: SocketData): boolean {
    const now = performance.now();
    const { bucket } = data;
    bucket.tokens = Math.min(opts.framesPerSecond * 2, bucket.tokens + ((now - bucket.at) / 1000) * opts.framesPerSecond);
    bucket.at = now;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  async function dispatch(ws: Socket, parsed: ClientFrame) {
    const ref = parsed.ref;
    const ctx: FrameContext = {
      ws,
      hub,
      ref,
      reply: (event, data) => ws.send(encodeFrame(event, data, { ref })),
    };
    metrics.frames.inc({ event: parsed.event });
    try {
      if (parsed.event === "ping") return ctx.reply("pong", {});
      const handler = handlers[parsed.event] as (c: FrameContext, d: unknown) => Promise<void> | void;
      await handler(ctx, parsed.data);
    } catch (err) {
      if (ws.readyState !== 1) return;
      if (err instanceof AppError) return sendError(ws, err.code, err.message, ref);
      log.error("frame handler failed", { event: parsed.event, error: String(err), stack: (err as Error)?.stack });
      sendError(ws, "internal", "internal error", ref);
    }
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
      hub.connected(ws);
    },
    message(ws, message) {
      if (typeof message !== "string") return sendError(ws, "invalid_frame", "send text frames");
      if (message.length > opts.maxFrameBytes) {
        return sendError(ws, "too_large", `frame over ${opts.maxFrameBytes} bytes`);
      }
      const parsed = parseClientFrame(message);
      if (!parsed.ok) return sendError(ws, parsed.error.code, parsed.error.message, parsed.error.ref);
      if (!allowFrame(ws.data)) return sendError(ws, "rate_limited", "too many frames, slow down", parsed.frame.ref);
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
      const auth = token ? await sessions.resolve(token).catch(() => null) : null;
      if (!auth) return json(401, "unauthorized", "missing or invalid token");
      const data: SocketData = {
        user: auth.user,
        sessionId: auth.sessionId,
        roomKeys: new Map(),
        pendingJoins: new Map(),
        typingAt: new Map(),
        bucket: { tokens: opts.framesPerSecond * 2, at: performance.now() },
      };
      if (server.upgrade(req, { data })) return undefined;
      return json(400, "invalid_request", "WebSocket upgrade failed");
    },
  };
}

export type Realtime = ReturnType<typeof createRealtime>;

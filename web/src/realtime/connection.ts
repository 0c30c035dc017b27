// The socket and its recovery, apart from state and rendering: connect, back off
// with jitter, resume every open room from its last seq, fill holes over HTTP,
// and report the connection state. Frames go to `dispatch` as reducer events.
// The socket asks for the lean `chat.v2` encoding and decodes it into the same
// v1-shaped frames the reducer takes; a server that answers otherwise is read as v1.
import type { Message } from "../../../src/protocol.ts";
import { createV2Decoder, PROTOCOL_V2 } from "../../../src/protocol-v2.ts";
import type { ChatEvent, ConnectionState, ServerFrameIn } from "../apply-event.ts";
import { backoffDelay, hasGap, leavesGap, resumeFrames, type ResumePoint } from "./resume.ts";

export interface ConnectionOptions {
  url: () => string;
  /** Defaults to `new WebSocket(url, ["chat.v2"])`. */
  createSocket?: (url: string) => WebSocket;
  resumePoint(roomId: string): ResumePoint | undefined;
  /** One page of `GET /api/rooms/:room/messages?after=`. */
  fetchAfter(roomId: string, after: number): Promise<{ data: Message[]; nextCursor: number | null }>;
  dispatch(event: ChatEvent): void;
  /** The room's resume replay has been sent (its outbox may go now). */
  onJoined?(roomId: string): void;
  /** Closed with 4001: the session was revoked. */
  onSignedOut?(): void;
  /**
   * A frame the server sent that does not decode (bad JSON, a shape its schema refuses, an
   * unknown room alias): it is dropped and reported here (default: console.error). A dropped
   * room event leaves a hole that the next one reveals and HTTP fills.
   */
  onBadFrame?(error: Error, text: string): void;
  random?: () => number;
  pingEveryMs?: number;
  /** No frame for this long: the socket is dead even if the browser has not noticed. */
  silenceMs?: number;
}

export class FrameError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
export class Disconnected extends Error {}

const ROOM_EVENTS = new Set(["new_message", "message_updated", "message_deleted"]);

export function createConnection(opts: ConnectionOptions) {
  const random = opts.random ?? Math.random;
  const openRooms = new Set<string>();
  const filling = new Set<string>();
  const waiting = new Map<string, { resolve(data: unknown): void; reject(err: Error): void }>();
  let socket: WebSocket | undefined;
  /** This socket's v2 decoder (it learns the room aliases), or none when the server answered v1. */
  let decoder: ReturnType<typeof createV2Decoder> | undefined;
  let attempt = 0;
  let stopped = true;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let pingTimer: ReturnType<typeof setInterval> | undefined;
  let lastFrameAt = 0;
  let nextRef = 1;
  let state: ConnectionState = "connecting";

  const setState = (next: ConnectionState) => {
    if (state === next) return;
    state = next;
    opts.dispatch({ type: "connection", state });
  };

  function connect() {
    if (stopped || socket) return;
    clearTimeout(retryTimer);
    const ws = (opts.createSocket ?? ((u) => new WebSocket(u, [PROTOCOL_V2])))(opts.url());
    socket = ws;
    decoder = undefined;
    ws.onopen = () => {
      decoder = ws.protocol === PROTOCOL_V2 ? createV2Decoder() : undefined;
      attempt = 0;
      lastFrameAt = Date.now();
      setState("connected");
      for (const join of resumeFrames(openRooms, opts.resumePoint)) send("join_room", join);
    };
    ws.onmessage = (e) => onFrame(ws, typeof e.data === "string" ? e.data : "");
    ws.onclose = (e) => onClose(ws, e.code);
    ws.onerror = () => ws.close();
  }

  function onClose(ws: WebSocket, code: number) {
    if (socket !== ws) return;
    socket = undefined;
    for (const [, w] of waiting) w.reject(new Disconnected("connection lost"));
    waiting.clear();
    if (code === 4001) {
      stopped = true;
      setState("offline");
      opts.onSignedOut?.();
      return;
    }
    if (stopped) return;
    attempt++;
    const offline = typeof navigator !== "undefined" && navigator.onLine === false;
    setState(offline || attempt > 2 ? "offline" : "reconnecting");
    retryTimer = setTimeout(connect, backoffDelay(attempt - 1, random));
  }

  function onFrame(ws: WebSocket, text: string) {
    if (socket !== ws) return;
    lastFrameAt = Date.now();
    let frame: ServerFrameIn & { ref?: string | number; seq?: number };
    try {
      frame = decoder ? (decoder.decode(text) as typeof frame) : JSON.parse(text);
      if (!frame || typeof frame.event !== "string" || typeof frame.data !== "object" || frame.data === null) throw new Error("not a frame");
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      if (opts.onBadFrame) opts.onBadFrame(error, text);
      else console.error(`chat: dropped a bad frame from the server (${error.message}): ${text.slice(0, 200)}`);
      return;
    }
    const ref = frame.ref === undefined ? undefined : String(frame.ref);
    if (ref && waiting.has(ref)) {
      const w = waiting.get(ref)!;
      waiting.delete(ref);
      if ((frame.event as string) === "error") {
        const data = frame.data as unknown as { code: string; message: string };
        w.reject(new FrameError(data.code, data.message));
      } else w.resolve(frame.data);
    }
    if ((frame.event as string) === "pong" || (frame.event as string) === "error") return;
    if (ROOM_EVENTS.has(frame.event)) {
      const roomId = (frame.data as Message).roomId;
      const gap = leavesGap(opts.resumePoint(roomId), frame.seq);
      opts.dispatch({ type: "frame", frame, now: Date.now() });
      if (gap) void fill(roomId);
      return;
    }
    opts.dispatch({ type: "frame", frame, now: Date.now() });
    if (frame.event === "joined") {
      const { roomId, truncated } = frame.data;
      if (truncated) void fill(roomId);
      opts.onJoined?.(roomId);
    }
  }

  /** Pages `after=` from the resume point until the hole is closed; one fill per room at a time. */
  async function fill(roomId: string) {
    if (filling.has(roomId)) return;
    filling.add(roomId);
    try {
      for (let round = 0; round < 5; round++) {
        let after = opts.resumePoint(roomId)?.lastSeq ?? 0;
        const start = after;
        for (;;) {
          const page = await opts.fetchAfter(roomId, after);
          const complete = page.nextCursor === null;
          opts.dispatch({ type: "page_after", roomId, after: start, messages: page.data, complete });
          if (complete) break;
          after = page.nextCursor!;
        }
        if (!hasGap(opts.resumePoint(roomId))) break;
      }
    } catch {
      // Offline or failing: the next reconnect resumes with afterSeq and tries again.
    } finally {
      filling.delete(roomId);
    }
  }

  function send(event: string, data: unknown, ref?: string): boolean {
    if (!socket || socket.readyState !== 1) return false;
    socket.send(JSON.stringify(ref === undefined ? { event, data } : { event, data, ref }));
    return true;
  }

  return {
    get state() {
      return state;
    },
    /** The encoding the open socket negotiated (undefined while not connected). */
    get protocol(): "chat.v1" | "chat.v2" | undefined {
      if (!socket || socket.readyState !== 1) return undefined;
      return decoder ? PROTOCOL_V2 : "chat.v1";
    },
    start() {
      if (!stopped) return;
      stopped = false;
      setState("connecting");
      connect();
      pingTimer = setInterval(() => {
        if (!socket || socket.readyState !== 1) return;
        if (Date.now() - lastFrameAt > (opts.silenceMs ?? 45_000)) return socket.close();
        send("ping", {});
      }, opts.pingEveryMs ?? 20_000);
    },
    stop() {
      stopped = true;
      clearTimeout(retryTimer);
      clearInterval(pingTimer);
      const ws = socket;
      socket = undefined;
      ws?.close(1000, "bye");
      for (const [, w] of waiting) w.reject(new Disconnected("stopped"));
      waiting.clear();
    },
    /** Try now instead of waiting out the backoff (the browser came back online, the tab was shown). */
    retryNow() {
      if (stopped || socket) return;
      clearTimeout(retryTimer);
      connect();
    },
    /** Receive this room's events from now on, resuming after the last applied value. */
    openRoom(roomId: string) {
      if (openRooms.has(roomId)) return;
      openRooms.add(roomId);
      const [join] = resumeFrames([roomId], opts.resumePoint);
      send("join_room", join);
    },
    closeRoom(roomId: string) {
      if (!openRooms.delete(roomId)) return;
      send("leave_room", { roomId });
    },
    isOpen: (roomId: string) => openRooms.has(roomId),
    /** Sends a frame and waits for the frame that answers it (rejects with FrameError or Disconnected). */
    request<T = unknown>(event: string, data: unknown): Promise<T> {
      const ref = `r${nextRef++}`;
      if (!send(event, data, ref)) return Promise.reject(new Disconnected("not connected"));
      return new Promise<T>((resolve, reject) => waiting.set(ref, { resolve: resolve as (d: unknown) => void, reject }));
    },
    /** Fire and forget (typing, read): dropped when not connected. */
    notify: (event: string, data: unknown) => send(event, data),
    fill,
  };
}

export type Connection = ReturnType<typeof createConnection>;

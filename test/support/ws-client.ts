// A protocol-speaking WebSocket client for tests: answers by ref, keeps every
// frame, tracks each room's last counter value and can resume after a drop.
import type { ServerFrame } from "../../src/protocol.ts";
import { createV2Decoder, PROTOCOL_V2 } from "../../src/protocol-v2.ts";

export interface Frame {
  event: string;
  data: any;
  ref?: string | number;
  seq?: number;
  /** v1 only: v2 frames carry no server clock. */
  timestamp?: number;
}

export class ChatClient {
  ws!: WebSocket;
  frames: Frame[] = [];
  closed?: { code: number; reason: string };
  /** Last counter value seen per room id (from joined, replay and live events). */
  lastSeq = new Map<string, number>();
  /** Room events per room id in arrival order: [seq, message id, event]. */
  roomEvents = new Map<string, { seq: number; id: string; event: string }[]>();
  /** Who is online per room id, as the presence frames say (first list, then diffs applied). */
  presence = new Map<string, { users: Map<string, string>; total: number }>();
  /** Bytes received per event name (the frames' text length). */
  bytes = new Map<string, number>();
  /** The subprotocol the server answered with ("" for none). */
  protocol = "";
  /** Every frame's text as received, before decoding. */
  raw: string[] = [];
  private nextRef = 1;
  private protocols?: string[];
  private waiters = new Set<() => void>();

  /** Sent but not acknowledged, by clientMsgId: re-sent after a reconnect (sends are idempotent). */
  unacked = new Map<string, { roomId: string; content: string }>();
  reconnects = 0;
  closeCodes: number[] = [];
  private resumeUrls?: string[];
  private stopping = false;

  constructor(
    public baseUrl: string,
    readonly token: string,
  ) {}

  /** After any drop, reconnect (to the next URL), rejoin from the last values seen and re-send what was not acked. */
  autoResume(urls: string[]) {
    this.resumeUrls = urls;
  }

  sendReliably(roomId: string, content: string, clientMsgId: string) {
    this.unacked.set(clientMsgId, { roomId, content });
    if (this.ws.readyState === 1) this.send("send_message", { roomId, content, clientMsgId, timestamp: Date.now() });
  }

  private reconnecting = false;

  private async reconnectLoop() {
    // One loop at a time: a socket that closes while its loop is still joining must not start another,
    // or two sockets end up open and every event arrives twice.
    if (this.reconnecting) return;
    this.reconnecting = true;
    try {
      await this.reconnectAttempts();
    } finally {
      this.reconnecting = false;
    }
  }

  private async reconnectAttempts() {
    const urls = this.resumeUrls!;
    for (let attempt = 0; attempt < 100 && !this.stopping; attempt++) {
      this.baseUrl = urls[(urls.indexOf(this.baseUrl) + 1) % urls.length]!;
      try {
        await Bun.sleep(Math.min(50 * 2 ** Math.min(attempt, 4), 1000));
        await this.resume();
        this.reconnects += 1;
        for (const [clientMsgId, { roomId, content }] of this.unacked) {
          this.send("send_message", { roomId, content, clientMsgId, timestamp: Date.now() });
        }
        return;
      } catch {
        // try the next address
      }
    }
  }

  /** `protocols` go in Sec-WebSocket-Protocol; frames are decoded by the version the server answered. */
  static async connect(baseUrl: string, token: string, headers?: Record<string, string>, protocols?: string[]) {
    const client = new ChatClient(baseUrl, token);
    client.protocols = protocols;
    await client.open(headers);
    return client;
  }

  async open(headers?: Record<string, string>) {
    this.closed = undefined;
    const url = `${this.baseUrl.replace(/^http/, "ws")}/ws?token=${encodeURIComponent(this.token)}`;
    const ws = new WebSocket(url, (headers || this.protocols ? { headers, protocols: this.protocols } : undefined) as any);
    // A socket from an attempt that failed half-way must not go on receiving beside the new one.
    if (this.ws && this.ws.readyState <= 1) this.ws.close(1000);
    this.ws = ws;
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error("websocket error"));
      ws.onclose = (e) => reject(new Error(`closed before open: ${e.code}`));
    });
    this.protocol = ws.protocol;
    // Aliases are per connection: a reconnect starts a fresh decoder.
    const v2 = ws.protocol === PROTOCOL_V2 ? createV2Decoder() : undefined;
    ws.onmessage = (e) => {
      if (this.ws !== ws) return;
      const text = String(e.data);
      this.raw.push(text);
      const frame = (v2 ? v2.decode(text) : JSON.parse(text)) as Frame;
      this.bytes.set(frame.event, (this.bytes.get(frame.event) ?? 0) + Buffer.byteLength(text));
      this.receive(frame);
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.closed = { code: e.code, reason: e.reason };
      this.closeCodes.push(e.code);
      this.wake();
      if (this.resumeUrls && !this.stopping) void this.reconnectLoop();
    };
  }

  /** Counter values seen per room above the contiguous one (events and own acks can interleave). */
  private seen = new Map<string, Set<number>>();
  private joinAfter = new Map<string | number, number | undefined>();

  private receive(frame: Frame) {
    this.frames.push(frame);
    if (frame.event === "joined") {
      const after = frame.ref === undefined ? undefined : this.joinAfter.get(frame.ref);
      // A truncated replay starts at fromSeq: the older ones are paged over HTTP (not by this client).
      const start = frame.data.truncated ? frame.data.fromSeq - 1 : after;
      this.lastSeq.set(frame.data.roomId, start ?? frame.data.lastSeq);
      this.seen.set(frame.data.roomId, new Set());
    }
    if (frame.event === "new_message" || frame.event === "message_updated" || frame.event === "message_deleted") {
      const roomId = frame.data.roomId as string;
      let list = this.roomEvents.get(roomId);
      if (!list) this.roomEvents.set(roomId, (list = []));
      list.push({ seq: frame.seq!, id: frame.data.id, event: frame.event });
      this.bump(roomId, frame.seq!, true);
    }
    if (frame.event === "presence") {
      const users = new Map<string, string>(frame.data.users.map((u: { id: string; username: string }) => [u.id, u.username]));
      this.presence.set(frame.data.roomId, { users, total: frame.data.total });
    }
    if (frame.event === "presence_diff") {
      const state = this.presence.get(frame.data.roomId);
      if (state) {
        for (const id of frame.data.left) state.users.delete(id);
        for (const u of frame.data.joined) state.users.set(u.id, u.username);
        state.total = frame.data.total;
      }
    }
    if (frame.event === "message_ack") {
      this.unacked.delete(frame.data.clientMsgId);
      this.bump(frame.data.roomId, frame.data.seq, true);
    }
    this.wake();
  }

  /** Advances the room's contiguous value: resuming from it can neither skip nor repeat. */
  private bump(roomId: string, seq: number, _event: boolean) {
    let seen = this.seen.get(roomId);
    if (!seen) this.seen.set(roomId, (seen = new Set()));
    seen.add(seq);
    let last = this.lastSeq.get(roomId) ?? 0;
    while (seen.has(last + 1)) seen.delete(++last);
    for (const s of seen) if (s <= last) seen.delete(s);
    this.lastSeq.set(roomId, last);
  }

  private wake() {
    for (const w of [...this.waiters]) w();
  }

  send(event: string, data: unknown, ref: string | number = this.nextRef++) {
    this.ws.send(JSON.stringify({ event, data, ref }));
    return ref;
  }

  sendRaw(text: string | Uint8Array) {
    this.ws.send(text);
  }

  /** Sends a frame and resolves with the frame that answers it (same ref). */
  async request(event: string, data: unknown, timeoutMs = 5_000): Promise<Frame> {
    const ref = this.send(event, data);
    return this.waitFor((f) => f.ref === ref, timeoutMs);
  }

  async waitFor(predicate: (f: Frame) => boolean, timeoutMs = 5_000, from = 0): Promise<Frame> {
    return this.until(() => this.frames.slice(from).find(predicate), timeoutMs);
  }

  async until<T>(check: () => T | undefined | false, timeoutMs = 5_000): Promise<T> {
    const found = check();
    if (found) return found;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`timed out after ${timeoutMs} ms; last frames: ${JSON.stringify(this.frames.slice(-5))}`));
      }, timeoutMs);
      const waiter = () => {
        const value = check();
        if (value) {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          resolve(value);
        }
      };
      this.waiters.add(waiter);
    });
  }

  async join(roomId: string, afterSeq?: number) {
    const ref = this.nextRef++;
    this.joinAfter.set(ref, afterSeq);
    this.send("join_room", afterSeq === undefined ? { roomId } : { roomId, afterSeq }, ref);
    const answer = await this.waitFor((f) => f.ref === ref);
    if (answer.event !== "joined") throw new Error(`join failed: ${JSON.stringify(answer.data)}`);
    return answer;
  }

  /** Reconnects and rejoins every room it knew, from the last value it saw. */
  async resume(roomIds = [...this.lastSeq.keys()]) {
    await this.open();
    for (const roomId of roomIds) await this.join(roomId, this.lastSeq.get(roomId) ?? 0);
  }

  /** The room's online user ids as this client knows them, sorted. */
  onlineIds(roomId: string) {
    return [...(this.presence.get(roomId)?.users.keys() ?? [])].sort();
  }

  /** Ids of new_message events received for a room, in order. */
  messageSeqs(roomId: string) {
    return (this.roomEvents.get(roomId) ?? []).filter((e) => e.event === "new_message").map((e) => e.seq);
  }

  close() {
    this.stopping = true;
    if (this.ws.readyState <= 1) this.ws.close(1000);
  }
}

export type { ServerFrame };

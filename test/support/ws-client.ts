// A protocol-speaking WebSocket client for tests: answers by ref, keeps every
// frame, tracks each room's last counter value and can resume after a drop.
import type { ServerFrame } from "../../src/protocol.ts";

export interface Frame {
  event: string;
  data: any;
  ref?: string | number;
  seq?: number;
  timestamp: number;
}

export class ChatClient {
  ws!: WebSocket;
  frames: Frame[] = [];
  closed?: { code: number; reason: string };
  /** Last counter value seen per room id (from joined, replay and live events). */
  lastSeq = new Map<string, number>();
  /** Room events per room id in arrival order: [seq, message id, event]. */
  roomEvents = new Map<string, { seq: number; id: string; event: string }[]>();
  private nextRef = 1;
  private waiters = new Set<() => void>();

  constructor(
    readonly baseUrl: string,
    readonly token: string,
  ) {}

  static async connect(baseUrl: string, token: string, headers?: Record<string, string>) {
    const client = new ChatClient(baseUrl, token);
    await client.open(headers);
    return client;
  }

  async open(headers?: Record<string, string>) {
    this.closed = undefined;
    const url = `${this.baseUrl.replace(/^http/, "ws")}/ws?token=${encodeURIComponent(this.token)}`;
    const ws = new WebSocket(url, headers ? ({ headers } as any) : undefined);
    this.ws = ws;
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error("websocket error"));
      ws.onclose = (e) => reject(new Error(`closed before open: ${e.code}`));
    });
    ws.onmessage = (e) => this.receive(JSON.parse(String(e.data)) as Frame);
    ws.onclose = (e) => {
      this.closed = { code: e.code, reason: e.reason };
      this.wake();
    };
  }

  private receive(frame: Frame) {
    this.frames.push(frame);
    if (frame.event === "joined") this.bump(frame.data.roomId, frame.data.lastSeq, false);
    if (frame.event === "new_message" || frame.event === "message_updated" || frame.event === "message_deleted") {
      const roomId = frame.data.roomId as string;
      let list = this.roomEvents.get(roomId);
      if (!list) this.roomEvents.set(roomId, (list = []));
      list.push({ seq: frame.seq!, id: frame.data.id, event: frame.event });
      this.bump(roomId, frame.seq!, true);
    }
    if (frame.event === "message_ack") this.bump(frame.data.roomId, frame.data.seq, true);
    this.wake();
  }

  private bump(roomId: string, seq: number, onlyUp: boolean) {
    const prev = this.lastSeq.get(roomId) ?? 0;
    if (!onlyUp || seq > prev) this.lastSeq.set(roomId, onlyUp ? Math.max(prev, seq) : Math.max(prev, seq));
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
    const answer = await this.request("join_room", afterSeq === undefined ? { roomId } : { roomId, afterSeq });
    if (answer.event !== "joined") throw new Error(`join failed: ${JSON.stringify(answer.data)}`);
    return answer;
  }

  /** Reconnects and rejoins every room it knew, from the last value it saw. */
  async resume(roomIds = [...this.lastSeq.keys()]) {
    await this.open();
    for (const roomId of roomIds) await this.join(roomId, this.lastSeq.get(roomId) ?? 0);
  }

  /** Ids of new_message events received for a room, in order. */
  messageSeqs(roomId: string) {
    return (this.roomEvents.get(roomId) ?? []).filter((e) => e.event === "new_message").map((e) => e.seq);
  }

  close() {
    if (this.ws.readyState <= 1) this.ws.close(1000);
  }
}

export type { ServerFrame };

// Types of wire.js for the Bun scripts that share it with k6 (scripts/bench-delivery.ts).
export type WireEvent =
  | { type: "ready" }
  | { type: "joined"; ref: number | string | undefined; roomId: string; lastSeq: number }
  // roomId is left out where a frame is read by lookup (the fast path for deliveries).
  | { type: "message"; roomId?: string; seq: number; sentAt: number | null }
  | { type: "ack"; ref: number | string | undefined; clientMsgId: string; seq: number }
  | { type: "error"; ref: number | string | undefined; code: string; message: string };

interface Sender {
  send(data: string): void;
}

export interface Wire {
  name: string;
  /** Subprotocols to ask for (Sec-WebSocket-Protocol), if any. */
  protocols?: string[];
  onOpen(): WireEvent[];
  join(ws: Sender, roomId: string, ref: number): void;
  send(ws: Sender, data: { roomId: string; content: string; clientMsgId: string; timestamp: number }, ref: number): void;
  parse(text: string, ws: Sender): WireEvent[];
}

export function numberAt(text: string, i: number): number | null;
export function wireFor(target: "bun" | "peer", token: string, protocol?: "v1" | "v2"): Wire;
export function wsUrl(target: "bun" | "peer", base: string, token: string): string;

import type { Socket } from "../socket-context.ts";
import type { RealtimeMetrics } from "./metrics.ts";
import type { SharedFrame } from "./wire.ts";

export interface SlowConsumerOptions {
  metrics: RealtimeMetrics;
  /** Past this many buffered bytes a socket is closed with 4008. */
  maxBufferedBytes: number;
  /** Ephemeral frames (typing) are skipped for a socket with more than this buffered. */
  ephemeralBufferLimit: number;
}

/**
 * A socket that does not read must not hold memory or stall its rooms: its
 * ephemeral frames are dropped first, and past the limit it is closed with 4008
 * so the client reconnects and resumes with afterSeq.
 */
export function createSlowConsumers({ metrics, maxBufferedBytes, ephemeralBufferLimit }: SlowConsumerOptions) {
  function closeSlow(ws: Socket) {
    metrics.slowClosed.inc();
    ws.close(4008, "too slow: resume with afterSeq");
  }

  /** True while the socket is within its limit (else it has just been closed). */
  function withinLimit(ws: Socket) {
    if (ws.readyState !== 1) return false;
    if (ws.getBufferedAmount() <= maxBufferedBytes) return true;
    closeSlow(ws);
    return false;
  }

  return {
    closeSlow,
    withinLimit,

    /** Sends one frame to one socket, checking its buffered bytes on every send. */
    send(ws: Socket, text: string) {
      if (ws.readyState !== 1) return false;
      ws.send(text);
      return withinLimit(ws);
    },

    sendEphemeral(sockets: Iterable<Socket>, frame: SharedFrame, except?: Socket) {
      for (const ws of sockets) {
        if (ws === except) continue;
        if (ws.getBufferedAmount() > ephemeralBufferLimit) {
          metrics.ephemeralDropped.inc();
          continue;
        }
        ws.send(frame.text(ws.data.protocol));
      }
    },

    /** Topic publishes do not pass through `send`: this catches the sockets they filled. */
    sweep(sockets: Iterable<Socket>) {
      for (const ws of sockets) withinLimit(ws);
    },
  };
}

export type SlowConsumers = ReturnType<typeof createSlowConsumers>;

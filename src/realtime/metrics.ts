import { Counter, Gauge } from "prom-client";
import type { Metrics } from "../metrics/registry.ts";

export function createRealtimeMetrics({ registry }: Metrics) {
  const registers = [registry];
  return {
    connections: new Gauge({ name: "ws_connections", help: "Open WebSocket connections", registers }),
    frames: new Counter({ name: "ws_frames_received_total", help: "Client frames by event", labelNames: ["event"] as const, registers }),
    framesDropped: new Counter({ name: "ws_frames_dropped_total", help: "Client frames over the per-socket rate, dropped", registers }),
    frameErrors: new Counter({ name: "ws_frame_errors_total", help: "Error frames sent, by code", labelNames: ["code"] as const, registers }),
    released: new Counter({ name: "room_events_released_total", help: "Room events released in order by this instance", registers }),
    deliveries: new Counter({ name: "room_event_deliveries_total", help: "Room event frames sent to local sockets", registers }),
    reconciled: new Counter({ name: "room_reconciles_total", help: "Rooms found behind Postgres by the periodic check", registers }),
    gapsDetected: new Counter({ name: "room_gaps_detected_total", help: "Room events held because an earlier value had not arrived", registers }),
    gapFills: new Counter({ name: "room_gap_fills_total", help: "Reads from Postgres to fill a hole in a room's events", registers }),
    roomsOpen: new Gauge({ name: "rooms_open", help: "Rooms with local sockets (or joins) on this instance", registers }),
    ephemeralDropped: new Counter({ name: "ws_ephemeral_dropped_total", help: "Typing frames skipped for slow sockets", registers }),
    presenceDiffs: new Counter({ name: "presence_diffs_total", help: "presence_diff frames published to a room's local sockets", registers }),
    joinerOverflows: new Counter({ name: "ws_joiner_overflows_total", help: "Joins whose held live events passed their bound (read from Postgres instead)", registers }),
    slowClosed: new Counter({ name: "ws_slow_consumer_closed_total", help: "Sockets closed with 4008", registers }),
  };
}

export type RealtimeMetrics = ReturnType<typeof createRealtimeMetrics>;

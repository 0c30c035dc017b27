import type { Context } from "hono";
import { Gauge } from "prom-client";
import type { Database } from "../db/client.ts";
import type { Metrics } from "../metrics/registry.ts";
import type { RedisStates } from "../redis/connections.ts";

/** /readyz must answer within a second (Caddy's health_timeout): the ping gives up a little before. */
export const READINESS_PING_TIMEOUT_MS = 900;

export interface ReadinessState {
  /** Migrations applied. */
  ready: boolean;
  /** SIGTERM received: tell the load balancer to stop sending here. */
  leaving?: boolean;
  draining: boolean;
}

export interface ReadinessDeps {
  instanceId: string;
  database: Database;
  /** Undefined when the stores are in-process. */
  redisStates?: () => RedisStates;
  state: ReadinessState;
  metrics: Metrics;
}

/**
 * GET /readyz: 200 once migrations are applied and while Postgres answers within a second; 503
 * before that, when it does not, and while draining. Redis is reported, never a reason for 503:
 * without it the instance serves degraded (limits in-process, caches bypassed, events delivered by
 * the reconcile tick), and a load balancer must keep routing to it.
 */
export function createReadiness({ instanceId, database, redisStates, state, metrics }: ReadinessDeps) {
  const redis = () => redisStates?.() ?? "in-process";
  new Gauge({
    name: "redis_connection_up",
    help: "1 while the Redis connection answers within REDIS_COMMAND_TIMEOUT_MS (commands, subscriber)",
    labelNames: ["connection"] as const,
    registers: [metrics.registry],
    collect() {
      const states = redisStates?.();
      if (!states) return;
      this.set({ connection: "commands" }, states.commands === "up" ? 1 : 0);
      this.set({ connection: "subscriber" }, states.subscriber === "up" ? 1 : 0);
    },
  });

  return async (c: Context) => {
    if (!state.ready || state.leaving || state.draining) {
      const status = state.ready ? "draining" : "starting";
      return c.json({ status, instance: instanceId, redis: redis() }, 503);
    }
    const postgres = await database.ping(READINESS_PING_TIMEOUT_MS).then(
      () => "up" as const,
      () => "down" as const,
    );
    const ok = postgres === "up";
    return c.json({ status: ok ? "ready" : "unavailable", instance: instanceId, postgres, redis: redis() }, ok ? 200 : 503);
  };
}

import { createRoute, z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { requireAuth } from "../auth/middleware.ts";
import type { Sessions } from "../auth/session.ts";
import type { AppEnv } from "../http/context.ts";
import { notFound } from "../http/errors.ts";
import { ErrorResponse, jsonResponse } from "../http/openapi.ts";
import { createRouter } from "../http/router.ts";
import { HISTORY_SAMPLES, SAMPLE_INTERVAL_MS } from "./publisher.ts";
import type { SnapshotStore } from "./snapshot-store.ts";

const Sample = z
  .object({
    t: z.number().int().openapi({ description: "epoch ms when taken" }),
    connections: z.number().int(),
    messagesPerSecond: z.number(),
    deliveryP95Ms: z.number().nullable().openapi({ description: "server-side delivery p95 over the interval; null when nothing was sent" }),
    cacheHitRatio: z.number().nullable().openapi({ description: "shared-cache hits / reads over the interval; null when nothing was read" }),
    eventLoopLagMs: z.number().nullable(),
    openRooms: z.number().int(),
  })
  .openapi("OpsSample");

const Instances = z.object({
  intervalMs: z.number().int(),
  instances: z.array(
    z.object({
      instanceId: z.string(),
      current: Sample,
      history: z.array(Sample).openapi({ description: `up to ${HISTORY_SAMPLES} samples, oldest first` }),
    }),
  ),
});

/** Operators only; anyone else is told there is nothing here, so the page's existence is not revealed. */
function requireOperator(operatorEmails: readonly string[]): MiddlewareHandler<AppEnv> {
  const operators = new Set(operatorEmails.map((e) => e.toLowerCase()));
  return async (c, next) => {
    if (!operators.has(c.get("auth").user.email.toLowerCase())) throw notFound("page");
    await next();
  };
}

export function opsRoutes({ sessions, snapshots, operatorEmails }: { sessions: Sessions; snapshots: SnapshotStore; operatorEmails: readonly string[] }) {
  const instances = createRoute({
    method: "get",
    path: "/ops/instances",
    middleware: [requireAuth(sessions), requireOperator(operatorEmails)] as const,
    security: [{ bearer: [] }],
    tags: ["ops"],
    description: "Every live instance's own latest metrics and a minute of history (the operator's page). For OPERATOR_EMAILS only: 404 for anyone else.",
    responses: {
      200: jsonResponse(Instances, "Live instances by id, each as it last reported itself"),
      401: ErrorResponse,
      404: ErrorResponse,
    },
  });

  return createRouter().openapi(instances, async (c) => {
    c.header("cache-control", "no-store");
    const live = await snapshots.readAll();
    return c.json(
      {
        intervalMs: SAMPLE_INTERVAL_MS,
        instances: live
          .filter((s) => s.samples.length > 0)
          .map((s) => ({ instanceId: s.instanceId, current: s.samples.at(-1)!, history: s.samples })),
      },
      200,
    );
  });
}

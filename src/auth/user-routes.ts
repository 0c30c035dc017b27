import { createRoute, z } from "@hono/zod-openapi";
import { cachedJson } from "../cache/http-cache.ts";
import type { ResponseCache } from "../cache/response-cache.ts";
import { ErrorResponse, jsonResponse } from "../http/openapi.ts";
import type { Metrics } from "../metrics/registry.ts";
import { queryInt } from "../http/query-int.ts";
import { createRouter } from "../http/router.ts";
import { Text, UserRef } from "../protocol.ts";
import { requireAuth } from "./middleware.ts";
import type { Sessions } from "./session.ts";
import type { Users } from "./users.ts";

const LIMIT = { max: 50, default: 20 };

/**
 * People lookup for invites and direct messages: `GET /api/users?q=prefix`.
 * Cached like the room reads: the answer lists only public fields (id,
 * username) and is the same for every caller, so one entry per (prefix, limit)
 * serves everyone; usernames never change and users are never deleted, so the
 * only change is a new user, which bumps the `users` counter (auth routes).
 */
export function userRoutes({ sessions, users, cache, metrics }: { sessions: Sessions; users: Users; cache: ResponseCache; metrics: Metrics }) {
  const endpoint = { cache, metrics, endpoint: "GET /api/users" };
  const cachedHeaders = {
    ETag: { description: "Version of this answer; send it back as If-None-Match", schema: { type: "string" as const } },
    "X-Cache": { description: "HIT or MISS", schema: { type: "string" as const } },
    "Cache-Control": { description: "private, no-cache", schema: { type: "string" as const } },
  };
  const search = createRoute({
    method: "get",
    path: "/users",
    middleware: [requireAuth(sessions)] as const,
    security: [{ bearer: [] }],
    tags: ["auth"],
    request: {
      query: z.object({
        q: Text().min(1).max(50).openapi({ description: "username prefix, case-insensitive (1..50 characters)" }),
        limit: queryInt(1, LIMIT.max).optional().openapi({ description: `1..${LIMIT.max}, default ${LIMIT.default}` }),
      }),
    },
    responses: {
      200: jsonResponse(z.object({ data: z.array(UserRef) }), "Users whose username starts with q, alphabetical"),
      304: { description: "Not modified (If-None-Match matched the ETag)", headers: cachedHeaders },
      400: ErrorResponse,
      401: ErrorResponse,
    },
  });
  return createRouter().openapi(search, async (c) => {
    const { q, limit } = c.req.valid("query");
    const size = limit ?? LIMIT.default;
    return cachedJson(c, endpoint, {
      key: `users:${encodeURIComponent(q.toLowerCase())}:${size}`,
      versions: ["users"],
      compute: async () => ({ data: await users.searchByPrefix(q, size) }),
    });
  });
}

import { createRoute, z } from "@hono/zod-openapi";
import { ErrorResponse, jsonResponse } from "../http/openapi.ts";
import { queryInt } from "../http/query-int.ts";
import { createRouter } from "../http/router.ts";
import { Text, UserRef } from "../protocol.ts";
import { requireAuth } from "./middleware.ts";
import type { Sessions } from "./session.ts";
import type { Users } from "./users.ts";

const LIMIT = { max: 50, default: 20 };

/** People lookup for invites and direct messages: `GET /api/users?q=prefix`. */
export function userRoutes({ sessions, users }: { sessions: Sessions; users: Users }) {
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
      400: ErrorResponse,
      401: ErrorResponse,
    },
  });
  return createRouter().openapi(search, async (c) => {
    const { q, limit } = c.req.valid("query");
    return c.json({ data: await users.searchByPrefix(q, limit ?? LIMIT.default) }, 200);
  });
}

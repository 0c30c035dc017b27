import { createRoute, z } from "@hono/zod-openapi";
import { requireAuth } from "../auth/middleware.ts";
import type { Sessions } from "../auth/session.ts";
import { decodeIdCursor, encodeIdCursor } from "../http/cursor.ts";
import { ErrorResponse, jsonResponse } from "../http/openapi.ts";
import { queryInt } from "../http/query-int.ts";
import { createRouter } from "../http/router.ts";
import { UserRef } from "../protocol.ts";
import type { Rooms } from "../rooms/store.ts";
import type { PresenceStore } from "./store.ts";

const PAGE = { max: 500, default: 100 };

export interface PresenceRouteDeps {
  sessions: Sessions;
  rooms: Rooms;
  presence: PresenceStore;
}

/** Who is online in a room, page by page: the names a big room's presence diffs leave out. */
export function presenceRoutes({ sessions, rooms, presence }: PresenceRouteDeps) {
  const online = createRoute({
    method: "get",
    path: "/rooms/{room}/presence",
    middleware: [requireAuth(sessions)],
    security: [{ bearer: [] }],
    tags: ["presence"],
    request: {
      params: z.object({ room: z.string().openapi({ description: "room id or slug" }) }),
      query: z.object({
        limit: queryInt(1, PAGE.max).optional().openapi({ description: `1..${PAGE.max}, default ${PAGE.default}` }),
        cursor: z.string().max(200).optional().openapi({ description: "nextCursor of the previous page" }),
      }),
    },
    responses: {
      200: jsonResponse(
        z.object({ data: z.array(UserRef), total: z.number().int(), nextCursor: z.string().nullable() }),
        "Users online in the room across instances, by user id; `total` counts them all",
      ),
      400: ErrorResponse,
      401: ErrorResponse,
      404: ErrorResponse,
    },
  });

  return createRouter().openapi(online, async (c) => {
    const { limit = PAGE.default, cursor } = c.req.valid("query");
    const afterId = cursor === undefined ? undefined : decodeIdCursor(cursor);
    // Same visibility as the room itself: 404 for a room this user may not see.
    const room = await rooms.get(c.req.valid("param").room, c.get("auth").user.id);
    const users = ((await presence.list([room.id])).get(room.id) ?? []).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const from = afterId === undefined ? 0 : users.findIndex((u) => u.id > afterId);
    const data = from < 0 ? [] : users.slice(from, from + limit);
    const more = from >= 0 && from + limit < users.length;
    return c.json({ data, total: users.length, nextCursor: more ? encodeIdCursor(data.at(-1)!.id) : null }, 200);
  });
}

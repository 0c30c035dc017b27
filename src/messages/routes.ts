import { createRoute, z } from "@hono/zod-openapi";
import { requireAuth } from "../auth/middleware.ts";
import type { Sessions } from "../auth/session.ts";
import { ErrorResponse, jsonBody, jsonResponse } from "../http/openapi.ts";
import { queryInt } from "../http/query-int.ts";
import { createRouter } from "../http/router.ts";
import type { RateLimiter } from "../rate-limit/limiter.ts";
import type { LimitKind } from "../rate-limit/limits.ts";
import { limitPerUser } from "../rate-limit/middleware.ts";
import { ClientMsgId, Content, Message, RoomKey, Text } from "../protocol.ts";
import { cachedJson } from "../cache/http-cache.ts";
import type { ResponseCache } from "../cache/response-cache.ts";
import type { Metrics } from "../metrics/registry.ts";
import { roomIdFor, visibilityGuard } from "../rooms/cached-reads.ts";
import type { Rooms } from "../rooms/store.ts";
import { Emoji } from "./emoji.ts";
import type { Messages } from "./store.ts";

const PAGE = { max: 100, default: 50 };
const SEQ_MAX = Number.MAX_SAFE_INTEGER;

// Any shape of key reaches the store, which answers 404 for what it cannot find; only NUL, which Postgres refuses, is 400.
const RoomParams = z.object({ room: Text().describe("room id or slug") });
const MessageParams = z.object({ id: z.string() });
const HistoryQuery = z
  .object({
    before: queryInt(0, SEQ_MAX).optional().openapi({ description: "the page just below this seq" }),
    after: queryInt(0, SEQ_MAX).optional().openapi({ description: "everything created or changed after this value" }),
    limit: queryInt(1, PAGE.max).optional().openapi({ description: `1..${PAGE.max}, default ${PAGE.default}` }),
  })
  .refine((q) => q.before === undefined || q.after === undefined, {
    message: "give before or after, not both",
    path: ["after"],
  });
const SearchQuery = z.object({
  q: Text().max(200).regex(/\S/, "must not be blank"),
  room: RoomKey.optional(),
});
const MessagePage = z.object({ data: z.array(Message), nextCursor: z.number().int().nullable() });

export interface MessageRouteDeps {
  sessions: Sessions;
  messages: Messages;
  limiter: RateLimiter;
  rooms: Rooms;
  cache: ResponseCache;
  metrics: Metrics;
}

export function messageRoutes({ sessions, messages, limiter, rooms, cache, metrics }: MessageRouteDeps) {
  const historyEndpoint = { cache, metrics, endpoint: "GET /api/rooms/:room/messages" };
  const secured = { middleware: [requireAuth(sessions)], security: [{ bearer: [] }], tags: ["messages"] };
  // Sends are limited inside the store (WebSocket sends take the same bucket); the rest here.
  const limited = (kind: LimitKind) => ({
    ...secured,
    middleware: [requireAuth(sessions), limitPerUser(limiter, kind)],
  });
  const errors = { 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse, 429: ErrorResponse };

  const history = createRoute({
    ...secured,
    method: "get",
    path: "/rooms/{room}/messages",
    request: { params: RoomParams, query: HistoryQuery },
    responses: {
      200: jsonResponse(
        MessagePage,
        "Ascending by seq (newest page, or the page below `before`; nextCursor = its smallest seq), or with `after` ascending by latest value (nextCursor = the largest); null when there is no more",
      ),
      304: { description: "Not modified (newest page only: If-None-Match matched its ETag)" },
      ...errors,
    },
  });
  const send = createRoute({
    ...secured,
    method: "post",
    path: "/rooms/{room}/messages",
    request: { params: RoomParams, body: jsonBody(z.object({ content: Content, clientMsgId: ClientMsgId }).strict()) },
    responses: {
      201: jsonResponse(Message, "Sent"),
      200: jsonResponse(Message, "This clientMsgId was sent before: the original"),
      403: ErrorResponse,
      ...errors,
    },
  });
  const edit = createRoute({
    ...limited("edit"),
    method: "patch",
    path: "/messages/{id}",
    request: { params: MessageParams, body: jsonBody(z.object({ content: Content }).strict()) },
    responses: { 200: jsonResponse(Message, "Edited"), 403: ErrorResponse, 409: ErrorResponse, ...errors },
  });
  const remove = createRoute({
    ...limited("delete"),
    method: "delete",
    path: "/messages/{id}",
    request: { params: MessageParams },
    responses: { 200: jsonResponse(Message, "The tombstone: content empty, deletedAt set, reactions cleared"), 403: ErrorResponse, ...errors },
  });
  const react = createRoute({
    ...limited("reaction"),
    method: "post",
    path: "/messages/{id}/reactions",
    request: { params: MessageParams, body: jsonBody(z.object({ emoji: Emoji }).strict()) },
    responses: { 200: jsonResponse(Message, "The caller's reaction toggled"), 403: ErrorResponse, 409: ErrorResponse, ...errors },
  });
  const search = createRoute({
    ...limited("search"),
    method: "get",
    path: "/search",
    request: { query: SearchQuery },
    responses: { 200: jsonResponse(z.object({ data: z.array(Message) }), "Newest first, at most 50, deleted messages excluded"), ...errors },
  });

  return createRouter()
    .openapi(history, async (c) => {
      const { before, after, limit } = c.req.valid("query");
      const userId = c.get("auth").user.id;
      const pageSize = limit ?? PAGE.default;
      if (before !== undefined || after !== undefined) {
        return c.json(await messages.history(c.req.valid("param").room, userId, { before, after, limit: pageSize }), 200);
      }
      // The newest page, what every client opening the room asks for: shared by all who may see the room.
      const roomId = await roomIdFor(cache, rooms, c.req.valid("param").room, userId);
      return cachedJson(c, historyEndpoint, {
        key: `history:${roomId}:${pageSize}`,
        versions: [`room:${roomId}:e`],
        guard: visibilityGuard(rooms, roomId, userId),
        compute: () => messages.history(roomId, userId, { limit: pageSize }),
      });
    })
    .openapi(send, async (c) => {
      const { content, clientMsgId } = c.req.valid("json");
      const { message, created } = await messages.send({
        roomKey: c.req.valid("param").room,
        userId: c.get("auth").user.id,
        content,
        clientMsgId,
      });
      return created ? c.json(message, 201) : c.json(message, 200);
    })
    .openapi(edit, async (c) =>
      c.json(await messages.edit(c.req.valid("param").id, c.get("auth").user.id, c.req.valid("json").content), 200),
    )
    .openapi(remove, async (c) => c.json(await messages.remove(c.req.valid("param").id, c.get("auth").user.id), 200))
    .openapi(react, async (c) =>
      c.json(await messages.toggleReaction(c.req.valid("param").id, c.get("auth").user.id, c.req.valid("json").emoji), 200),
    )
    .openapi(search, async (c) => {
      const { q, room } = c.req.valid("query");
      return c.json({ data: await messages.search(c.get("auth").user.id, q, room) }, 200);
    });
}

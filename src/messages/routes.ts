import { createRoute, z } from "@hono/zod-openapi";
import { requireAuth } from "../auth/middleware.ts";
import type { Sessions } from "../auth/session.ts";
import { ErrorResponse, jsonBody, jsonResponse } from "../http/openapi.ts";
import { queryInt } from "../http/query-int.ts";
import { createRouter } from "../http/router.ts";
import { ClientMsgId, Content, Message, RoomKey, Text } from "../protocol.ts";
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
}

export function messageRoutes({ sessions, messages }: MessageRouteDeps) {
  const secured = { middleware: [requireAuth(sessions)], security: [{ bearer: [] }], tags: ["messages"] };
  const errors = { 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse };

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
      429: ErrorResponse,
      ...errors,
    },
  });
  const edit = createRoute({
    ...secured,
    method: "patch",
    path: "/messages/{id}",
    request: { params: MessageParams, body: jsonBody(z.object({ content: Content }).strict()) },
    responses: { 200: jsonResponse(Message, "Edited"), 403: ErrorResponse, 409: ErrorResponse, ...errors },
  });
  const remove = createRoute({
    ...secured,
    method: "delete",
    path: "/messages/{id}",
    request: { params: MessageParams },
    responses: { 200: jsonResponse(Message, "The tombstone: content empty, deletedAt set, reactions cleared"), 403: ErrorResponse, ...errors },
  });
  const react = createRoute({
    ...secured,
    method: "post",
    path: "/messages/{id}/reactions",
    request: { params: MessageParams, body: jsonBody(z.object({ emoji: Emoji }).strict()) },
    responses: { 200: jsonResponse(Message, "The caller's reaction toggled"), 403: ErrorResponse, 409: ErrorResponse, ...errors },
  });
  const search = createRoute({
    ...secured,
    method: "get",
    path: "/search",
    request: { query: SearchQuery },
    responses: { 200: jsonResponse(z.object({ data: z.array(Message) }), "Newest first, at most 50, deleted messages excluded"), ...errors },
  });

  return createRouter()
    .openapi(history, async (c) => {
      const { before, after, limit } = c.req.valid("query");
      const page = await messages.history(c.req.valid("param").room, c.get("auth").user.id, { before, after, limit: limit ?? PAGE.default });
      return c.json(page, 200);
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

import { createRoute, z } from "@hono/zod-openapi";
import { requireAuth } from "../auth/middleware.ts";
import type { Sessions } from "../auth/session.ts";
import { decodeIdCursor, encodeIdCursor } from "../http/cursor.ts";
import { ErrorResponse, jsonBody, jsonResponse } from "../http/openapi.ts";
import { queryInt } from "../http/query-int.ts";
import { createRouter } from "../http/router.ts";
import type { RateLimiter } from "../rate-limit/limiter.ts";
import type { LimitKind } from "../rate-limit/limits.ts";
import { limitPerUser } from "../rate-limit/middleware.ts";
import { Room, Text } from "../protocol.ts";
import { cachedJson, type CachedEndpoint } from "../cache/http-cache.ts";
import { cachedRoomList } from "./cached-list.ts";
import { cachedMyRooms } from "./cached-mine.ts";
import { cachedRoom } from "./cached-room.ts";
import type { ResponseCache } from "../cache/response-cache.ts";
import type { Metrics } from "../metrics/registry.ts";
import { roomIdFor, visibilityGuard } from "./cached-reads.ts";
import { Slug } from "./slug.ts";
import type { Rooms } from "./store.ts";

// Any shape of key reaches the store, which answers 404 for what it cannot find; only NUL, which Postgres refuses, is 400.
const RoomParams = z.object({ room: Text().describe("room id or slug") });
const PageQuery = (maxLimit: number, defaultLimit: number) =>
  z.object({
    limit: queryInt(1, maxLimit).optional().openapi({ description: `1..${maxLimit}, default ${defaultLimit}` }),
    cursor: z.string().max(200).optional().openapi({ description: "nextCursor of the previous page" }),
  });
const Member = z.object({
  id: z.string(),
  username: z.string(),
  role: z.enum(["owner", "member"]),
  joinedAt: z.string(),
});
const UserIdBody = z.object({ userId: z.string().min(1).max(100) }).strict();

const ROOMS_PAGE = { max: 100, default: 50 };
const MEMBERS_PAGE = { max: 500, default: 100 };

export interface RoomRouteDeps {
  sessions: Sessions;
  rooms: Rooms;
  limiter: RateLimiter;
  cache: ResponseCache;
  metrics: Metrics;
}

export function roomRoutes({ sessions, rooms, limiter, cache, metrics }: RoomRouteDeps) {
  const endpoint = (name: string): CachedEndpoint => ({ cache, metrics, endpoint: name });
  const listEndpoint = endpoint("GET /api/rooms");
  const mineEndpoint = endpoint("GET /api/rooms?mine=true");
  const roomEndpoint = endpoint("GET /api/rooms/:room");
  const membersEndpoint = endpoint("GET /api/rooms/:room/members");
  const cachedHeaders = {
    ETag: { description: "Version of this answer; send it back as If-None-Match", schema: { type: "string" as const } },
    "X-Cache": { description: "HIT or MISS", schema: { type: "string" as const } },
    "Cache-Control": { description: "private, no-cache", schema: { type: "string" as const } },
  };
  const notModified = { 304: { description: "Not modified (If-None-Match matched the ETag)", headers: cachedHeaders } };
  const secured = { middleware: [requireAuth(sessions)], security: [{ bearer: [] }], tags: ["rooms"] };
  // A mutation: signed in, then one request from the user's bucket of that kind (429 past it).
  const limited = (kind: LimitKind) => ({
    ...secured,
    middleware: [requireAuth(sessions), limitPerUser(limiter, kind)],
  });
  const limitedErrors = { 429: ErrorResponse };
  const authErrors = { 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse };

  const list = createRoute({
    ...secured,
    method: "get",
    path: "/rooms",
    request: {
      query: PageQuery(ROOMS_PAGE.max, ROOMS_PAGE.default).extend({
        mine: z
          .enum(["true", "false"])
          .optional()
          .openapi({ description: "true: only rooms I am a member of, each with unreadCount, lastActivityAt and lastReadSeq" }),
      }),
    },
    responses: {
      200: jsonResponse(
        z.object({ data: z.array(Room), nextCursor: z.string().nullable() }),
        "Public rooms and private rooms I belong to (mine=true: only rooms I am a member of)",
      ),
      ...notModified,
      ...authErrors,
    },
  });
  const create = createRoute({
    ...limited("room_create"),
    method: "post",
    path: "/rooms",
    request: {
      body: jsonBody(
        z
          .object({ name: Text().regex(/\S/, "must not be blank").trim().max(100), slug: Slug.optional(), isPrivate: z.boolean().optional() })
          .strict(),
      ),
    },
    responses: { 201: jsonResponse(Room, "Created; the caller is its owner"), 409: ErrorResponse, ...limitedErrors, ...authErrors },
  });
  const get = createRoute({
    ...secured,
    method: "get",
    path: "/rooms/{room}",
    request: { params: RoomParams },
    responses: { 200: jsonResponse(Room, "The room"), ...notModified, ...authErrors },
  });
  const join = createRoute({
    // Limited in the store, where it is known whether this join makes a membership.
    ...secured,
    method: "post",
    path: "/rooms/{room}/join",
    request: { params: RoomParams },
    responses: { 200: jsonResponse(Room, "Member now (public rooms; private ones only for members)"), ...limitedErrors, ...authErrors },
  });
  const leave = createRoute({
    ...limited("member_change"),
    method: "post",
    path: "/rooms/{room}/leave",
    request: { params: RoomParams },
    responses: { 204: { description: "No longer a member" }, ...limitedErrors, ...authErrors },
  });
  const members = createRoute({
    ...secured,
    method: "get",
    path: "/rooms/{room}/members",
    request: { params: RoomParams, query: PageQuery(MEMBERS_PAGE.max, MEMBERS_PAGE.default) },
    responses: { 200: jsonResponse(z.object({ data: z.array(Member), nextCursor: z.string().nullable() }), "Members by user id"), ...notModified, ...authErrors },
  });
  const addMember = createRoute({
    ...limited("member_change"),
    method: "post",
    path: "/rooms/{room}/members",
    request: { params: RoomParams, body: jsonBody(UserIdBody) },
    responses: {
      201: jsonResponse(Member, "Added"),
      200: jsonResponse(Member, "Was a member already"),
      403: ErrorResponse,
      ...limitedErrors,
      ...authErrors,
    },
  });
  const removeMember = createRoute({
    ...limited("member_change"),
    method: "delete",
    path: "/rooms/{room}/members/{userId}",
    request: { params: RoomParams.extend({ userId: z.string() }) },
    responses: { 204: { description: "Removed" }, 403: ErrorResponse, ...limitedErrors, ...authErrors },
  });
  const read = createRoute({
    ...limited("read"),
    method: "post",
    path: "/rooms/{room}/read",
    request: { params: RoomParams, body: jsonBody(z.object({ seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) }).strict()) },
    responses: { 204: { description: "Read marker moved (never backwards)" }, 403: ErrorResponse, ...limitedErrors, ...authErrors },
  });
  const direct = createRoute({
    ...limited("dm_open"),
    method: "post",
    path: "/dms",
    tags: ["rooms"],
    request: { body: jsonBody(UserIdBody) },
    responses: {
      201: jsonResponse(Room, "Direct room created"),
      200: jsonResponse(Room, "The existing direct room of this pair"),
      ...limitedErrors,
      ...authErrors,
    },
  });

  return createRouter()
    .openapi(list, async (c) => {
      const { limit, cursor, mine } = c.req.valid("query");
      const userId = c.get("auth").user.id;
      const afterId = cursor === undefined ? undefined : decodeIdCursor(cursor);
      const pageSize = limit ?? ROOMS_PAGE.default;
      if (mine === "true") {
        return cachedMyRooms(c, mineEndpoint, {
          userId,
          key: `mine:${userId}:${pageSize}:${afterId ?? ""}`,
          compute: async () => {
            const page = await rooms.listMine(userId, { limit: pageSize, afterId });
            return { data: page.data, nextCursor: page.nextCursor && encodeIdCursor(page.nextCursor) };
          },
        });
      }
      return cachedRoomList(c, listEndpoint, rooms, {
        userId,
        key: `rooms:${userId}:${pageSize}:${afterId ?? ""}`,
        compute: async () => {
          const page = await rooms.list(userId, { limit: pageSize, afterId });
          return { data: page.data, nextCursor: page.nextCursor && encodeIdCursor(page.nextCursor) };
        },
      });
    })
    .openapi(create, async (c) => c.json(await rooms.create(c.get("auth").user.id, c.req.valid("json")), 201))
    .openapi(get, async (c) => {
      const userId = c.get("auth").user.id;
      const roomId = await roomIdFor(cache, rooms, c.req.valid("param").room, userId);
      return cachedRoom(c, roomEndpoint, rooms, { roomId, userId });
    })
    .openapi(join, async (c) => c.json(await rooms.join(c.req.valid("param").room, c.get("auth").user.id), 200))
    .openapi(leave, async (c) => {
      await rooms.leave(c.req.valid("param").room, c.get("auth").user.id);
      return c.body(null, 204);
    })
    .openapi(members, async (c) => {
      const { limit, cursor } = c.req.valid("query");
      const userId = c.get("auth").user.id;
      const afterUserId = cursor === undefined ? undefined : decodeIdCursor(cursor);
      const pageSize = limit ?? MEMBERS_PAGE.default;
      const roomId = await roomIdFor(cache, rooms, c.req.valid("param").room, userId);
      // Shared by every member: the same page for all who may see the room.
      return cachedJson(c, membersEndpoint, {
        key: `members:${roomId}:${pageSize}:${afterUserId ?? ""}`,
        versions: [`room:${roomId}:m`],
        guard: visibilityGuard(rooms, roomId, userId),
        compute: async () => {
          const page = await rooms.members(roomId, userId, { limit: pageSize, afterUserId });
          return { data: page.data, nextCursor: page.nextCursor && encodeIdCursor(page.nextCursor) };
        },
      });
    })
    .openapi(addMember, async (c) => {
      const { member, created } = await rooms.addMember(c.req.valid("param").room, c.get("auth").user.id, c.req.valid("json").userId);
      return created ? c.json(member, 201) : c.json(member, 200);
    })
    .openapi(removeMember, async (c) => {
      const { room, userId } = c.req.valid("param");
      await rooms.removeMember(room, c.get("auth").user.id, userId);
      return c.body(null, 204);
    })
    .openapi(read, async (c) => {
      await rooms.markRead(c.req.valid("param").room, c.get("auth").user.id, c.req.valid("json").seq);
      return c.body(null, 204);
    })
    .openapi(direct, async (c) => {
      const { room, created } = await rooms.openDirect(c.get("auth").user.id, c.req.valid("json").userId);
      return created ? c.json(room, 201) : c.json(room, 200);
    });
}

// The HTTP API as the app uses it. The session is the httpOnly cookie set at log-in;
// JavaScript never holds the token.
import type { Me, Message, OpsInstance, Room, UserRef } from "../../src/protocol.ts";
export type { OpsInstance, OpsSample } from "../../src/protocol.ts";
import type { RoomSummary } from "./apply-event.ts";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: { field: string; message: string }[],
  ) {
    super(message);
  }
}

function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  return read<T>(
    fetch(path, {
      method,
      credentials: "same-origin",
      headers: body === undefined ? undefined : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
  );
}

/** A response as the app uses it: the JSON body, or an ApiError. */
export async function read<T>(pending: Promise<Response>): Promise<T> {
  let res: Response;
  try {
    res = await pending;
  } catch {
    throw new ApiError(0, "offline", "cannot reach the server");
  }
  if (res.status === 204) return undefined as T;
  const json = await res.json().catch(() => null);
  if (!res.ok) {
    const error = json?.error ?? {};
    throw new ApiError(res.status, error.code ?? "error", error.message ?? `HTTP ${res.status}`, error.details);
  }
  return json as T;
}


export type MessagePage = { data: Message[]; nextCursor: number | null };
const q = (params: Record<string, string | number | undefined>) => {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) s.set(k, String(v));
  const text = s.toString();
  return text ? `?${text}` : "";
};
const room = (key: string) => encodeURIComponent(key);

export const api = {
  register: (body: { email: string; username: string; password: string }) => call<{ user: Me }>("POST", "/api/auth/register", body),
  login: (body: { email: string; password: string }) => call<{ user: Me }>("POST", "/api/auth/login", body),
  logout: () => call<void>("POST", "/api/auth/logout"),
  me: () => call<{ user: Me }>("GET", "/api/me"),
  myRooms: (cursor?: string) => call<{ data: RoomSummary[]; nextCursor: string | null }>("GET", `/api/rooms${q({ mine: "true", limit: 100, cursor })}`),
  publicRooms: (cursor?: string) => call<{ data: Room[]; nextCursor: string | null }>("GET", `/api/rooms${q({ limit: 100, cursor })}`),
  room: (key: string) => call<RoomSummary>("GET", `/api/rooms/${room(key)}`),
  createRoom: (body: { name: string; isPrivate: boolean }) => call<Room>("POST", "/api/rooms", body),
  join: (key: string) => call<Room>("POST", `/api/rooms/${room(key)}/join`),
  leave: (key: string) => call<void>("POST", `/api/rooms/${room(key)}/leave`),
  invite: (key: string, userId: string) => call<unknown>("POST", `/api/rooms/${room(key)}/members`, { userId }),
  members: (key: string) => call<{ data: (UserRef & { role: string })[] }>("GET", `/api/rooms/${room(key)}/members?limit=500`),
  dm: (userId: string) => call<Room>("POST", "/api/dms", { userId }),
  users: (prefix: string) => call<{ data: UserRef[] }>("GET", `/api/users${q({ q: prefix, limit: 10 })}`),
  newest: (key: string, limit = 50) => call<MessagePage>("GET", `/api/rooms/${room(key)}/messages${q({ limit })}`),
  before: (key: string, before: number, limit = 50) => call<MessagePage>("GET", `/api/rooms/${room(key)}/messages${q({ before, limit })}`),
  after: (key: string, after: number) => call<MessagePage>("GET", `/api/rooms/${room(key)}/messages${q({ after, limit: 100 })}`),
  send: (key: string, content: string, clientMsgId: string) => call<Message>("POST", `/api/rooms/${room(key)}/messages`, { content, clientMsgId }),
  edit: (id: string, content: string) => call<Message>("PATCH", `/api/messages/${encodeURIComponent(id)}`, { content }),
  remove: (id: string) => call<Message>("DELETE", `/api/messages/${encodeURIComponent(id)}`),
  react: (id: string, emoji: string) => call<Message>("POST", `/api/messages/${encodeURIComponent(id)}/reactions`, { emoji }),
  markRead: (key: string, seq: number) => call<void>("POST", `/api/rooms/${room(key)}/read`, { seq }),
  opsInstances: () => call<{ intervalMs: number; instances: OpsInstance[] }>("GET", "/api/ops/instances"),
  search: (text: string, roomKey?: string) => call<{ data: Message[] }>("GET", `/api/search${q({ q: text, room: roomKey })}`),
};

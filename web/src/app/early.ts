// Requests started before React renders, so the first screen waits for one round trip, not a chain:
// who am I, and (on a room's URL) that room's newest page and its screen's code.
import { api, type MessagePage } from "../api.ts";
import type { Me } from "../../../src/protocol.ts";
import type { RoomSummary } from "../apply-event.ts";

const roomMatch = /^\/r\/([^/]+)$/.exec(location.pathname);
const roomId = roomMatch ? decodeURIComponent(roomMatch[1]!) : undefined;

const me: Promise<{ user: Me }> = api.me();
let newest: { roomId: string; page: Promise<MessagePage> } | undefined = roomId ? { roomId, page: api.newest(roomId, 50) } : undefined;
newest?.page.catch(() => {});
let rooms: Promise<{ data: RoomSummary[]; nextCursor: string | null }> | undefined = api.myRooms();
rooms.catch(() => {});
if (roomId) void import("../messages/room-screen.tsx");

export const earlyMe = () => me;

/** The newest page fetched early for this room, once; later opens fetch their own. */
export function takeEarlyNewest(id: string): Promise<MessagePage> | undefined {
  if (newest?.roomId !== id) return undefined;
  const { page } = newest;
  newest = undefined;
  return page;
}

/** The first page of my rooms, fetched early, once. */
export function takeEarlyRooms() {
  const page = rooms;
  rooms = undefined;
  return page;
}

// Requests started before React renders, so the first screen waits for one round trip, not a chain:
// who am I, and (on a room's URL) that room's newest page and its screen's code.
import { api, read, type MessagePage } from "../api.ts";
import type { Me } from "../../../src/protocol.ts";
import type { RoomSummary } from "../apply-event.ts";

const roomMatch = /^\/r\/([^/]+)$/.exec(location.pathname);
const roomId = roomMatch ? decodeURIComponent(roomMatch[1]!) : undefined;

/** Started by web/src/early-boot.ts (the production build loads it before this chunk). */
type Boot = { me: Promise<Response>; rooms: Promise<Response>; newest?: { roomId: string; res: Promise<Response> } };
const boot = (window as unknown as { __early?: Boot }).__early;

const me: Promise<{ user: Me }> = boot ? read(boot.me) : api.me();
// Signed out, this can fail before the app has attached its handler (the answer is often in already).
me.catch(() => {});
let newest: { roomId: string; page: Promise<MessagePage> } | undefined = !roomId
  ? undefined
  : { roomId, page: boot?.newest?.roomId === roomId ? read(boot.newest.res) : api.newest(roomId, 50) };
newest?.page.catch(() => {});
let rooms: Promise<{ data: RoomSummary[]; nextCursor: string | null }> | undefined = boot ? read(boot.rooms) : api.myRooms();
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

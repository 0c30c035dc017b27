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
let newest: { roomId: string; page: Promise<MessagePage>; value?: MessagePage } | undefined = !roomId
  ? undefined
  : { roomId, page: boot?.newest?.roomId === roomId ? read(boot.newest.res) : api.newest(roomId, 50) };
newest?.page.then(
  (page) => newest && (newest.value = page),
  () => {},
);
let rooms: Promise<{ data: RoomSummary[]; nextCursor: string | null }> | undefined = boot ? read(boot.rooms) : api.myRooms();
rooms.catch(() => {});
const roomsAnswer = rooms;
type RoomScreenModule = typeof import("../messages/room-screen.tsx");
let roomScreen: RoomScreenModule | undefined;
/** The room screen's chunk, asked for at once on a room's URL (the shell modulepreloads it). */
export const roomScreenChunk = () => import("../messages/room-screen.tsx").then((m) => (roomScreen = m));
const roomChunk = roomId ? roomScreenChunk() : undefined;
roomChunk?.catch(() => {});
/** The room screen, if its chunk has been evaluated already (then it renders without suspending). */
export const loadedRoomScreen = () => roomScreen?.default;

export const earlyMe = () => me;

/**
 * Settles when the first screen can be drawn in one go: who I am is known and, on a room's URL,
 * its screen's code is in. Rendering before that would only draw the boot screen again.
 */
export const firstScreenReady = (): Promise<unknown> => Promise.allSettled([me, roomChunk]);

/**
 * Settles when my rooms and the room's newest page are in (they usually come with `me`), or
 * after `waitMs`: a room drawn with its messages in the first render, not in a later one.
 */
export const roomDataReady = (waitMs: number): Promise<unknown> =>
  Promise.race([Promise.allSettled([roomsAnswer, newest?.page]), new Promise((r) => setTimeout(r, waitMs))]);

/** The early newest page of this room if it has arrived (without taking it). */
export const arrivedNewest = (id: string): MessagePage | undefined => (newest?.roomId === id ? newest.value : undefined);

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

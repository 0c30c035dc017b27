// Per-user frames: what keeps a user's room list live without joining every
// room. Sent to every socket of the user, on every instance:
//   room_activity {roomId, lastSeq, lastActivityAt}   coalesced: at most one per room per second
//   membership_added {room} / membership_removed {roomId}
// Cost: one bus message per room per second whatever the room's size. Each
// instance keeps, for its connected users only, which rooms they belong to,
// and fans the activity out to those sockets locally.
import { z } from "zod";
import type { Bus } from "../bus/bus.ts";
import type { DomainEvent } from "../events.ts";
import type { Logger } from "../log.ts";
import { encodeFrame, parseBusMessage, type Room, type ServerData, type ServerEvent } from "../protocol.ts";
import { encodeFrameV2 } from "../protocol-v2.ts";
import type { Socket } from "../socket-context.ts";
import { SharedFrame } from "./wire.ts";

/** Per-user frames name rooms by id in v2 as well: the receiving sockets have not joined them. */
const userFrame = <E extends ServerEvent>(event: E, data: ServerData<E>) =>
  new SharedFrame((v) => (v === 1 ? encodeFrame(event, data) : encodeFrameV2(event, data)));

export const USER_FEED_CHANNEL = "user-feed";

export interface UserFeedDomain {
  /** Ids of the rooms this user is a member of. */
  roomIdsOf(userId: string): Promise<string[]>;
  /** The room as this member sees it in "My rooms" (undefined: no longer a member). */
  roomFor(roomId: string, userId: string): Promise<Room | undefined>;
}

/** On the bus; `o` is the publishing instance, which has delivered it locally already. */
const FeedMessage = z.discriminatedUnion("t", [
  z.object({ t: z.literal("activity"), o: z.string(), roomId: z.string(), lastSeq: z.number().int(), lastActivityAt: z.string() }),
  z.object({ t: z.literal("member"), o: z.string(), roomId: z.string(), userId: z.string(), added: z.boolean() }),
]);
type FeedMessage = z.infer<typeof FeedMessage>;

export interface UserFeedOptions {
  instanceId: string;
  bus: Bus;
  domain: UserFeedDomain;
  log: Logger;
  /** Window in which a room's activity is coalesced into one frame. */
  coalesceMs?: number;
}

export function createUserFeed(opts: UserFeedOptions) {
  const { instanceId, bus, domain, log } = opts;
  const coalesceMs = opts.coalesceMs ?? 1_000;
  const socketsByUser = new Map<string, Set<Socket>>();
  /** Local users by room (only users with a socket here). */
  const membersByRoom = new Map<string, Set<string>>();
  const roomsByUser = new Map<string, Set<string>>();
  /** Rooms inside their coalescing window; `latest` is sent when it ends. */
  const windows = new Map<string, { latest?: FeedMessage & { t: "activity" } }>();
  let unsubscribe: (() => Promise<void>) | undefined;
  const logError = (what: string) => (err: unknown) => log.error(what, { error: String(err) });

  function addMembership(userId: string, roomId: string) {
    roomsByUser.get(userId)?.add(roomId);
    let set = membersByRoom.get(roomId);
    if (!set) membersByRoom.set(roomId, (set = new Set()));
    set.add(userId);
  }

  function dropMembership(userId: string, roomId: string) {
    roomsByUser.get(userId)?.delete(roomId);
    const set = membersByRoom.get(roomId);
    set?.delete(userId);
    if (set?.size === 0) membersByRoom.delete(roomId);
  }

  /** `skipRoom`: sockets receiving that room's own events need no hint about it. */
  function sendToUser(userId: string, frame: SharedFrame, skipRoom?: string) {
    for (const ws of socketsByUser.get(userId) ?? []) {
      if (ws.readyState !== 1) continue;
      if (skipRoom !== undefined && receivesRoom(ws, skipRoom)) continue;
      ws.send(frame.text(ws.data.protocol));
    }
  }

  const receivesRoom = (ws: Socket, roomId: string) => {
    for (const id of ws.data.roomKeys.values()) if (id === roomId) return true;
    return false;
  };

  function deliver(message: FeedMessage) {
    if (message.t === "activity") {
      const users = membersByRoom.get(message.roomId);
      if (!users?.size) return;
      const frame = userFrame("room_activity", { roomId: message.roomId, lastSeq: message.lastSeq, lastActivityAt: message.lastActivityAt });
      for (const userId of users) sendToUser(userId, frame, message.roomId);
      return;
    }
    const { userId, roomId, added } = message;
    if (!socketsByUser.has(userId)) return;
    if (!added) {
      dropMembership(userId, roomId);
      return sendToUser(userId, userFrame("membership_removed", { roomId }));
    }
    addMembership(userId, roomId);
    void domain.roomFor(roomId, userId).then((room) => {
      if (room) sendToUser(userId, userFrame("membership_added", { room }));
    }, logError("user feed: reading a room failed"));
  }

  function publish(message: FeedMessage) {
    deliver(message);
    void bus.publish(USER_FEED_CHANNEL, JSON.stringify(message)).catch(logError("user feed: bus publish failed"));
  }

  /** Leading edge at once, then at most one more per window with the latest state. */
  function activity(message: FeedMessage & { t: "activity" }) {
    const open = windows.get(message.roomId);
    if (open) {
      open.latest = message;
      return;
    }
    publish(message);
    const window: { latest?: FeedMessage & { t: "activity" } } = {};
    windows.set(message.roomId, window);
    setTimeout(() => {
      windows.delete(message.roomId);
      if (window.latest) activity(window.latest);
    }, coalesceMs);
  }

  function onBusMessage(payload: string) {
    const message = parseBusMessage(FeedMessage, payload);
    if (!message) return log.warn("bad user feed message");
    if (message.o !== instanceId) deliver(message);
  }

  return {
    async start() {
      unsubscribe = await bus.subscribe(USER_FEED_CHANNEL, onBusMessage);
    },
    async stop() {
      await unsubscribe?.().catch(logError("user feed: unsubscribe failed"));
    },

    /** Wired to this process's after-commit domain events. */
    onDomainEvent(event: DomainEvent) {
      if (event.type === "room.event" && event.event.kind === "new_message") {
        const { roomId, seq, message } = event.event;
        activity({ t: "activity", o: instanceId, roomId, lastSeq: seq, lastActivityAt: message.createdAt });
      } else if (event.type === "room.member_joined" || event.type === "room.member_left") {
        publish({ t: "member", o: instanceId, roomId: event.roomId, userId: event.userId, added: event.type === "room.member_joined" });
      }
    },

    connected(ws: Socket) {
      const userId = ws.data.user.id;
      let set = socketsByUser.get(userId);
      if (set) return void set.add(ws);
      socketsByUser.set(userId, (set = new Set([ws])));
      roomsByUser.set(userId, new Set());
      void domain.roomIdsOf(userId).then((roomIds) => {
        if (!socketsByUser.has(userId)) return;
        for (const roomId of roomIds) addMembership(userId, roomId);
      }, logError("user feed: reading memberships failed"));
    },

    disconnected(ws: Socket) {
      const userId = ws.data.user.id;
      const set = socketsByUser.get(userId);
      if (!set?.delete(ws) || set.size > 0) return;
      socketsByUser.delete(userId);
      for (const roomId of roomsByUser.get(userId) ?? []) dropMembership(userId, roomId);
      roomsByUser.delete(userId);
    },
  };
}

export type UserFeed = ReturnType<typeof createUserFeed>;

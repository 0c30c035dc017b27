import type { UserRef } from "../protocol.ts";
import type { Socket } from "../socket-context.ts";
import type { RoomTopics } from "./room-topics.ts";
import type { SlowConsumers } from "./slow-consumers.ts";
import { roomShared } from "./wire.ts";

/** Typing notices: ephemeral, to this instance's sockets of the room (not the typist), dropped for slow ones. */
export function createTyping(rooms: RoomTopics, slow: SlowConsumers) {
  return {
    show(roomId: string, user: UserRef, except?: Socket) {
      const room = rooms.get(roomId);
      if (room) slow.sendEphemeral(room.sockets, roomShared(room, "typing", { roomId, user }), except);
    },
  };
}

import type { Rooms } from "../rooms/store.ts";
import { joinedRoomId, type FrameHandlers } from "../socket-context.ts";
import type { Messages } from "./store.ts";

const ORIGIN_TTL_MS = 10_000;

export function messageFrameHandlers(messages: Messages, rooms: Rooms): Pick<FrameHandlers, "send_message"> {
  return {
    async send_message({ ws, hub, reply }, { roomId: roomKey, content, clientMsgId, timestamp }) {
      const userId = ws.data.user.id;
      const roomId = joinedRoomId(ws.data, roomKey) ?? (await rooms.resolveReadable(roomKey, userId)).id;
      const id = clientMsgId ?? `ws-${crypto.randomUUID()}`;
      // This socket gets message_ack; its other tabs and everyone else get new_message.
      const forget = hub.expectOrigin(roomId, userId, id, ws);
      let sent;
      try {
        sent = await messages.send({
          roomId,
          userId,
          content,
          clientMsgId: id,
          sentAt: timestamp ?? null,
        });
      } catch (err) {
        forget();
        throw err;
      }
      const { message, created } = sent;
      // The hub may still hold the event (an earlier value is late): keep the origin until it is released.
      if (created) setTimeout(forget, ORIGIN_TTL_MS).unref?.();
      else forget();
      reply("message_ack", { roomId: message.roomId, clientMsgId: message.clientMsgId, id: message.id, seq: message.seq });
    },
  };
}

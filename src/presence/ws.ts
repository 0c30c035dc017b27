import { AppError } from "../http/errors.ts";
import { joinedRoomId, type FrameHandlers } from "../socket-context.ts";

/** At most one typing notice per socket and room in this window; extra ones are dropped quietly. */
const TYPING_EVERY_MS = 1_000;

export function presenceFrameHandlers(): Pick<FrameHandlers, "typing"> {
  return {
    typing({ ws, hub }, { roomId: roomKey }) {
      const roomId = joinedRoomId(ws.data, roomKey);
      if (!roomId) throw new AppError(404, "not_joined", "join the room before typing in it");
      const now = Date.now();
      if (now - (ws.data.typingAt.get(roomId) ?? 0) < TYPING_EVERY_MS) return;
      ws.data.typingAt.set(roomId, now);
      hub.typing(ws, roomId);
    },
  };
}

import { AppError } from "../http/errors.ts";
import { joinedRoomId, type FrameHandlers } from "../socket-context.ts";
import type { Rooms } from "./store.ts";

export function roomFrameHandlers(rooms: Rooms): Pick<FrameHandlers, "join_room" | "leave_room" | "read"> {
  return {
    async join_room({ ws, hub, ref }, { roomId: roomKey, afterSeq }) {
      // Before membership: a refused join must not make the user a member either.
      hub.assertCanJoin(ws, roomKey);
      // A leave_room that arrives before this join finishes must win over it (quick room switching).
      const pending = { left: false };
      const keys = [roomKey.toLowerCase()];
      ws.data.pendingJoins.set(keys[0]!, pending);
      try {
        // Public rooms make the user a member, as over HTTP; a private room needs membership (else 404).
        const room = await rooms.join(roomKey, ws.data.user.id);
        const other = ws.data.pendingJoins.get(room.id);
        if (other && other !== pending) throw new AppError(409, "conflict", "already joining this room");
        keys.push(room.id);
        ws.data.pendingJoins.set(room.id, pending);
        if (pending.left) return;
        // Joining again resumes from afterSeq: the socket leaves first so nothing is sent twice.
        if (joinedRoomId(ws.data, room.id)) hub.leave(ws, room.id);
        await hub.join(ws, { roomId: room.id, slug: room.slug }, afterSeq, ref, () => pending.left);
      } finally {
        for (const key of keys) if (ws.data.pendingJoins.get(key) === pending) ws.data.pendingJoins.delete(key);
      }
    },

    leave_room({ ws, hub }, { roomId: roomKey }) {
      const roomId = joinedRoomId(ws.data, roomKey);
      if (roomId) return hub.leave(ws, roomId);
      const pending = ws.data.pendingJoins.get(roomKey.toLowerCase());
      if (!pending) throw new AppError(404, "not_joined", "not joined to that room");
      pending.left = true;
    },

    async read({ ws }, { roomId: roomKey, seq }) {
      await rooms.markRead(roomKey, ws.data.user.id, seq);
    },
  };
}

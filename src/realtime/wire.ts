import type { Server } from "bun";
import { encodeFrame, type RoomEvent, type ServerData, type ServerEvent } from "../protocol.ts";
import { encodeFrameV2, type ProtocolVersion } from "../protocol-v2.ts";
import type { Socket, SocketData } from "../socket-context.ts";

/** A frame for many sockets: each version is encoded at most once, when first asked for. */
export class SharedFrame {
  private texts: [string?, string?] = [];
  constructor(private readonly make: (version: ProtocolVersion) => string) {}
  text(version: ProtocolVersion): string {
    return (this.texts[version - 1] ??= this.make(version));
  }
}

/** What a room must give for its frames: the v2 alias its `joined` frames hand out. */
export interface WireRoom {
  id: string;
  alias: number;
  topic: string;
}

export const VERSIONS: readonly ProtocolVersion[] = [1, 2];

/** One Bun topic per (room, version): a published frame is encoded once per version, whatever the room's size. */
export const topicOf = (room: WireRoom, version: ProtocolVersion) => (version === 1 ? room.topic : `${room.topic}#v${version}`);

/** A frame shared by the room's sockets (a diff, typing): v2 names the room by its alias. */
export function roomShared<E extends ServerEvent>(room: WireRoom, event: E, data: ServerData<E>) {
  return new SharedFrame((v) => (v === 1 ? encodeFrame(event, data) : encodeFrameV2(event, data, { room: room.alias })));
}

/** A room event for the room's topic and its joiners. */
export function roomEventShared(room: WireRoom, event: RoomEvent) {
  return new SharedFrame((v) =>
    v === 1
      ? encodeFrame(event.kind, event.message, { seq: event.seq })
      : encodeFrameV2(event.kind, event.message, { seq: event.seq, room: room.alias }),
  );
}

/** One frame for one socket, in its version; v2 names a room by the alias this socket was given, else by id. */
export function encodeFor<E extends ServerEvent>(
  data: SocketData,
  event: E,
  payload: ServerData<E>,
  extra: { ref?: string | number; seq?: number; alias?: number } = {},
): string {
  if (data.protocol === 1) return encodeFrame(event, payload, { ref: extra.ref, seq: extra.seq });
  const roomId = (payload as { roomId?: unknown }).roomId;
  const room = typeof roomId === "string" ? (data.aliases.get(roomId) ?? roomId) : undefined;
  return encodeFrameV2(event, payload, { ...extra, room });
}

/**
 * Publishes to every version's topic that has subscribers. From the sender's socket when
 * given: Bun's ws.publish skips it (it gets message_ack instead).
 */
export function publishShared(server: Server<SocketData> | undefined, room: WireRoom, frame: SharedFrame, origin?: Socket) {
  for (const v of VERSIONS) {
    const topic = topicOf(room, v);
    if (origin && origin.readyState === 1 && origin.data.protocol === v) origin.publish(topic, frame.text(v));
    else if (server && server.subscriberCount(topic) > 0) server.publish(topic, frame.text(v));
  }
}

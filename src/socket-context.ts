// What a capability's WebSocket frame handlers see of a connection and of the
// hub: the contract between src/realtime/ (which implements it) and each
// capability's ws.ts (which uses it), so neither imports the other.
import type { ServerWebSocket } from "bun";
import type { ClientEvent, ClientFrame, ServerData, UserRef } from "./protocol.ts";
import type { ProtocolVersion } from "./protocol-v2.ts";

export interface SocketData {
  user: UserRef & { email: string };
  sessionId: string;
  /** Rooms this socket receives (joined, replay done): id and slug, lowercased, to room id. */
  roomKeys: Map<string, string>;
  /** Joins not finished yet, by every key the client may use to leave them (as sent, lowercased, id). */
  pendingJoins: Map<string, { left: boolean }>;
  typingAt: Map<string, number>;
  /** The frame encoding negotiated at the upgrade (Sec-WebSocket-Protocol). */
  protocol: ProtocolVersion;
  /** v2: the alias each room was given in this socket's `joined`, by room id. */
  aliases: Map<string, number>;
  /** Frame rate limit; `noticed`: the socket was told it is limited since the bucket last had a token. */
  bucket: { tokens: number; at: number; noticed: boolean };
}
export type Socket = ServerWebSocket<SocketData>;

/** The id of a room this socket has joined, named by id or slug in any case. */
export const joinedRoomId = (data: SocketData, roomKey: string) => data.roomKeys.get(roomKey.toLowerCase());


/** The hub operations frame handlers use. */
export interface RoomHub {
  /** The join seam: joined, presence, replay after `afterSeq`, held live events, then the topic. */
  join(
    ws: Socket,
    info: { roomId: string; slug: string },
    afterSeq: number | undefined,
    ref?: string | number,
    leftMeanwhile?: () => boolean,
  ): Promise<{ lastSeq: number } | undefined>;
  leave(ws: Socket, roomId: string): void;
  /** Throws too_many_rooms when the socket or its user is at a room cap (a rejoin of `roomKey` passes). */
  assertCanJoin(ws: Socket, roomKey: string): void;
  typing(ws: Socket, roomId: string): void;
  /** Registers the socket sending this message, so it gets the ack and not the event; returns the undo. */
  expectOrigin(roomId: string, userId: string, clientMsgId: string, ws: Socket): () => void;
}

/** What a capability's frame handler gets: the socket, the hub and the frame's ref. */
export interface FrameContext {
  ws: Socket;
  hub: RoomHub;
  ref?: string | number;
  /** Sends a frame that answers this one (it carries the ref). */
  reply<E extends "joined" | "message_ack" | "pong">(event: E, data: ServerData<E>): void;
}

export type FrameHandlers = {
  [E in Exclude<ClientEvent, "ping">]: (ctx: FrameContext, data: Extract<ClientFrame, { event: E }>["data"]) => Promise<void> | void;
};

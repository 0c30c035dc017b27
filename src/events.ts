import type { RoomEvent } from "./protocol.ts";

/**
 * Facts announced after commit, inside one process. The real-time layer turns
 * them into socket frames here and bus messages for the other instances.
 */
export type DomainEvent =
  | { type: "room.event"; event: RoomEvent }
  | { type: "room.member_joined"; roomId: string; userId: string }
  | { type: "room.member_left"; roomId: string; userId: string }
  /** A new room: it may appear in everyone's room list. */
  | { type: "room.created"; roomId: string }
  /** A read marker moved: that user's unread counts changed. */
  | { type: "room.read"; roomId: string; userId: string }
  | { type: "session.revoked"; sessionId: string; userId: string };

export type DomainEventHandler = (event: DomainEvent) => void;

export function createDomainEvents(onError: (err: unknown) => void) {
  const handlers = new Set<DomainEventHandler>();
  return {
    emit(event: DomainEvent) {
      for (const handler of handlers) {
        // One failing listener must not stop the others, nor the request that emitted.
        try {
          handler(event);
        } catch (err) {
          onError(err);
        }
      }
    },
    on(handler: DomainEventHandler) {
      handlers.add(handler);
      return () => void handlers.delete(handler);
    },
  };
}

export type DomainEvents = ReturnType<typeof createDomainEvents>;

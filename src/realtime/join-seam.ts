import { AppError } from "../http/errors.ts";
import type { RoomPresence } from "../presence/room-presence.ts";
import type { RoomEvent } from "../protocol.ts";
import type { Socket } from "../socket-context.ts";
import type { HubDomain } from "./hub-domain.ts";
import type { Joiner, LocalRoom, RoomTopics } from "./room-topics.ts";
import type { SlowConsumers } from "./slow-consumers.ts";
import { encodeFor, topicOf } from "./wire.ts";

export interface JoinSeamOptions {
  rooms: RoomTopics;
  domain: HubDomain;
  presence: RoomPresence;
  slow: SlowConsumers;
  gapWaitMs: number;
  replayPage: number;
  /** Events replayed at most (WS_REPLAY_MAX); a join further behind is told `truncated`. */
  replayMax: number;
}

export interface JoinRequest {
  roomId: string;
  slug: string;
  afterSeq?: number;
  ref?: string | number;
  /** The client sent leave_room before this join finished. */
  leftMeanwhile?: () => boolean;
}

/** A joiner whose held events overflow more often than this gives up (the room outruns its reads). */
const MAX_OVERFLOW_ROUNDS = 10;

/**
 * The join seam: hold the room's live events for this socket, send `joined`,
 * presence and the replay read from Postgres, then the held events above the
 * last replayed value, then subscribe the socket to the topic. Nothing falls in
 * the seam, nothing is sent twice.
 */
export function createJoinSeam({ rooms, domain, presence, slow, gapWaitMs, replayPage, replayMax }: JoinSeamOptions) {
  /** Where the replay starts: after `afterSeq`, or at most `replayMax` events before the room's last value. */
  async function replayStart(room: LocalRoom, afterSeq: number) {
    const roomLast = Math.max(room.sequencer.lastReleased, await domain.lastSeq(room.id));
    if (afterSeq > roomLast) throw new AppError(400, "invalid_data", "afterSeq is beyond the room's last value");
    return roomLast - afterSeq > replayMax ? { after: roomLast - replayMax, truncated: true } : { after: afterSeq, truncated: false };
  }

  /**
   * Sends the replay page by page; a client that cannot keep up is cut off like any slow
   * consumer. Returns the last value sent, null when there was nothing to replay, or
   * undefined when the join should stop.
   */
  async function streamReplay(ws: Socket, room: LocalRoom, firstPage: RoomEvent[], stillWanted: () => boolean) {
    let last: number | null = null;
    for (let page = firstPage; page.length; ) {
      for (const event of page) if (!slow.send(ws, encodeFor(ws.data, event.kind, event.message, { seq: event.seq }))) return undefined;
      last = page.at(-1)!.seq;
      if (page.length < replayPage) break;
      page = await domain.eventsAfter(room.id, last, replayPage);
      if (!stillWanted()) return undefined;
    }
    return last;
  }

  /**
   * The replay may be ahead of this instance's live stream, and the topic would repeat those
   * values: the joiner keeps collecting until the room has released everything replayed.
   */
  async function waitForLiveStream(room: LocalRoom, last: number) {
    for (let tries = 0; room.sequencer.lastReleased < last && tries < 20; tries++) {
      await room.sequencer.catchUp();
      if (room.sequencer.lastReleased < last) await Bun.sleep(gapWaitMs);
    }
    if (room.sequencer.lastReleased < last) {
      throw new AppError(503, "unavailable", "the room could not catch up; join again with afterSeq");
    }
  }

  /**
   * Waits until the room's live stream has passed the replay. A joiner whose held
   * events overflowed their bound reads what it dropped from Postgres instead, and
   * collects afresh from there.
   */
  async function catchUpWithLive(ws: Socket, room: LocalRoom, joiner: Joiner, last: number, stillWanted: () => boolean) {
    for (let round = 0; ; round++) {
      await waitForLiveStream(room, last);
      if (!stillWanted()) return undefined;
      if (!joiner.overflowed) return last;
      if (round >= MAX_OVERFLOW_ROUNDS) {
        throw new AppError(503, "unavailable", "the room is too busy to join now; join again with afterSeq");
      }
      joiner.overflowed = false;
      joiner.buffer = [];
      const replayed = await streamReplay(ws, room, await domain.eventsAfter(room.id, last, replayPage), stillWanted);
      if (replayed === undefined) return undefined;
      last = replayed ?? last;
    }
  }

  /** Sends the held events above `last`, then subscribes: no await between, so nothing falls in between. */
  function subscribeAfterHeld(ws: Socket, room: LocalRoom, joiner: Joiner, last: number) {
    for (const held of joiner.buffer) {
      if (held.seq !== undefined) {
        if (held.seq <= last) continue;
        last = held.seq;
      }
      if (held.origin !== ws) slow.send(ws, held.frame.text(ws.data.protocol)); // its own message came as message_ack
    }
    for (const frame of joiner.presence ?? []) slow.send(ws, frame.text(ws.data.protocol));
    ws.subscribe(topicOf(room, ws.data.protocol));
    room.sockets.add(ws);
    ws.data.roomKeys.set(room.id, room.id);
  }

  return async function join(ws: Socket, req: JoinRequest): Promise<{ lastSeq: number } | undefined> {
    const { afterSeq, ref } = req;
    const room = rooms.open(req.roomId);
    const user = { id: ws.data.user.id, username: ws.data.user.username };
    const joiner: Joiner = { userId: user.id, buffer: [], cancelled: false, overflowed: false };
    room.joiners.add(joiner);
    let presenceAdded = false;
    let subscribed = false;
    const stillWanted = () => {
      if (joiner.cancelled) throw new AppError(404, "not_found", "room not found");
      return ws.readyState === 1 && !req.leftMeanwhile?.();
    };
    try {
      await room.ready;
      const start = afterSeq === undefined ? undefined : await replayStart(room, afterSeq);
      const after = start?.after;
      const firstPage = after === undefined ? [] : await domain.eventsAfter(room.id, after, replayPage);
      presenceAdded = await presence.admit(room.id, user);
      if (!stillWanted()) return;

      // Taken with `joined`, in the same tick: everything released later is held for this socket.
      const base = after ?? room.sequencer.lastReleased;
      const lastSeq = Math.max(room.sequencer.lastReleased, firstPage.at(-1)?.seq ?? 0, after ?? 0);
      const truncated = start?.truncated ? { truncated: true as const, fromSeq: start.after + 1 } : {};
      // v2 frames of this room name it by the alias handed out here.
      ws.data.aliases.set(room.id, room.alias);
      slow.send(ws, encodeFor(ws.data, "joined", { roomId: room.id, slug: req.slug, lastSeq, ...truncated }, { ref, alias: room.alias }));
      // The diffs released from now on apply to this list: they are held for the socket.
      slow.send(ws, encodeFor(ws.data, "presence", presence.firstList(room.id, user)));
      joiner.presence = [];
      const replayed = await streamReplay(ws, room, firstPage, stillWanted);
      if (replayed === undefined) return;
      const last = await catchUpWithLive(ws, room, joiner, replayed ?? base, stillWanted);
      if (last === undefined) return;
      subscribeAfterHeld(ws, room, joiner, last);
      subscribed = true;
      ws.data.roomKeys.set(req.slug, room.id);
      presence.cameOnline(room.id, user);
      return { lastSeq };
    } finally {
      room.joiners.delete(joiner);
      if (presenceAdded && !subscribed) presence.joinAbandoned(room.id, user);
      rooms.closeIfIdle(room);
    }
  };
}

export type JoinSeam = ReturnType<typeof createJoinSeam>;

// The pure parts of the connection's recovery: how long to wait before the next
// attempt, what to send to resume, and when a hole needs filling over HTTP.

export interface ResumePoint {
  /** Every counter value up to this one was applied. */
  lastSeq: number;
  /** Values applied above a hole. */
  ahead: number[];
  /** A page of this room was loaded: lastSeq is meaningful. */
  loaded: boolean;
}

/** Full jitter between half and all of an exponential cap, so a restarted server is not hit by every tab at once. */
export function backoffDelay(attempt: number, random: () => number, baseMs = 400, maxMs = 8_000): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 20));
  return Math.round(cap / 2 + (random() * cap) / 2);
}

/** The join frames that resume every open room where it stopped. */
export function resumeFrames(openRooms: Iterable<string>, pointOf: (roomId: string) => ResumePoint | undefined) {
  return [...openRooms].map((roomId) => {
    const point = pointOf(roomId);
    return { roomId, ...(point?.loaded ? { afterSeq: point.lastSeq } : {}) };
  });
}

/** A room event with this counter value leaves a hole below it. */
export const leavesGap = (point: ResumePoint | undefined, seq: number | undefined) =>
  Boolean(point?.loaded) && seq !== undefined && seq > point!.lastSeq + 1;

/** Applied values sit above a hole that nothing in flight will close. */
export const hasGap = (point: ResumePoint | undefined) => Boolean(point?.loaded) && point!.ahead.length > 0;

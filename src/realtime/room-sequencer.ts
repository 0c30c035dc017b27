import type { RoomEvent } from "../protocol.ts";

export interface Sequenced<T> {
  event: RoomEvent;
  extra?: T;
}

/**
 * Releases one room's events in counter order with no gap. Events may arrive
 * out of order (concurrent commits, several publishers) or not at all (Redis
 * Pub/Sub is at-most-once): an early event is held until the missing ones
 * arrive, and after `gapWaitMs` the hole is filled from Postgres.
 */
export class RoomSequencer<T = unknown> {
  /** Highest value released; -1 until the baseline is known. */
  private delivered = -1;
  private readonly pending = new Map<number, Sequenced<T>>();
  private gapTimer: ReturnType<typeof setTimeout> | undefined;
  private filling: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly release: (item: Sequenced<T>) => void,
    private readonly fetchAfter: (afterSeq: number) => Promise<RoomEvent[]>,
    private readonly gapWaitMs: number,
    private readonly onError: (err: unknown) => void,
    private readonly onGap: () => void = () => {},
  ) {}

  get lastReleased() {
    return this.delivered;
  }

  /** Values up to `lastSeq` are already in Postgres; live delivery starts after them. */
  setBaseline(lastSeq: number) {
    if (this.delivered >= 0) return;
    this.delivered = lastSeq;
    for (const seq of this.pending.keys()) if (seq <= lastSeq) this.pending.delete(seq);
    this.flush();
  }

  push(event: RoomEvent, extra?: T) {
    if (this.closed) return;
    if (this.delivered >= 0 && event.seq <= this.delivered) return; // already released
    const known = this.pending.get(event.seq);
    if (known) {
      if (extra !== undefined && known.extra === undefined) known.extra = extra;
      return;
    }
    this.pending.set(event.seq, { event, extra });
    this.flush();
  }

  /** Look in Postgres now for anything after the last released value (after a bus outage, or to catch up with a replay). */
  async catchUp() {
    if (this.delivered < 0 || this.closed) return;
    await this.fill();
  }

  close() {
    this.closed = true;
    clearTimeout(this.gapTimer);
    this.pending.clear();
  }

  private flush() {
    if (this.delivered < 0) return;
    for (let next = this.pending.get(this.delivered + 1); next; next = this.pending.get(this.delivered + 1)) {
      this.pending.delete(this.delivered + 1);
      this.delivered += 1;
      try {
        this.release(next);
      } catch (err) {
        this.onError(err);
      }
    }
    if (this.pending.size === 0) {
      clearTimeout(this.gapTimer);
      this.gapTimer = undefined;
    } else if (!this.gapTimer) {
      this.onGap();
      this.gapTimer = setTimeout(() => {
        this.gapTimer = undefined;
        void this.fill();
      }, this.gapWaitMs);
    }
  }

  private fill(): Promise<void> {
    this.filling ??= this.readMissing().finally(() => {
      this.filling = undefined;
    });
    return this.filling;
  }

  private async readMissing() {
    try {
      // Postgres has no holes: a value is committed only after every lower one (row lock on rooms).
      for (;;) {
        const before = this.delivered;
        const events = await this.fetchAfter(before);
        if (this.closed) return;
        for (const event of events) this.push(event);
        if (events.length === 0 || this.delivered === before) break;
      }
    } catch (err) {
      this.onError(err);
      if (!this.closed && this.pending.size > 0 && !this.gapTimer) {
        this.gapTimer = setTimeout(() => {
          this.gapTimer = undefined;
          void this.fill();
        }, this.gapWaitMs * 4);
      }
    }
  }
}

import type { RoomEvent } from "../protocol.ts";

export interface Sequenced<T> {
  event: RoomEvent;
  extra?: T;
}

export interface RoomSequencerOptions<T> {
  release(item: Sequenced<T>): void;
  /** Events after this value from the store, in order (one page). */
  fetchAfter(afterSeq: number): Promise<RoomEvent[]>;
  /** How long an early event waits for the missing ones before the store is asked. */
  gapWaitMs: number;
  /** Early events held at most; past it they are dropped and read from the store instead. */
  maxPending?: number;
  onError(err: unknown): void;
  /** Told each time an early event starts waiting for a missing one (a gap). */
  onGap?(): void;
}

/**
 * Releases one room's events in counter order with no gap. Events may arrive
 * out of order (concurrent commits, several publishers) or not at all (Redis
 * Pub/Sub is at-most-once): an early event is held until the missing ones
 * arrive, and after `gapWaitMs` the hole is filled from Postgres. Every event
 * pushed is already committed, so dropping held ones never loses them.
 */
export class RoomSequencer<T = unknown> {
  /** Highest value released; -1 until the baseline is known. */
  private delivered = -1;
  private readonly pending = new Map<number, Sequenced<T>>();
  private gapTimer: ReturnType<typeof setTimeout> | undefined;
  private filling: Promise<void> | undefined;
  private closed = false;
  /** Held events were dropped: the store must be read (once the baseline is known). */
  private mustRead = false;
  private readonly maxPending: number;

  constructor(private readonly opts: RoomSequencerOptions<T>) {
    this.maxPending = opts.maxPending ?? 10_000;
  }

  get lastReleased() {
    return this.delivered;
  }

  get pendingCount() {
    return this.pending.size;
  }

  /** Values up to `lastSeq` are already in Postgres; live delivery starts after them. */
  setBaseline(lastSeq: number) {
    if (this.delivered >= 0) return;
    this.delivered = lastSeq;
    for (const seq of this.pending.keys()) if (seq <= lastSeq) this.pending.delete(seq);
    this.flush();
    if (this.mustRead) void this.fill();
  }

  push(event: RoomEvent, extra?: T) {
    if (this.closed) return;
    if (this.delivered >= 0 && event.seq <= this.delivered) return; // already released
    const known = this.pending.get(event.seq);
    if (known) {
      if (extra !== undefined && known.extra === undefined) known.extra = extra;
      return;
    }
    if (this.pending.size >= this.maxPending) return this.dropPending();
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

  /** Too much held: forget it all and read the store from the last released value. */
  private dropPending() {
    this.pending.clear();
    clearTimeout(this.gapTimer);
    this.gapTimer = undefined;
    this.mustRead = true;
    if (this.delivered >= 0) void this.fill();
  }

  private flush() {
    if (this.delivered < 0) return;
    for (let next = this.pending.get(this.delivered + 1); next; next = this.pending.get(this.delivered + 1)) {
      this.pending.delete(this.delivered + 1);
      this.delivered += 1;
      try {
        this.opts.release(next);
      } catch (err) {
        this.opts.onError(err);
      }
    }
    if (this.pending.size === 0) {
      clearTimeout(this.gapTimer);
      this.gapTimer = undefined;
    } else if (!this.gapTimer) {
      this.opts.onGap?.();
      this.gapTimer = setTimeout(() => {
        this.gapTimer = undefined;
        void this.fill();
      }, this.opts.gapWaitMs);
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
      // A drop while reading (mustRead set again) means one more pass.
      do {
        this.mustRead = false;
        for (;;) {
          const before = this.delivered;
          const events = await this.opts.fetchAfter(before);
          if (this.closed) return;
          for (const event of events) this.push(event);
          if (events.length === 0 || this.delivered === before) break;
        }
      } while (this.mustRead);
    } catch (err) {
      this.mustRead = true;
      this.opts.onError(err);
      if (!this.closed && !this.gapTimer) {
        this.gapTimer = setTimeout(() => {
          this.gapTimer = undefined;
          void this.fill();
        }, this.opts.gapWaitMs * 4);
      }
    }
  }
}

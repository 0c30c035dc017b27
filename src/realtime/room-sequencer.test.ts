// RoomSequencer against the real store: events released in counter order, holes
// filled from Postgres, duplicates ignored, held events bounded.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { RoomEvent } from "../protocol.ts";
import { createRoom, post } from "../../test/support/chat.ts";
import { capabilitiesOf, createTestApp, registerUser, type TestApp } from "../../test/support/test-app.ts";
import { RoomSequencer } from "./room-sequencer.ts";

let t: TestApp;
let roomId: string;
/** The room's 40 events as the store returns them: seq 1..40. */
let events: RoomEvent[];
let eventsAfter: (roomId: string, afterSeq: number, limit: number) => Promise<RoomEvent[]>;

beforeAll(async () => {
  t = await createTestApp("postgres", { RATE_LIMIT_MULTIPLIER: "100" });
  const user = await registerUser(t);
  const room = await createRoom(t, user);
  roomId = room.id;
  for (let i = 1; i <= 40; i++) await post(t, user, room, `m${i}`);
  ({ eventsAfter } = capabilitiesOf(t).messages);
  events = await eventsAfter(roomId, 0, 100);
});
afterAll(() => t?.close());

/** A sequencer on the real store that records what it released and how often it read Postgres. */
function sequencer(opts: { gapWaitMs?: number; maxPending?: number; page?: number } = {}) {
  const released: number[] = [];
  const reads: number[] = [];
  const errors: unknown[] = [];
  const seq = new RoomSequencer<string>({
    release: ({ event }) => released.push(event.seq),
    fetchAfter: (after) => {
      reads.push(after);
      return eventsAfter(roomId, after, opts.page ?? 500);
    },
    gapWaitMs: opts.gapWaitMs ?? 50,
    maxPending: opts.maxPending,
    onError: (err) => errors.push(err),
  });
  return { seq, released, reads, errors };
}

const at = (seq: number) => events[seq - 1]!;
const until = async (check: () => boolean, ms = 3_000) => {
  for (const end = Date.now() + ms; !check() && Date.now() < end; ) await Bun.sleep(10);
};

describe("RoomSequencer", () => {
  test("the store really holds 40 contiguous events", () => {
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  });

  test("out-of-order arrival is released in counter order, without asking the store", async () => {
    const { seq, released, reads } = sequencer({ gapWaitMs: 1_000 });
    seq.setBaseline(10);
    for (const n of [13, 11, 15, 12, 14]) seq.push(at(n));
    expect(released).toEqual([11, 12, 13, 14, 15]);
    expect(seq.lastReleased).toBe(15);
    expect(seq.pendingCount).toBe(0);
    await Bun.sleep(50);
    expect(reads).toEqual([]);
    seq.close();
  });

  test("events pushed before the baseline is known wait for it; those at or below it are dropped", () => {
    const { seq, released } = sequencer();
    seq.push(at(6));
    seq.push(at(4));
    seq.push(at(5));
    expect(released).toEqual([]);
    seq.setBaseline(4);
    expect(released).toEqual([5, 6]);
    seq.close();
  });

  test("a hole that the bus never fills is read from the store after the wait", async () => {
    const { seq, released, reads } = sequencer({ gapWaitMs: 30 });
    seq.setBaseline(20);
    seq.push(at(24)); // 21..23 never arrive
    expect(released).toEqual([]);
    await until(() => released.length >= 20);
    expect(released).toEqual(Array.from({ length: 20 }, (_, i) => i + 21)); // the store also had 25..40
    expect(reads[0]).toBe(20);
    seq.close();
  });

  test("duplicates (bus and local, or replays) are released once", async () => {
    const { seq, released } = sequencer({ gapWaitMs: 1_000 });
    seq.setBaseline(0);
    seq.push(at(2), "origin");
    seq.push(at(2));
    seq.push(at(1));
    seq.push(at(1));
    seq.push(at(2));
    seq.push(at(3));
    seq.push(at(1));
    expect(released).toEqual([1, 2, 3]);
    seq.close();
  });

  test("catchUp reads everything past the last released value, page by page", async () => {
    const { seq, released, reads } = sequencer({ page: 7 });
    seq.setBaseline(5);
    await seq.catchUp();
    expect(released).toEqual(Array.from({ length: 35 }, (_, i) => i + 6));
    expect(reads.slice(0, 3)).toEqual([5, 12, 19]);
    seq.close();
  });

  test("held events are bounded: past the bound they are dropped and read from the store instead", async () => {
    const { seq, released } = sequencer({ gapWaitMs: 5_000, maxPending: 5 });
    seq.setBaseline(0);
    // 1 is missing; 2..40 arrive. Without a bound all 39 would wait for the 5 s gap timer.
    for (let n = 2; n <= 40; n++) {
      seq.push(at(n));
      expect(seq.pendingCount).toBeLessThanOrEqual(5);
    }
    await until(() => released.length >= 40);
    expect(released).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    seq.close();
  });

  test("a bound hit before the baseline is known reads the store once it is", async () => {
    const { seq, released } = sequencer({ gapWaitMs: 5_000, maxPending: 3 });
    for (let n = 31; n <= 40; n++) seq.push(at(n));
    expect(seq.pendingCount).toBeLessThanOrEqual(3);
    seq.setBaseline(30);
    await until(() => released.length >= 10);
    expect(released).toEqual(Array.from({ length: 10 }, (_, i) => i + 31));
    seq.close();
  });

  test("a failing store read is retried, and close stops everything", async () => {
    let failures = 1;
    const released: number[] = [];
    const errors: unknown[] = [];
    const seq = new RoomSequencer({
      release: ({ event }) => released.push(event.seq),
      fetchAfter: (after) => (failures-- > 0 ? Promise.reject(new Error("store down")) : eventsAfter(roomId, after, 500)),
      gapWaitMs: 20,
      onError: (err) => errors.push(err),
    });
    seq.setBaseline(37);
    seq.push(at(40));
    await until(() => released.length >= 3);
    expect(released).toEqual([38, 39, 40]);
    expect(errors.length).toBe(1);
    seq.close();
    seq.push(at(41 - 1));
    expect(released.length).toBe(3);
  });
});

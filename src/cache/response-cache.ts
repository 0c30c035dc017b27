import type { DomainEvent } from "../events.ts";
import type { Cache } from "./cache.ts";

/**
 * Cache-aside for read-heavy GETs, invalidated by version counters instead of
 * deletes: every entry's key carries the versions it was computed under, and a
 * change bumps (INCR) the counters it touches. Readers then look under new keys;
 * old entries are never read again and expire by TTL. No KEYS, SCAN or
 * pattern deletes, and a bump through one instance is seen by every other at
 * once, since they all read the counters from the same Redis.
 *
 * Counters:
 *   epoch            everything (bumped when a bump was lost while Redis was away)
 *   dir              room creations (room lists)
 *   room:<id>:m      membership of a room (memberCount, members pages)
 *   room:<id>:e      message events of a room: raised to each event's counter value, so it
 *                    is the room's lastSeq (history, lastSeq, unread counts)
 *   user:<id>        one user's memberships and read markers (their lists, unread, visibility)
 *   users            sign-ups (the people lookup, GET /api/users)
 */
export interface ResponseCacheOptions {
  cache: Cache;
  /** Off: every GET goes to Postgres (RESPONSE_CACHE=off, for comparisons and emergencies). */
  enabled?: boolean;
  ttlSeconds: number;
  /** Each store call gives up after this: a stalled Redis means bypass, not a stalled request. */
  timeoutMs: number;
  onError?: (err: unknown) => void;
}

export class CacheUnavailable extends Error {}

export function createResponseCache({ cache, enabled = true, ttlSeconds, timeoutMs, onError }: ResponseCacheOptions) {
  const flights = new Map<string, Promise<unknown>>();
  const pendingBumps = new Set<Promise<void>>();
  // A bump that did not reach Redis leaves entries there that look current: retire them all.
  let epochOwed = false;

  function bounded<T>(work: Promise<T>): Promise<T> {
    let timer: Timer | undefined;
    return Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new CacheUnavailable(`cache slower than ${timeoutMs} ms`)), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  async function payEpoch() {
    if (!epochOwed) return;
    await bounded(cache.incr("cv:epoch"));
    epochOwed = false;
  }

  const retry = setInterval(() => void payEpoch().catch(() => {}), 1_000);
  retry.unref?.();

  function bump(...names: string[]) {
    if (!enabled) return;
    track(Promise.all(names.map((n) => cache.incr(`cv:${n}`))));
  }

  /** A room's event counter: its value is the room's lastSeq, which the room list reads from here. */
  function raise(name: string, value: number) {
    if (!enabled) return;
    track(cache.raise(`cv:${name}`, value));
  }

  function track(work: Promise<unknown>) {
    const done = bounded(work).then(
      () => {},
      (err) => {
        epochOwed = true;
        onError?.(err);
      },
    );
    pendingBumps.add(done);
    void done.finally(() => pendingBumps.delete(done));
  }

  return {
    /** The current value of each counter (epoch first), as one stamp string. Throws when the store is unreachable. */
    async stamp(names: string[]): Promise<string[]> {
      if (!enabled) throw new CacheUnavailable("response cache is off");
      await payEpoch();
      const values = await bounded(cache.getMany(["cv:epoch", ...names.map((n) => `cv:${n}`)]));
      return values.map((v) => v ?? "0");
    },

    /** Several entries at once; null where absent. */
    read(keys: string[]): Promise<(string | null)[]> {
      return bounded(cache.getMany(keys.map((k) => `rc:${k}`)));
    },

    /** Best effort: a failed write only costs a later miss. */
    write(key: string, value: string) {
      void bounded(cache.set(`rc:${key}`, value, ttlSeconds)).catch((err) => onError?.(err));
    },

    /** Concurrent misses for one key on this instance compute once. */
    once<T>(key: string, compute: () => Promise<T>): Promise<T> {
      const inFlight = flights.get(key) as Promise<T> | undefined;
      if (inFlight) return inFlight;
      const flight = compute().finally(() => flights.delete(key));
      flights.set(key, flight);
      return flight;
    },

    /** Bumps counters; `settled()` waits for every bump started so far. */
    bump,

    /** A write answers only after its bumps reached the store, so the next read anywhere sees the change. */
    async settled() {
      if (pendingBumps.size) await Promise.all([...pendingBumps]);
    },

    /** Which counters a fact announced after commit changes. Called by the instance that made the change. */
    onDomainEvent(event: DomainEvent) {
      switch (event.type) {
        case "room.event":
          raise(`room:${event.event.roomId}:e`, event.event.seq);
          break;
        case "room.member_joined":
        case "room.member_left":
          bump(`room:${event.roomId}:m`, `user:${event.userId}`);
          break;
        case "room.created":
          bump("dir");
          break;
        case "room.read":
          bump(`user:${event.userId}`);
          break;
      }
    },

    close() {
      clearInterval(retry);
    },
  };
}

export type ResponseCache = ReturnType<typeof createResponseCache>;

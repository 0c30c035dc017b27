import type { ServerData, UserRef } from "../protocol.ts";
import { dedupeUsers, type PresenceStore } from "./store.ts";

/** What presence needs of the real-time layer (which implements it). */
export interface PresenceRooms {
  /** Room ids open on this instance. */
  ids(): Iterable<string>;
  isOpen(roomId: string): boolean;
  /** A diff to every socket of the room on this instance (each in its version), and to those joining it that got their first list. */
  sendToRoom(roomId: string, diff: ServerData<"presence_diff">): void;
  /** Tells the other instances that the room's online set changed. */
  announce(roomId: string): void;
}

export interface RoomPresenceOptions {
  store: PresenceStore;
  rooms: PresenceRooms;
  /** Names listed at most, in the first list and in diffs; past it diffs carry `total` alone. */
  listMax: number;
  logError(what: string): (err: unknown) => void;
}

/** Presence is best effort: a join never waits longer for Redis. */
const PRESENCE_WAIT_MS = 500;
/**
 * Reads and refreshes wait longer: nobody waits on them, and on a busy instance a read
 * cut off early would leave a change unseen until the next heartbeat.
 */
const BACKGROUND_WAIT_MS = 2_000;
/**
 * Reads of one room's set are at least this far apart: changes in between are merged into
 * one diff. A leading edge, not a debounce: the first change is read at once.
 */
const MIN_READ_GAP_MS = 200;

interface RoomState {
  /** This instance's users in the room, counted by socket. */
  local: Map<string, { user: UserRef; sockets: number }>;
  /** The room's online set (every instance) as last read; diffs are taken against it. */
  view: Map<string, UserRef>;
  /** The first list's users, made once per change of `view`. */
  listed?: UserRef[];
  readAt: number;
  reading?: Promise<void>;
  /** A change arrived while reading, or inside the gap: read again. */
  again: boolean;
  timer?: ReturnType<typeof setTimeout>;
}

/**
 * Who is online in the rooms open here. Each instance writes its own users to the
 * shared store, reads each room's whole set (at most once per gap, and every
 * heartbeat), and sends the room's sockets the net change as one `presence_diff`:
 * the same frame for all of them, whatever the room's size.
 */
export function createRoomPresence({ store, rooms, listMax, logError }: RoomPresenceOptions) {
  const states = new Map<string, RoomState>();
  const withinWait = <T>(work: Promise<T>, ms = PRESENCE_WAIT_MS): Promise<T> =>
    Promise.race([work, Bun.sleep(ms).then(() => Promise.reject(new Error("presence store timed out")))]);

  function stateOf(roomId: string): RoomState {
    let state = states.get(roomId);
    if (!state) states.set(roomId, (state = { local: new Map(), view: new Map(), readAt: 0, again: false }));
    return state;
  }

  /** Applies a fresh read: this instance's own users count whatever the store says. */
  function apply(roomId: string, state: RoomState, read: UserRef[]) {
    const next = new Map(read.map((u) => [u.id, u]));
    for (const [id, { user }] of state.local) next.set(id, user);
    const joined: UserRef[] = [];
    const left: string[] = [];
    for (const [id, user] of next) if (!state.view.has(id)) joined.push(user);
    for (const id of state.view.keys()) if (!next.has(id)) left.push(id);
    if (!joined.length && !left.length) return;
    state.view = next;
    state.listed = undefined;
    const total = next.size;
    const named = total <= listMax;
    const diff: ServerData<"presence_diff"> = { roomId, joined: named ? joined : [], left: named ? left : [], total };
    rooms.sendToRoom(roomId, diff);
  }

  async function read(roomIds: string[]) {
    const open = roomIds.filter((id) => rooms.isOpen(id));
    if (!open.length) return;
    const lists = await withinWait(store.list(open), BACKGROUND_WAIT_MS);
    for (const [roomId, list] of lists) {
      const state = states.get(roomId);
      if (state && rooms.isOpen(roomId)) apply(roomId, state, list);
    }
  }

  /** Reads the room now, or as soon as the gap allows; resolves once a read after this call is done. */
  function readSoon(roomId: string): Promise<void> {
    // A room closed meanwhile (its last socket left) keeps no state here.
    const state = states.get(roomId);
    if (!state || !rooms.isOpen(roomId)) return Promise.resolve();
    if (state.reading || state.timer) {
      state.again = true;
      return (state.reading ?? Promise.resolve()).then(() => state.reading);
    }
    const wait = state.readAt + MIN_READ_GAP_MS - Date.now();
    if (wait > 0) {
      state.again = true;
      state.timer = setTimeout(() => {
        state.timer = undefined;
        void readSoon(roomId);
      }, wait);
      return Bun.sleep(wait).then(() => state.reading);
    }
    state.again = false;
    state.readAt = Date.now();
    state.reading = read([roomId])
      // A failed read is not retried here: the heartbeat reads every open room anyway.
      .catch(logError("presence read failed"))
      .finally(() => {
        state.reading = undefined;
        if (state.again && states.get(roomId) === state) void readSoon(roomId);
      });
    return state.reading;
  }

  return {
    /**
     * Writes the joiner's entry (when it is new here) and reads the room, so its first list
     * includes itself. Returns whether the entry was written (undone if the join fails).
     */
    async admit(roomId: string, user: UserRef) {
      const state = stateOf(roomId);
      if (state.local.has(user.id)) return false;
      const added = await withinWait(store.add(roomId, user)).then(
        () => true,
        (err) => (logError("presence add failed")(err), false),
      );
      if (added) rooms.announce(roomId);
      // A room read before is at most one gap old: its diffs bring the joiner up to date.
      // A room never read here is read first, so the joiner's first list is not empty.
      if (state.readAt === 0) await readSoon(roomId);
      else void readSoon(roomId);
      return added;
    },

    /** The first list for a joiner, from this instance's view: the diffs that follow apply to it. */
    firstList(roomId: string, self: UserRef): ServerData<"presence"> {
      const state = stateOf(roomId);
      // Without the store (Redis away) the view may miss the joiner: it is online all the same.
      if (!state.view.has(self.id)) {
        const users = dedupeUsers([...state.view.values(), self]).slice(0, listMax);
        return { roomId, users, total: state.view.size + 1 };
      }
      state.listed ??= dedupeUsers(state.view.values()).slice(0, listMax);
      return { roomId, users: state.listed, total: state.view.size };
    },

    /** A socket of the user is now subscribed to the room. */
    cameOnline(roomId: string, user: UserRef) {
      const state = stateOf(roomId);
      const entry = state.local.get(user.id);
      if (entry) return void (entry.sockets += 1);
      state.local.set(user.id, { user, sockets: 1 });
      // Its entry is in the store already (admit); the view may have missed it if the store was away.
      if (!state.view.has(user.id)) void readSoon(roomId);
    },

    /** One socket fewer; the user's last one here removes its entry at once. */
    wentOffline(roomId: string, userId: string) {
      const state = states.get(roomId);
      const entry = state?.local.get(userId);
      if (!state || !entry) return;
      entry.sockets -= 1;
      if (entry.sockets > 0) return;
      state.local.delete(userId);
      void withinWait(store.remove(roomId, entry.user))
        .then(() => {
          rooms.announce(roomId);
          return readSoon(roomId);
        })
        .catch(logError("presence remove failed"));
    },

    /** Another instance announced a change. */
    changedElsewhere(roomId: string) {
      if (rooms.isOpen(roomId)) void readSoon(roomId);
    },

    /** A join that wrote the user's entry and then did not finish. */
    joinAbandoned(roomId: string, user: UserRef) {
      if (states.get(roomId)?.local.has(user.id)) return;
      void withinWait(store.remove(roomId, user))
        .then(() => {
          rooms.announce(roomId);
          return readSoon(roomId);
        })
        .catch(logError("presence remove failed"));
    },

    /** Rewrites this instance's entries (they expire unless refreshed) and reads every open room once. */
    heartbeat() {
      const entries: { roomId: string; user: UserRef }[] = [];
      for (const [roomId, state] of states) for (const { user } of state.local.values()) entries.push({ roomId, user });
      void withinWait(store.refresh(entries), BACKGROUND_WAIT_MS)
        .then(() => read([...rooms.ids()]))
        .catch(logError("presence heartbeat failed"));
    },

    holding: () => ({ presenceRooms: states.size }),

    roomClosed(roomId: string) {
      const state = states.get(roomId);
      clearTimeout(state?.timer);
      states.delete(roomId);
    },
  };
}

export type RoomPresence = ReturnType<typeof createRoomPresence>;

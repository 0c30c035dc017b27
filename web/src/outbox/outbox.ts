// Messages written before the server confirmed them, kept in IndexedDB so a
// reload or a night offline loses none. Each keeps its clientMsgId: the server
// dedupes on it, so sending an entry again can never post it twice.
import type { UserRef } from "../../../src/protocol.ts";

export interface OutboxEntry {
  clientMsgId: string;
  roomId: string;
  content: string;
  author: UserRef;
  createdAt: string;
}

export const LOCAL_DB_NAME = "chat";
const STORE = "outbox";

const done = <T>(req: IDBRequest<T>) =>
  new Promise<T>((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });

export async function openOutbox(idb: IDBFactory = indexedDB, name = LOCAL_DB_NAME) {
  const open = idb.open(name, 1);
  open.onupgradeneeded = () => open.result.createObjectStore(STORE, { keyPath: ["roomId", "clientMsgId"] });
  const db = await done(open);
  const store = (mode: IDBTransactionMode) => db.transaction(STORE, mode).objectStore(STORE);
  return {
    add: (entry: OutboxEntry) => done(store("readwrite").put(entry)).then(() => undefined),
    remove: (roomId: string, clientMsgId: string) => done(store("readwrite").delete([roomId, clientMsgId])).then(() => undefined),
    async all(): Promise<OutboxEntry[]> {
      const entries = (await done(store("readonly").getAll())) as OutboxEntry[];
      return entries.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    },
    close: () => db.close(),
  };
}

export type Outbox = Awaited<ReturnType<typeof openOutbox>>;

/** Logging out on a shared device: the outbox (and everything else of ours in IndexedDB) goes. */
export function deleteLocalData(idb: IDBFactory = indexedDB, name = LOCAL_DB_NAME) {
  return new Promise<void>((resolve, reject) => {
    const req = idb.deleteDatabase(name);
    req.onsuccess = () => resolve();
    req.onerror = () => reject(req.error);
    req.onblocked = () => resolve();
  });
}

export type SendResult = "sent" | "rejected" | "offline";

/**
 * Sends a room's entries in the order written, each at most once at a time: a
 * second flush while one is in flight does not send it again. Sent and
 * rejected entries leave the outbox; offline ones stay for the next flush.
 */
export function createOutboxSender(outbox: Outbox, send: (entry: OutboxEntry) => Promise<SendResult>, onRejected?: (entry: OutboxEntry) => void) {
  const inFlight = new Set<string>();
  const key = (e: OutboxEntry) => `${e.roomId}\n${e.clientMsgId}`;

  async function sendOne(entry: OutboxEntry): Promise<SendResult> {
    if (inFlight.has(key(entry))) return "offline";
    inFlight.add(key(entry));
    try {
      const result = await send(entry);
      if (result !== "offline") await outbox.remove(entry.roomId, entry.clientMsgId);
      if (result === "rejected") onRejected?.(entry);
      return result;
    } finally {
      inFlight.delete(key(entry));
    }
  }

  return {
    sendOne,
    /** Sends what is waiting for this room (all rooms when omitted), one after another to keep each room's order. */
    async flush(roomId?: string) {
      const blocked = new Set<string>();
      for (const entry of await outbox.all()) {
        if ((roomId !== undefined && entry.roomId !== roomId) || blocked.has(entry.roomId)) continue;
        if ((await sendOne(entry)) === "offline") blocked.add(entry.roomId);
      }
    },
  };
}

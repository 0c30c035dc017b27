import type Redis from "ioredis";
import type { Bus, BusHandler } from "./bus.ts";

/**
 * Redis Pub/Sub bridge. `publisher` is the instance's command connection;
 * `subscriber` is a dedicated connection (ioredis resubscribes it after a reconnect).
 * `confirmWaitMs`: how long subscribe() waits for Redis to confirm before it returns anyway.
 */
export function createRedisBus(publisher: Redis, subscriber: Redis, prefix = "", confirmWaitMs = 250): Bus {
  const handlers = new Map<string, Set<BusHandler>>();
  const reconnectHandlers = new Set<() => void>();
  let connectedBefore = subscriber.status === "ready";
  // ioredis resubscribes every channel on "ready"; what was published meanwhile is gone.
  subscriber.on("ready", () => {
    if (connectedBefore) for (const handler of reconnectHandlers) handler();
    connectedBefore = true;
  });
  subscriber.on("messageBuffer", (channelBuf: Buffer, payload: Buffer) => {
    const set = handlers.get(channelBuf.toString().slice(prefix.length));
    if (!set) return;
    const text = payload.toString();
    for (const handler of set) handler(text);
  });

  return {
    async publish(channel, payload) {
      await publisher.publish(prefix + channel, payload);
    },
    async subscribe(channel, handler) {
      let set = handlers.get(channel);
      if (!set) {
        handlers.set(channel, (set = new Set()));
        const entry = set;
        // Leave no empty entry behind when Redis refuses: the next subscribe must ask Redis again.
        const forget = () => {
          if (handlers.get(channel) === entry && entry.size === 0) handlers.delete(channel);
        };
        const confirmed = subscriber.subscribe(prefix + channel);
        // While Redis is down or frozen the SUBSCRIBE stays queued and completes when Redis is back;
        // the caller goes on meanwhile (events then come from Postgres through the hub's reconcile).
        const outcome = await Promise.race([
          confirmed.then(() => undefined, (err: Error) => err),
          Bun.sleep(confirmWaitMs).then(() => "pending" as const),
        ]);
        if (outcome instanceof Error) {
          forget();
          throw outcome;
        }
        if (outcome === "pending") confirmed.catch(forget);
      }
      set.add(handler);
      return async () => {
        set.delete(handler);
        if (set.size === 0 && handlers.get(channel) === set) {
          handlers.delete(channel);
          // Like SUBSCRIBE, an UNSUBSCRIBE waits in ioredis's queue while Redis is away: waiting
          // for it would hold a drain until Redis is back. Messages for a channel without
          // handlers are dropped meanwhile, and the queued command still runs on reconnect.
          const confirmed = subscriber.unsubscribe(prefix + channel);
          const outcome = await Promise.race([
            confirmed.then(() => undefined, (err: Error) => err),
            Bun.sleep(confirmWaitMs).then(() => "pending" as const),
          ]);
          if (outcome instanceof Error) throw outcome;
          if (outcome === "pending") confirmed.catch(() => {});
        }
      };
    },
    onReconnect(handler) {
      reconnectHandlers.add(handler);
    },
    async ping() {
      await publisher.ping();
    },
    async close() {
      handlers.clear();
    },
  };
}

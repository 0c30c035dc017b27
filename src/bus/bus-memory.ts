import type { Bus, BusHandler } from "./bus.ts";

/** In-process bus: the single-instance default when REDIS_URL is unset. */
export function createMemoryBus(): Bus {
  const handlers = new Map<string, Set<BusHandler>>();
  return {
    async publish(channel, payload) {
      const set = handlers.get(channel);
      if (!set) return;
      // Delivered on a later tick, as a network bus would.
      queueMicrotask(() => {
        for (const handler of set) handler(payload);
      });
    },
    async subscribe(channel, handler) {
      let set = handlers.get(channel);
      if (!set) handlers.set(channel, (set = new Set()));
      set.add(handler);
      return async () => {
        set.delete(handler);
        if (set.size === 0 && handlers.get(channel) === set) handlers.delete(channel);
      };
    },
    async ping() {},
    async close() {
      handlers.clear();
    },
  };
}

// Counts the bus messages of this instance, published and received. Applied once per
// instance in server.ts, so the hub and every other caller are counted alike.
import type { Metrics } from "../metrics/registry.ts";
import type { Bus } from "./bus.ts";

export function instrumentBus(bus: Bus, metrics: Metrics): Bus {
  return {
    ...bus,
    async publish(channel, payload) {
      try {
        await bus.publish(channel, payload);
        metrics.busPublished.inc();
      } catch (err) {
        metrics.busPublishFailed.inc();
        throw err;
      }
    },
    subscribe(channel, handler) {
      return bus.subscribe(channel, (payload) => {
        metrics.busReceived.inc();
        handler(payload);
      });
    },
  };
}

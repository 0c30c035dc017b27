import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** Live readings the registry asks for at scrape time. */
export interface MetricSources {
  /** Statements and transactions under way, counted around each query, and the pool's size. */
  dbPool?: () => { size: number; active: number };
}

/** Caches read through the shared Cache, by key prefix (see cache/cache-metrics.ts); the rest is "other". */
export const CACHE_NAMES = ["session", "response", "response_version", "other"] as const;
export const REDIS_CONNECTIONS = ["commands", "subscriber"] as const;

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** The one prom-client registry of a process; label sets are bounded (route patterns, not URLs). */
export function createMetrics(instanceId: string, sources: MetricSources = {}) {
  const registry = new Registry();
  const registers = [registry];
  registry.setDefaultLabels({ instance_id: instanceId });
  collectDefaultMetrics({ register: registry });
  const metrics = {
    registry,
    httpDuration: new Histogram({
      name: "http_request_duration_seconds",
      help: "HTTP request duration by route pattern",
      labelNames: ["method", "route", "status"] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    httpCache: new Counter({
      name: "http_cache_requests_total",
      help: "Cacheable GETs by endpoint and result (hit, miss, bypass: cache store unreachable)",
      labelNames: ["endpoint", "result"] as const,
      registers: [registry],
    }),
    rateLimited: new Counter({
      name: "rate_limited_total",
      help: "Requests refused with 429, by limit",
      labelNames: ["limit"] as const,
      registers,
    }),
    deliverySeconds: new Histogram({
      name: "message_delivery_seconds",
      help: "A send from its arrival at the store until committed and handed to local sockets and the bus",
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    persistSeconds: new Histogram({
      name: "message_persist_seconds",
      help: "The send statement alone (room counter and insert, one transaction)",
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    busPublished: new Counter({ name: "bus_messages_published_total", help: "Messages published to the bus", registers }),
    busPublishFailed: new Counter({ name: "bus_publish_failures_total", help: "Bus publishes that failed (Redis away)", registers }),
    busReceived: new Counter({ name: "bus_messages_received_total", help: "Messages received from the bus", registers }),
    redisReconnects: new Counter({
      name: "redis_reconnects_total",
      help: "Redis connections that came back after a loss, by connection",
      labelNames: ["connection"] as const,
      registers,
    }),
    cacheRequests: new Counter({
      name: "cache_requests_total",
      help: "Reads of the shared cache, by cache and result (hit or miss)",
      labelNames: ["cache", "result"] as const,
      registers,
    }),
    dbPoolSize: new Gauge({
      name: "db_pool_size",
      help: "Connections the Postgres pool may open",
      registers,
      collect() {
        if (sources.dbPool) this.set(sources.dbPool().size);
      },
    }),
    dbPoolInUse: new Gauge({
      name: "db_pool_in_use",
      help: "Pool connections busy with a statement or transaction now (counted around queries)",
      registers,
      collect() {
        if (sources.dbPool) {
          const { size, active } = sources.dbPool();
          this.set(Math.min(size, active));
        }
      },
    }),
    dbPoolWaiting: new Gauge({
      name: "db_pool_waiting",
      help: "Statements waiting for a free pool connection now (counted around queries)",
      registers,
      collect() {
        if (sources.dbPool) {
          const { size, active } = sources.dbPool();
          this.set(Math.max(0, active - size));
        }
      },
    }),
  };
  // Every series known at start-up is there from the first scrape, at 0.
  // rate_limited_total's limits are listed at 0 by the capabilities, which know the limit table.
  for (const cache of CACHE_NAMES) for (const result of ["hit", "miss"]) metrics.cacheRequests.inc({ cache, result }, 0);
  for (const connection of REDIS_CONNECTIONS) metrics.redisReconnects.inc({ connection }, 0);
  return metrics;
}

export type Metrics = ReturnType<typeof createMetrics>;

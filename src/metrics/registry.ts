import { Counter, collectDefaultMetrics, Histogram, Registry } from "prom-client";

/** The one prom-client registry of a process; label sets are bounded (route patterns, not URLs). */
export function createMetrics(instanceId: string) {
  const registry = new Registry();
  registry.setDefaultLabels({ instance_id: instanceId });
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    httpDuration: new Histogram({
      name: "http_request_duration_seconds",
      help: "HTTP request duration by route pattern",
      labelNames: ["method", "route", "status"] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    httpCache: new Counter({
      name: "http_cache_requests_total",
      help: "Cacheable GETs by endpoint and result (hit, miss, bypass: cache store unreachable)",
      labelNames: ["endpoint", "result"] as const,
      registers: [registry],
    }),
    rateLimited: new Counter({
      name: "rate_limited_total",
      help: "Requests refused with 429",
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

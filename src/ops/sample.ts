import type { Registry } from "prom-client";
import type { OpsSample } from "../protocol.ts";

export type { OpsSample };

interface MetricValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

async function values(registry: Registry, name: string): Promise<MetricValue[] | undefined> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return undefined;
  return (await metric.get()).values as MetricValue[];
}

const sum = (vs: MetricValue[] | undefined, keep: (v: MetricValue) => boolean = () => true) =>
  (vs ?? []).filter(keep).reduce((total, v) => total + v.value, 0);

/**
 * The q-quantile of the observations between two readings of one histogram's cumulative
 * buckets (upper bound -> count), interpolated inside the bucket as Prometheus's
 * histogram_quantile does. Null when no observation fell between them.
 */
export function quantileOfDelta(q: number, before: Map<number, number>, after: Map<number, number>): number | null {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const delta = bounds.map((le) => Math.max(0, (after.get(le) ?? 0) - (before.get(le) ?? 0)));
  const total = delta.at(-1) ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  for (let i = 0; i < bounds.length; i++) {
    if (delta[i]! < rank) continue;
    const upper = bounds[i]!;
    const lower = i === 0 ? 0 : bounds[i - 1]!;
    // Past the largest finite bound there is nothing to interpolate to: report that bound.
    if (!Number.isFinite(upper)) return lower;
    const below = i === 0 ? 0 : delta[i - 1]!;
    const inBucket = delta[i]! - below;
    return lower + (upper - lower) * (inBucket > 0 ? (rank - below) / inBucket : 1);
  }
  return bounds.length > 1 ? bounds.at(-2)! : null;
}

function buckets(vs: MetricValue[] | undefined): Map<number, number> {
  const out = new Map<number, number>();
  for (const v of vs ?? []) {
    if (!v.metricName?.endsWith("_bucket")) continue;
    const le = v.labels.le === "+Inf" ? Infinity : Number(v.labels.le);
    out.set(le, (out.get(le) ?? 0) + v.value);
  }
  return out;
}

const DELIVERY = "message_delivery_seconds";

/**
 * Takes samples from this process's one registry; rates and the p95 are over the time since
 * the previous sample. Metrics that are missing read as 0 or null rather than failing.
 */
export function createSampler(registry: Registry, now: () => number = Date.now) {
  let previous: { t: number; sends: number; buckets: Map<number, number>; hits: number; reads: number } | undefined;

  return async function sample(): Promise<OpsSample> {
    const t = now();
    const [connections, rooms, delivery, cache, httpCache, lag] = await Promise.all([
      values(registry, "ws_connections"),
      values(registry, "rooms_open"),
      values(registry, DELIVERY),
      values(registry, "cache_requests_total"),
      values(registry, "http_cache_requests_total"),
      values(registry, "nodejs_eventloop_lag_seconds"),
    ]);
    const deliveryBuckets = buckets(delivery);
    const sends = sum(delivery, (v) => v.metricName === `${DELIVERY}_count`);
    // The shared cache's reads by cache; an older registry has only the HTTP response cache's.
    const reads = cache ?? httpCache;
    const hits = sum(reads, (v) => v.labels.result === "hit");
    const total = sum(reads, (v) => v.labels.result === "hit" || v.labels.result === "miss");
    const current = { t, sends, buckets: deliveryBuckets, hits, reads: total };
    const last = previous;
    previous = current;

    const seconds = last ? (t - last.t) / 1000 : 0;
    const p95 = last ? quantileOfDelta(0.95, last.buckets, deliveryBuckets) : null;
    const readsInInterval = last ? total - last.reads : 0;
    const lagSeconds = lag?.[0]?.value;
    return {
      t,
      connections: sum(connections),
      messagesPerSecond: last && seconds > 0 ? round(Math.max(0, sends - last.sends) / seconds, 2) : 0,
      deliveryP95Ms: p95 === null ? null : round(p95 * 1000, 2),
      cacheHitRatio: readsInInterval > 0 ? round((hits - last!.hits) / readsInInterval, 3) : null,
      eventLoopLagMs: lagSeconds === undefined || !Number.isFinite(lagSeconds) ? null : round(lagSeconds * 1000, 2),
      openRooms: sum(rooms),
    };
  };
}

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;

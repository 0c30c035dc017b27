// handleSummary for every scenario: a JSON report (SUMMARY_FILE, default
// load/results/<scenario>-<target>.json) with the totals, every threshold's verdict, and
// delivery latency per window with the users connected in it; plus a short text summary.
import { env } from "./plan.js";

const value = (data, name, stat) => data.metrics[name]?.values?.[stat];

export function report(plan, data) {
  const windows = plan.windows.map((w) => {
    const name = `delivery_latency{window:${w.id}}`;
    const count = value(data, name, "count") ?? 0;
    const stat = (k) => (count ? value(data, name, k) ?? null : null);
    return {
      id: w.id,
      fromS: w.fromS,
      toS: w.toS,
      users: w.users,
      // Latency is sampled on one receiver in LATENCY_EVERY: scale the count back to all of them.
      latencySamples: count,
      deliveries: count * env.latencyEvery,
      deliveriesPerSecond: +((count * env.latencyEvery) / (w.toS - w.fromS)).toFixed(1),
      p50: stat("med"),
      p95: stat("p(95)"),
      p99: stat("p(99)"),
      max: stat("max"),
    };
  });
  // Users that held p95 under the target: the last window before the first one that broke it.
  let heldUsers = 0;
  for (const w of windows) {
    if (w.p95 === null || w.deliveries === 0) break;
    if (w.p95 >= plan.latencyP95) break;
    heldUsers = Math.max(heldUsers, w.users);
  }
  const thresholds = {};
  for (const [name, m] of Object.entries(data.metrics)) {
    if (m.thresholds) thresholds[name] = Object.fromEntries(Object.entries(m.thresholds).map(([t, r]) => [t, r.ok]));
  }
  const latency = (name) => ({
    p50: value(data, name, "med") ?? null,
    p90: value(data, name, "p(90)") ?? null,
    p95: value(data, name, "p(95)") ?? null,
    p99: value(data, name, "p(99)") ?? null,
    max: value(data, name, "max") ?? null,
    count: value(data, name, "count") ?? 0,
  });
  return {
    scenario: plan.name,
    target: env.target,
    baseUrl: env.baseUrl,
    at: new Date().toISOString(),
    settings: { latencyEvery: env.latencyEvery, socketsPerVu: env.socketsPerVu, roomSize: env.roomSize, sendEveryS: env.sendEveryS, httpEveryS: env.httpEveryS, latencyP95Ms: plan.latencyP95 },
    plan: { totalUsers: plan.totalUsers, groups: plan.groups },
    // Nothing sent (setup failed before any VU ran, so thresholds had nothing to judge) is no pass.
    passed: (value(data, "messages_sent", "count") ?? 0) > 0 && Object.values(thresholds).every((t) => Object.values(t).every(Boolean)),
    // A run with abortOnFail that broke a threshold was stopped by it (k6 reports no flag).
    aborted: plan.abortOnFail && !Object.values(thresholds).every((t) => Object.values(t).every(Boolean)),
    durationS: +((data.state?.testRunDurationMs ?? 0) / 1000).toFixed(1),
    deliveryLatencyMs: latency("delivery_latency"),
    ackLatencyMs: latency("ack_latency"),
    joinTimeMs: latency("ws_join_time"),
    httpDurationMs: latency("http_req_duration{phase:chat}"),
    httpFailedRate: value(data, "http_req_failed", "rate") ?? 0,
    counts: {
      sent: value(data, "messages_sent", "count") ?? 0,
      acked: value(data, "messages_acked", "count") ?? 0,
      unacked: value(data, "messages_unacked", "count") ?? 0,
      deliveriesReceived: value(data, "deliveries_received", "count") ?? 0,
      deliveriesExpected: value(data, "deliveries_expected", "count") ?? 0,
      deliveriesMissing: value(data, "deliveries_missing", "count") ?? 0,
      duplicated: value(data, "deliveries_duplicated", "count") ?? 0,
      outOfOrder: value(data, "deliveries_out_of_order", "count") ?? 0,
      connectionErrorRate: value(data, "ws_connection_errors", "rate") ?? 0,
      unexpectedCloses: value(data, "ws_unexpected_closes", "count") ?? 0,
      errorFrames: value(data, "ws_error_frames", "count") ?? 0,
      wsBytesReceived: value(data, "ws_bytes_received", "count") ?? 0,
      dataReceivedBytes: value(data, "data_received", "count") ?? 0,
      dataSentBytes: value(data, "data_sent", "count") ?? 0,
    },
    windows,
    heldUsersAtTarget: heldUsers,
    thresholds,
  };
}

function text(r) {
  const l = r.deliveryLatencyMs;
  const c = r.counts;
  const f = (n) => (n === null || n === undefined ? "-" : Number(n).toFixed(1));
  const lines = [
    `scenario ${r.scenario} against ${r.target} (${r.baseUrl}): ${r.passed ? "PASSED" : "FAILED"}${r.aborted ? " (aborted)" : ""}`,
    `  users ${r.plan.totalUsers}, rooms of ${r.settings.roomSize}, a message every ${r.settings.sendEveryS} s, ${r.durationS} s`,
    `  delivery p50/p95/p99/max ${f(l.p50)} / ${f(l.p95)} / ${f(l.p99)} / ${f(l.max)} ms over ${l.count} deliveries`,
    `  ack p95 ${f(r.ackLatencyMs.p95)} ms, join p95 ${f(r.joinTimeMs.p95)} ms, http p95 ${f(r.httpDurationMs.p95)} ms (${(r.httpFailedRate * 100).toFixed(2)}% failed)`,
    `  sent ${c.sent}, acked ${c.acked}, unacked ${c.unacked}; deliveries expected ${c.deliveriesExpected}, received ${c.deliveriesReceived}, missing ${c.deliveriesMissing}, duplicated ${c.duplicated}, out of order ${c.outOfOrder}`,
    `  connection errors ${(c.connectionErrorRate * 100).toFixed(2)}%, unexpected closes ${c.unexpectedCloses}, error frames ${c.errorFrames}, ws bytes in ${c.wsBytesReceived}`,
    "  window  users  deliveries/s    p50    p95    p99",
    ...r.windows.map((w) => `  ${String(w.id).padStart(6)} ${String(w.users).padStart(6)} ${String(w.deliveriesPerSecond).padStart(13)} ${f(w.p50).padStart(6)} ${f(w.p95).padStart(6)} ${f(w.p99).padStart(6)}`),
    `  largest users with delivery p95 < ${r.settings.latencyP95Ms} ms: ${r.heldUsersAtTarget}`,
    ...Object.entries(r.thresholds).flatMap(([m, ts]) => Object.entries(ts).filter(([, ok]) => !ok).map(([t]) => `  threshold broken: ${m} ${t}`)),
  ];
  return lines.join("\n") + "\n";
}

export function summaryFor(plan) {
  return function handleSummary(data) {
    const r = report(plan, data);
    const file = env.summaryFile || `load/results/${plan.name}-${env.target}.json`;
    return { stdout: text(r), [file]: JSON.stringify(r, null, 2) };
  };
}

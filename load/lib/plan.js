// A scenario's plan: groups of users that join at a time and leave at a time, and the
// measurement windows that latency is judged in. Every load script builds one and hands it
// to `chatOptions` (k6 options) and, through the environment, to the VUs.

export const env = {
  target: (__ENV.TARGET || "bun").toLowerCase(),
  /** Our wire encoding: v1 (JSON envelopes, what unmodified clients get) or v2 (chat.v2). */
  protocol: (__ENV.PROTOCOL || "v1").toLowerCase(),
  baseUrl: (__ENV.BASE_URL || "http://127.0.0.1:8080").replace(/\/$/, ""),
  socketsPerVu: Number(__ENV.SOCKETS_PER_VU || 10),
  roomSize: Number(__ENV.ROOM_SIZE || 50),
  sendEveryS: Number(__ENV.SEND_EVERY_S || 5),
  httpEveryS: Number(__ENV.HTTP_EVERY_S || 10),
  drainS: Number(__ENV.DRAIN_S || 10),
  /** Delivery latency is recorded on one receiving socket in this many (1: every socket). */
  latencyEvery: Number(__ENV.LATENCY_EVERY || 5),
  /** First seeded user to use (user<N>@example.com), so two runs can use different users. */
  firstUser: Number(__ENV.FIRST_USER || 1),
  summaryFile: __ENV.SUMMARY_FILE || "",
};

/**
 * groups: [{ name, users, startS, endS, connectS }]: `users` open their sockets over
 * `connectS` seconds from `startS`, send every SEND_EVERY_S until `endS`, then check that
 * they received everything and close.
 * windows: [{ id, fromS, toS, users }]: delivery latency is tagged with the window it was
 * received in; each window gets its own p95 threshold.
 */
export function makePlan({ name, groups, windows, latencyP95, abortOnFail = false }) {
  let offset = 0;
  const placed = groups.map((g) => {
    const out = { ...g, offset };
    offset += g.users;
    return out;
  });
  return { name, groups: placed, windows, latencyP95, abortOnFail, totalUsers: offset };
}

/** Users connected during the whole of [fromS, toS]. */
export function usersDuring(groups, fromS, toS) {
  return groups.filter((g) => g.startS + g.connectS <= fromS && g.endS >= toS).reduce((n, g) => n + g.users, 0);
}

/** Consecutive windows of `windowS` over [fromS, toS), each with the users connected throughout. */
export function evenWindows(groups, fromS, toS, windowS) {
  const out = [];
  for (let s = fromS, id = 0; s + windowS <= toS; s += windowS, id++) {
    out.push({ id, fromS: s, toS: s + windowS, users: usersDuring(groups, s, s + windowS) });
  }
  return out;
}

export function windowAt(plan, elapsedS) {
  for (const w of plan.windows) if (elapsedS >= w.fromS && elapsedS < w.toS) return String(w.id);
  return "none";
}

export function chatOptions(plan, { httpP95 = 500, connectionErrors = "rate<0.01" } = {}) {
  const scenarios = {};
  for (const g of plan.groups) {
    scenarios[g.name] = {
      executor: "per-vu-iterations",
      vus: Math.ceil(g.users / env.socketsPerVu),
      iterations: 1,
      startTime: `${g.startS}s`,
      maxDuration: `${g.endS - g.startS + env.drainS + 30}s`,
      gracefulStop: "10s",
      exec: "chatUsers",
    };
  }
  // A window is judged for stopping the run only once it is over: its p95 then covers all of it.
  const latency = (w) => ({ threshold: `p(95)<${plan.latencyP95}`, abortOnFail: plan.abortOnFail, delayAbortEval: `${Math.ceil(w.toS) + 1}s` });
  const thresholds = {
    delivery_latency: [`p(95)<${plan.latencyP95}`],
    // The chat phase only: setup's sign-ins (argon2, on purpose slow) are not the API under load.
    "http_req_duration{phase:chat}": [`p(95)<${httpP95}`],
    ws_connection_errors: [connectionErrors],
    // Every message committed while a member was joined reached that member.
    deliveries_missing: ["count==0"],
    // Every message sent was acknowledged to its sender.
    messages_unacked: ["count==0"],
    // A run that sent nothing (setup failed, nobody joined) proves nothing: it fails.
    messages_sent: ["count>0"],
    deliveries_received: ["count>0"],
  };
  for (const w of plan.windows) thresholds[`delivery_latency{window:${w.id}}`] = [latency(w)];
  return {
    scenarios,
    thresholds,
    setupTimeout: "600s",
    teardownTimeout: "60s",
    summaryTrendStats: ["avg", "min", "med", "p(90)", "p(95)", "p(99)", "max", "count"],
    discardResponseBodies: false,
  };
}

// Smoke, run by the test suite (test/system/k6-smoke.test.ts) against two instances behind
// Caddy: about 50 users in rooms of 10 for 20 s, each sending every 2 s, with the HTTP mix.
// It enforces correctness (no connection error, every message to every member, every send
// acknowledged); its latency ceiling is generous, only what a real regression breaks.
//   k6 run -e BASE_URL=http://127.0.0.1:8080 load/smoke.js        (users from bun run seed)
import { chatOptions, evenWindows, makePlan } from "./lib/plan.js";
import { setupFor, usersFor } from "./lib/session.js";
import { summaryFor } from "./lib/summary.js";

const users = Number(__ENV.USERS || 50);
const durationS = Number(__ENV.DURATION_S || 20);
const groups = [{ name: "smoke", users, startS: 0, endS: durationS, connectS: 3 }];
const plan = makePlan({ name: "smoke", groups, windows: evenWindows(groups, 5, durationS, 5), latencyP95: Number(__ENV.LATENCY_P95 || 1000) });

export const options = chatOptions(plan, { httpP95: 2000, connectionErrors: "rate==0" });
export const setup = setupFor(plan);
export const chatUsers = usersFor(plan);
export const handleSummary = summaryFor(plan);

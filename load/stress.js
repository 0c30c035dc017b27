// Stress: STEP_USERS more users every STEP_S seconds, up to MAX_USERS, until delivery p95
// breaks LATENCY_P95 (100 ms) in a step; the run then stops. p95 is computed per step over
// the step's second half (the first half is the new users connecting), and the summary
// reports the largest number of users that held p95 < 100 ms.
//   k6 run -e BASE_URL=http://127.0.0.1:8080 load/stress.js     (bun run seed -- --users 5000 first)
import { chatOptions, makePlan, usersDuring } from "./lib/plan.js";
import { setupFor, usersFor } from "./lib/session.js";
import { summaryFor } from "./lib/summary.js";

const maxUsers = Number(__ENV.MAX_USERS || 5000);
const stepUsers = Number(__ENV.STEP_USERS || 500);
const stepS = Number(__ENV.STEP_S || 30);
const steps = Math.ceil(maxUsers / stepUsers);
const endS = steps * stepS;
const groups = Array.from({ length: steps }, (_, k) => ({
  name: `step_${k}`,
  users: Math.min(stepUsers, maxUsers - k * stepUsers),
  startS: k * stepS,
  endS,
  connectS: Math.min(stepS / 3, 10),
}));
const windows = groups.map((g, k) => ({ id: k, fromS: k * stepS + stepS / 2, toS: (k + 1) * stepS }));
for (const w of windows) w.users = usersDuring(groups, w.fromS, w.toS);

const plan = makePlan({ name: "stress", groups, windows, latencyP95: Number(__ENV.LATENCY_P95 || 100), abortOnFail: true });
export const options = chatOptions(plan);
export const setup = setupFor(plan);
export const chatUsers = usersFor(plan);
export const handleSummary = summaryFor(plan);

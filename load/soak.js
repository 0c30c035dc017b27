// Soak: USERS (500) connected for DURATION_S (1,800 s = 30 min), each sending every 5 s.
// Windows of 60 s: latency must not drift; `bun run bench -- --scenario soak` samples each
// process's RSS and the instances' ws_connections every few seconds to show memory and
// connection drift.
//   k6 run -e BASE_URL=http://127.0.0.1:8080 load/soak.js
import { chatOptions, evenWindows, makePlan } from "./lib/plan.js";
import { setupFor, usersFor } from "./lib/session.js";
import { summaryFor } from "./lib/summary.js";

const users = Number(__ENV.USERS || 500);
const durationS = Number(__ENV.DURATION_S || 1800);
const windowS = Number(__ENV.WINDOW_S || 60);
const groups = [{ name: "soak", users, startS: 0, endS: durationS, connectS: 10 }];
const plan = makePlan({ name: "soak", groups, windows: evenWindows(groups, 10, durationS, windowS), latencyP95: Number(__ENV.LATENCY_P95 || 100) });
export const options = chatOptions(plan);
export const setup = setupFor(plan);
export const chatUsers = usersFor(plan);
export const handleSummary = summaryFor(plan);

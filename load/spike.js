// Spike: BASE_USERS connected for the whole run (DURATION_S, 90 s); SPIKE_USERS more arrive
// within SPIKE_CONNECT_S (2 s) at SPIKE_AT_S (30 s) and leave SPIKE_S (30 s) later. Windows
// of 10 s show latency before, during and after the spike.
//   k6 run -e BASE_URL=http://127.0.0.1:8080 load/spike.js
import { chatOptions, evenWindows, makePlan } from "./lib/plan.js";
import { setupFor, usersFor } from "./lib/session.js";
import { summaryFor } from "./lib/summary.js";

const baseUsers = Number(__ENV.BASE_USERS || 300);
const spikeUsers = Number(__ENV.SPIKE_USERS || 700);
const durationS = Number(__ENV.DURATION_S || 90);
const spikeAt = Number(__ENV.SPIKE_AT_S || 30);
const spikeS = Number(__ENV.SPIKE_S || 30);
const groups = [
  { name: "base", users: baseUsers, startS: 0, endS: durationS, connectS: 5 },
  { name: "spike", users: spikeUsers, startS: spikeAt, endS: spikeAt + spikeS, connectS: Number(__ENV.SPIKE_CONNECT_S || 2) },
];
const windows = evenWindows(groups, 10, durationS, 10);
for (const w of windows) {
  // During the spike's arrival the users count is what is connecting, not what held.
  if (w.fromS < spikeAt + 2 && w.toS > spikeAt) w.users = baseUsers + spikeUsers;
}
const plan = makePlan({ name: "spike", groups, windows, latencyP95: Number(__ENV.LATENCY_P95 || 100) });
export const options = chatOptions(plan);
export const setup = setupFor(plan);
export const chatUsers = usersFor(plan);
export const handleSummary = summaryFor(plan);

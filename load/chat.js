// Chat: ramping to USERS (1,000) users in rooms of 50 (ROOM_SIZE), each sending every 5 s
// (SEND_EVERY_S), in steps of STEP_USERS every STEP_S, then held for HOLD_S; plus the HTTP
// mix (room list, history pages, read markers) every HTTP_EVERY_S per VU.
//   k6 run -e BASE_URL=http://127.0.0.1:8080 load/chat.js       (bun run seed -- --users 1000 first)
import { chatOptions, makePlan, usersDuring } from "./lib/plan.js";
import { setupFor, usersFor } from "./lib/session.js";
import { summaryFor } from "./lib/summary.js";

const users = Number(__ENV.USERS || 1000);
const stepUsers = Number(__ENV.STEP_USERS || 200);
const stepS = Number(__ENV.STEP_S || 10);
const holdS = Number(__ENV.HOLD_S || 60);
const steps = Math.ceil(users / stepUsers);
const endS = steps * stepS + holdS;
const groups = Array.from({ length: steps }, (_, k) => ({
  name: `ramp_${k}`,
  users: Math.min(stepUsers, users - k * stepUsers),
  startS: k * stepS,
  endS,
  connectS: Math.min(stepS, 5),
}));
// One window per ramp step (its second half) and the hold cut in 10 s windows.
const windows = [];
for (let k = 0; k < steps; k++) windows.push({ id: k, fromS: k * stepS + stepS / 2, toS: (k + 1) * stepS });
for (let s = steps * stepS, id = steps; s + 10 <= endS; s += 10, id++) windows.push({ id, fromS: s, toS: s + 10 });
for (const w of windows) w.users = usersDuring(groups, w.fromS, w.toS);

const plan = makePlan({ name: "chat", groups, windows, latencyP95: Number(__ENV.LATENCY_P95 || 100) });
export const options = chatOptions(plan);
export const setup = setupFor(plan);
export const chatUsers = usersFor(plan);
export const handleSummary = summaryFor(plan);

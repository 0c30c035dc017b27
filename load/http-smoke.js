// k6 smoke test of the HTTP API: register once per VU, then log in and read
// /api/me in a loop. Small and bounded (5 VUs, 10 s); fails on a p95 over 500 ms
// or any failed check.
//   bun run load:smoke                         starts a throwaway instance
//   bun run load:smoke --base-url http://127.0.0.1:8080
//   k6 run -e BASE_URL=http://127.0.0.1:3000 load/http-smoke.js
// The server must allow one address this many sign-ins: run it with
// RATE_LIMIT_MULTIPLIER=100 (load:smoke does so for the instance it starts).
import http from "k6/http";
import { check, fail, sleep } from "k6";

const BASE_URL = (__ENV.BASE_URL || "http://127.0.0.1:3000").replace(/\/$/, "");

export const options = {
  vus: Number(__ENV.VUS || 5),
  duration: __ENV.DURATION || "10s",
  thresholds: {
    http_req_duration: ["p(95)<500"],
    http_req_failed: ["rate<0.01"],
    checks: ["rate>0.99"],
  },
};

const json = { headers: { "content-type": "application/json" } };
const run = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
let account = null;

export function setup() {
  const res = http.get(`${BASE_URL}/readyz`);
  if (res.status !== 200) fail(`${BASE_URL}/readyz answered ${res.status}: is the server up?`);
}

export default function () {
  if (!account) {
    const name = `k6${run}v${__VU}`;
    account = { email: `${name}@example.com`, username: name.slice(0, 32), password: "k6 smoke password" };
    const reg = http.post(`${BASE_URL}/api/auth/register`, JSON.stringify(account), json);
    if (!check(reg, { "register 201": (r) => r.status === 201 })) fail(`register: ${reg.status} ${reg.body}`);
  }

  const login = http.post(
    `${BASE_URL}/api/auth/login`,
    JSON.stringify({ email: account.email, password: account.password }),
    json,
  );
  check(login, { "login 200": (r) => r.status === 200 && typeof r.json("token") === "string" });
  if (login.status !== 200) return;

  const me = http.get(`${BASE_URL}/api/me`, { headers: { authorization: `Bearer ${login.json("token")}` } });
  check(me, { "me 200": (r) => r.status === 200 && r.json("user.email") === account.email });
  sleep(0.5);
}

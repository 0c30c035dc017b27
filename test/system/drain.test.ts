// SIGTERM drains in order, seen from outside a real process: /readyz turns 503 first while
// requests are still served for twice the health-check interval; then new requests get 503
// JSON while those in flight finish (no connection is reset); then sockets close with 1012; the
// process exits 0.
import { afterAll, expect, test } from "bun:test";
import { startServer, type ServerProcess } from "../support/server-process.ts";
import { createDatabase, serverEnv } from "../support/test-app.ts";
import { signUp } from "../support/test-cluster.ts";
import { ChatClient } from "../support/ws-client.ts";

const INTERVAL_MS = 500;
let server: ServerProcess | undefined;
afterAll(async () => {
  await server?.stop("SIGKILL");
});

interface Seen {
  path: string;
  startedAt: number;
  at: number;
  /** 0: no HTTP answer (refused or reset); -1: no answer within 10 s (a starved machine). */
  status: number;
}

test("SIGTERM: /readyz 503 first, requests served for 2 intervals, then 503 JSON, then sockets 1012, exit 0", async () => {
  server = startServer({
    DATABASE_URL: await createDatabase(),
    REDIS_URL: serverEnv().REDIS_URL!,
    HEALTH_CHECK_INTERVAL_MS: String(INTERVAL_MS),
    RATE_LIMIT_MULTIPLIER: "100",
    LOG_LEVEL: "warn",
  });
  await server.waitReady();
  const user = await signUp(server.url, "dr");
  const socket = await ChatClient.connect(server.url, user.token);
  let socketClosedAt = 0;
  const closed = socket.until(() => socket.closed, 15_000).then((c) => ((socketClosedAt = Date.now()), c));

  const seen: Seen[] = [];
  let polling = true;
  const poll = async (path: string, init?: RequestInit, everyMs = 25) => {
    const pending: Promise<void>[] = [];
    while (polling) {
      const startedAt = Date.now();
      pending.push(
        fetch(`${server!.url}${path}`, { ...init, signal: AbortSignal.timeout(10_000) })
          .then(async (res) => {
            seen.push({ path, startedAt, at: Date.now(), status: res.status });
            if (res.status === 503 && path !== "/readyz") expect(((await res.json()) as any).error.code).toBe("unavailable");
            else await res.body?.cancel();
          })
          .catch((err: Error) => {
            seen.push({ path, startedAt, at: Date.now(), status: err.name === "TimeoutError" ? -1 : 0 });
          }),
      );
      await Bun.sleep(everyMs);
    }
    await Promise.all(pending);
  };
  const auth = { headers: { authorization: `Bearer ${user.token}` } };
  // Logins take a while (argon2id): some are always in flight when the refusal starts.
  const login = {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: user.email, password: "correct horse battery" }),
  };
  const polls = Promise.all([poll("/readyz"), poll("/api/me", auth), poll("/healthz"), poll("/api/auth/login", login, 100)]);
  await Bun.sleep(200);

  const once = (path: string, init: RequestInit) => {
    const startedAt = Date.now();
    return fetch(`${server!.url}${path}`, { ...init, signal: AbortSignal.timeout(10_000) })
      .then(async (res) => {
        seen.push({ path, startedAt, at: Date.now(), status: res.status });
        await res.body?.cancel();
      })
      .catch(() => void seen.push({ path, startedAt, at: Date.now(), status: 0 }));
  };
  const sigtermAt = Date.now();
  // Just before the refusal, a burst of logins (argon2id, two cores): some are still running when it starts.
  const burst = Bun.sleep(2 * INTERVAL_MS - 100).then(() => Promise.all(Array.from({ length: 10 }, () => once("/api/auth/login", login))));
  const exit = server.stop("SIGTERM");
  const code = await exit;
  await closed;
  polling = false;
  await Promise.all([polls, burst]);

  expect(code).toBe(0);
  expect(socket.closed?.code).toBe(1012);
  const after = seen.filter((s) => s.startedAt >= sigtermAt);
  const firstUnready = Math.min(...after.filter((s) => s.path === "/readyz" && s.status === 503).map((s) => s.at));
  const firstRefused = Math.min(...after.filter((s) => s.path === "/api/me" && s.status === 503).map((s) => s.at));
  const lastServed = Math.max(...after.filter((s) => s.path === "/api/me" && s.status === 200).map((s) => s.at));
  // 1. /readyz first, at once.
  expect(firstUnready - sigtermAt).toBeLessThan(300);
  // 2. Requests still served for twice the interval, refused only after it.
  expect(lastServed - sigtermAt).toBeGreaterThan(2 * INTERVAL_MS - 200);
  expect(firstRefused - sigtermAt).toBeGreaterThanOrEqual(2 * INTERVAL_MS - 50);
  expect(firstRefused).toBeGreaterThan(firstUnready);
  // 3. Those in flight finished: a login begun before the refusal was answered 200 after it.
  expect(after.some((s) => s.path === "/api/auth/login" && s.startedAt < firstRefused && s.at > firstRefused && s.status === 200)).toBe(true);
  // Nothing was reset: every request begun before the sockets closed got an HTTP answer.
  expect(seen.filter((s) => s.startedAt < socketClosedAt - 50 && s.status === 0)).toEqual([]);
  // 4. Sockets closed after requests were refused.
  expect(socketClosedAt).toBeGreaterThanOrEqual(firstRefused);
}, 60_000);

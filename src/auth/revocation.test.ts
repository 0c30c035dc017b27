// A logout whose revocation marker cannot be written to the shared cache must not
// leave another instance trusting its cached copy of the session for 60 s.
import { afterAll, expect, test } from "bun:test";
import { createTestApp, registerUser, type TestApp } from "../../test/support/test-app.ts";

const apps: TestApp[] = [];
afterAll(async () => {
  for (const a of apps) await a.close();
});

test("a failed marker write is retried: the other instance refuses the token within 2 s", async () => {
  const a = await createTestApp("postgres");
  apps.push(a);
  const b = await createTestApp("postgres", { DATABASE_URL: a.env.DATABASE_URL! }, { redisPrefix: a.redisPrefix });
  apps.push(b);
  const user = await registerUser(a);
  // B reads the session once: it is now cached (60 s) in the Redis both share.
  expect((await b.call("GET", "/api/me", { token: user.token })).status).toBe(200);

  // A's cache writes fail for a moment, as during a Redis blip.
  const cache = a.stores.cache;
  const set = cache.set.bind(cache);
  let failures = 3;
  cache.set = (...args) => (failures-- > 0 ? Promise.reject(new Error("redis blip")) : set(...args));
  expect((await a.call("POST", "/api/auth/logout", { token: user.token })).status).toBe(204);
  expect(failures).toBeLessThan(3);

  const revokedAt = Date.now();
  let status = 200;
  while (status === 200 && Date.now() - revokedAt < 3_000) {
    status = (await b.call("GET", "/api/me", { token: user.token })).status;
    if (status === 200) await Bun.sleep(100);
  }
  expect(status).toBe(401);
  expect(Date.now() - revokedAt).toBeLessThan(2_000);
});

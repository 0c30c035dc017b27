import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createTestApp, type TestApp } from "../../test/support/test-app.ts";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

const reset = () => Object.assign(t.state, { ready: true, leaving: false, draining: false });

describe("readiness and the start-up and drain gates", () => {
  test("ready: 200 with Postgres and both Redis connections in the body, and the gauge at 1", async () => {
    const res = await t.call("GET", "/readyz");
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: "ready", postgres: "up", redis: { commands: "up", subscriber: "up" } });
    const metrics = await t.call("GET", "/metrics");
    expect(metrics.body).toMatch(/^redis_connection_up\{[^}]*connection="commands"[^}]*\} 1$/m);
    expect(metrics.body).toMatch(/^redis_connection_up\{[^}]*connection="subscriber"[^}]*\} 1$/m);
  });

  test("before migrations: /healthz 200, /readyz 503 starting, everything else 503 unavailable", async () => {
    t.state.ready = false;
    try {
      expect((await t.call("GET", "/healthz")).status).toBe(200);
      const ready = await t.call("GET", "/readyz");
      expect(ready.status).toBe(503);
      expect(ready.body.status).toBe("starting");
      for (const path of ["/api/me", "/api/rooms", "/metrics", "/api/openapi.json"]) {
        const res = await t.call("GET", path);
        expect(res.status).toBe(503);
        expect(res.body.error.code).toBe("unavailable");
        expect(res.headers.get("retry-after")).toBe("1");
      }
    } finally {
      reset();
    }
  });

  test("leaving: /readyz 503 draining while requests are still served; draining: requests 503", async () => {
    t.state.leaving = true;
    try {
      const ready = await t.call("GET", "/readyz");
      expect(ready.status).toBe(503);
      expect(ready.body.status).toBe("draining");
      expect((await t.call("GET", "/api/me")).status).toBe(401); // served: no token
      t.state.draining = true;
      const refused = await t.call("GET", "/api/me");
      expect(refused.status).toBe(503);
      expect(refused.body.error).toMatchObject({ code: "unavailable" });
      expect((await t.call("GET", "/healthz")).status).toBe(200);
    } finally {
      reset();
    }
  });

  test("in-process stores report redis as in-process and never fail readiness over it", async () => {
    const embedded = await createTestApp("pglite");
    try {
      const res = await embedded.call("GET", "/readyz");
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ status: "ready", postgres: "up", redis: "in-process" });
    } finally {
      await embedded.close();
    }
  });
});

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createTestApp, registerUser, type TestApp } from "../../test/support/test-app.ts";

describe("cross-site writes", () => {
  let t: TestApp;
  let listed: TestApp;
  beforeAll(async () => {
    t = await createTestApp("postgres");
    listed = await createTestApp("postgres", { ALLOWED_ORIGINS: "https://chat.example" });
  });
  afterAll(async () => {
    await Promise.all([t?.close(), listed?.close()]);
  });

  const createRoom = (app: TestApp, headers: Record<string, string>, body = { name: `r ${Math.random()}` }) =>
    app.call("POST", "/api/rooms", { body, headers: { "content-type": "application/json", ...headers } });

  test("a form or text/plain POST with the session cookie creates nothing (415)", async () => {
    const user = await registerUser(t);
    for (const type of ["text/plain", "application/x-www-form-urlencoded"]) {
      const res = await t.call("POST", "/api/rooms", {
        body: JSON.stringify({ name: "csrf" }),
        headers: { cookie: `chat_session=${user.token}`, origin: "https://evil.example", "content-type": type },
      });
      expect(res.status).toBe(415);
      expect(res.body.error.code).toBe("unsupported_media_type");
    }
    const mine = await t.call("GET", "/api/rooms?limit=100", { token: user.token });
    expect(mine.body.data.map((r: { name: string }) => r.name)).not.toContain("csrf");
  });

  test("a cookie-authenticated write from a foreign Origin is 403; Bearer and Origin-less requests pass", async () => {
    const user = await registerUser(t);
    const cookie = `chat_session=${user.token}`;
    const evil = await createRoom(t, { cookie, origin: "https://evil.example" });
    expect(evil.status).toBe(403);
    expect(evil.body.error.code).toBe("forbidden");
    // With no list, only this server's own origin (app.request's URLs are http://localhost).
    expect((await createRoom(t, { cookie, origin: "http://localhost" })).status).toBe(201);
    expect((await createRoom(t, { cookie })).status).toBe(201);
    expect((await createRoom(t, { authorization: `Bearer ${user.token}`, origin: "https://evil.example" })).status).toBe(201);
    // A body-less write is checked too.
    const leave = await t.call("POST", "/api/rooms/general/leave", { headers: { cookie, origin: "https://evil.example" } });
    expect(leave.status).toBe(403);
    // Reads are not writes.
    expect((await t.call("GET", "/api/me", { headers: { cookie, origin: "https://evil.example" } })).status).toBe(200);
  });

  test("ALLOWED_ORIGINS lists the origins cookie writes may come from", async () => {
    const user = await registerUser(listed);
    const cookie = `chat_session=${user.token}`;
    expect((await createRoom(listed, { cookie, origin: "https://chat.example" })).status).toBe(201);
    expect((await createRoom(listed, { cookie, origin: "http://localhost" })).status).toBe(403);
  });

  test("a POST with no body and no Content-Type passes", async () => {
    const user = await registerUser(t);
    const res = await t.app.request("/api/rooms/general/join", { method: "POST", headers: { authorization: `Bearer ${user.token}` } });
    expect(res.status).toBe(200);
  });
});

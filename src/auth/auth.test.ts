import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createTestApp, newAccount, registerUser, type Driver, type TestApp } from "../../test/support/test-app.ts";

for (const driver of ["postgres", "pglite"] as Driver[]) {
  describe(`accounts on ${driver}`, () => {
    let t: TestApp;
    // PGlite's start-up (initdb in WASM) can take several seconds.
    beforeAll(async () => {
      t = await createTestApp(driver);
    }, 30_000);
    afterAll(async () => {
      await t?.close();
    });

    test("register returns the user, a URL-safe token and a session cookie", async () => {
      const account = newAccount();
      const res = await t.call("POST", "/api/auth/register", { body: account });
      expect(res.status).toBe(201);
      expect(res.body.user).toEqual({ id: expect.any(String), email: account.email, username: account.username });
      expect(res.body.token).toMatch(/^[A-Za-z0-9_-]{40,}$/);
      const cookie = res.headers.get("set-cookie") ?? "";
      expect(cookie).toContain(`chat_session=${res.body.token}`);
      expect(cookie).toContain("HttpOnly");
      expect(cookie).toContain("SameSite=Lax");
    });

    test("a new account is a member of general at once: it is in my rooms and its member count grew", async () => {
      const before = await t.call("GET", "/api/rooms/general", { token: (await registerUser(t)).token });
      expect(before.status).toBe(200);
      const user = await registerUser(t);
      const mine = await t.call("GET", "/api/rooms?mine=true", { token: user.token });
      expect(mine.status).toBe(200);
      expect(mine.body.data.map((r: { slug: string }) => r.slug)).toEqual(["general"]);
      const general = await t.call("GET", "/api/rooms/general", { token: user.token });
      expect(general.body.unreadCount).toBe(0); // members only
      expect(general.body.memberCount).toBe(before.body.memberCount + 1);
      // Joining again changes nothing and costs nothing.
      const again = await t.call("POST", "/api/rooms/general/join", { token: user.token });
      expect(again.status).toBe(200);
      expect(again.body.memberCount).toBe(general.body.memberCount);
    });

    test("a username taken by another account is 409, and no membership is left behind for it", async () => {
      const first = await registerUser(t);
      const members = async () => (await t.call("GET", "/api/rooms/general", { token: first.token })).body.memberCount as number;
      const count = await members();
      const res = await t.call("POST", "/api/auth/register", { body: { ...newAccount(), username: first.username } });
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe("conflict");
      expect(await members()).toBe(count);
    });

    test("login, me by bearer and by cookie, logout revokes", async () => {
      const user = await registerUser(t);
      const login = await t.call("POST", "/api/auth/login", { body: { email: user.email.toUpperCase(), password: user.password } });
      expect(login.status).toBe(200);
      expect(login.body.user.id).toBe(user.id);
      const token = login.body.token as string;
      expect(token).not.toBe(user.token);

      const me = await t.call("GET", "/api/me", { token });
      expect(me.status).toBe(200);
      expect(me.body).toEqual({ user: { id: user.id, email: user.email, username: user.username } });
      const byCookie = await t.call("GET", "/api/me", { headers: { cookie: `chat_session=${token}` } });
      expect(byCookie.status).toBe(200);

      const out = await t.call("POST", "/api/auth/logout", { token });
      expect(out.status).toBe(204);
      expect((await t.call("GET", "/api/me", { token })).status).toBe(401);
      expect((await t.call("GET", "/api/me", { headers: { cookie: `chat_session=${token}` } })).status).toBe(401);
      expect((await t.call("POST", "/api/auth/logout", { token })).status).toBe(401);
      // The other session of the same user is untouched.
      expect((await t.call("GET", "/api/me", { token: user.token })).status).toBe(200);
    });

    test("unknown email and wrong password answer alike", async () => {
      const user = await registerUser(t);
      const wrong = await t.call("POST", "/api/auth/login", { body: { email: user.email, password: "not the password" } });
      const unknown = await t.call("POST", "/api/auth/login", { body: { email: `nobody-${user.email}`, password: "whatever1" } });
      expect(wrong.status).toBe(401);
      expect(unknown.status).toBe(401);
      expect(unknown.body).toEqual(wrong.body);
      expect(wrong.body.error.code).toBe("unauthorized");
    });

    test("duplicate email or username (any case) is 409 naming the field", async () => {
      const user = await registerUser(t);
      const sameEmail = await t.call("POST", "/api/auth/register", {
        body: { ...newAccount(), email: user.email.toUpperCase() },
      });
      expect(sameEmail.status).toBe(409);
      expect(sameEmail.body.error.code).toBe("conflict");
      expect(sameEmail.body.error.details).toEqual([{ field: "email", message: expect.any(String) }]);
      const sameName = await t.call("POST", "/api/auth/register", {
        body: { ...newAccount(), username: user.username.toUpperCase() },
      });
      expect(sameName.status).toBe(409);
      expect(sameName.body.error.details[0].field).toBe("username");
    });

    test("a missing, malformed or unknown token is 401", async () => {
      for (const headers of [{} as Record<string, string>, { authorization: "Bearer" }, { authorization: "Basic abc" }, { authorization: "Bearer nope" }, { authorization: `Bearer ${"x".repeat(43)}` }]) {
        const res = await t.call("GET", "/api/me", { headers });
        expect(res.status).toBe(401);
        expect(res.body.error.code).toBe("unauthorized");
      }
    });
  });
}

const app = (t: TestApp) => t.app;

describe("validation and errors", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp("postgres");
  });
  afterAll(async () => {
    await t?.close();
  });

  const cases: [string, unknown, string[]][] = [
    ["empty body", {}, ["email", "username", "password"]],
    ["bad email", { ...newAccount(), email: "not-an-email" }, ["email"]],
    ["short username", { ...newAccount(), username: "ab" }, ["username"]],
    ["long username", { ...newAccount(), username: "a".repeat(33) }, ["username"]],
    ["username with spaces", { ...newAccount(), username: "a b c" }, ["username"]],
    ["short password", { ...newAccount(), password: "short" }, ["password"]],
    ["wrong types", { email: 1, username: [], password: null }, ["email", "username", "password"]],
    ["unknown field", { ...newAccount(), admin: true }, ["(body)"]],
  ];
  for (const [name, body, fields] of cases) {
    test(`register: ${name} is 400 listing every invalid field`, async () => {
      const res = await t.call("POST", "/api/auth/register", { body });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe("invalid_request");
      const named = (res.body.error.details as { field: string }[]).map((d) => d.field).sort();
      expect(named).toEqual([...fields].sort());
    });
  }

  test("malformed JSON is 400 invalid_json", async () => {
    const res = await t.call("POST", "/api/auth/login", { body: "{not json" });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("invalid_json");
  });

  test("a body that is not application/json is 415; a charset is fine; a missing body is 400", async () => {
    const user = await registerUser(t);
    const credentials = JSON.stringify({ email: user.email, password: user.password });
    for (const type of ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonx"]) {
      const res = await t.call("POST", "/api/auth/login", { body: credentials, headers: { "content-type": type } });
      expect(res.status).toBe(415);
      expect(res.body.error.code).toBe("unsupported_media_type");
    }
    const noType = await app(t).request("/api/auth/login", { method: "POST", body: new TextEncoder().encode(credentials) });
    expect(noType.status).toBe(415);
    const charset = await t.call("POST", "/api/auth/login", { body: credentials, headers: { "content-type": "application/json; charset=utf-8" } });
    expect(charset.status).toBe(200);
    const empty = await t.call("POST", "/api/auth/register");
    expect(empty.status).toBe(400);
  });

  test("a body over 1 MiB is 413 before parsing", async () => {
    const res = await t.call("POST", "/api/auth/register", { body: `{"email":"${"a".repeat(1_100_000)}"}` });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe("payload_too_large");
  });

  test("unknown API routes are 404 JSON", async () => {
    const res = await t.call("GET", "/api/does-not-exist");
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("not_found");
  });

  test("a served path asked with another method is 405 JSON with Allow", async () => {
    for (const [method, path, allow] of [
      ["DELETE", "/api/me", "GET, HEAD"],
      ["TRACE", "/api/rooms", "GET, HEAD, POST"],
      ["PUT", "/api/rooms/general/messages", "GET, HEAD, POST"],
      ["GET", "/api/auth/login", "POST"],
    ] as const) {
      const res = await t.call(method, path);
      expect(res.status).toBe(405);
      expect(res.headers.get("allow")).toBe(allow);
      expect(res.body.error.code).toBe("method_not_allowed");
    }
  });

  test("health, readiness and draining", async () => {
    expect((await t.call("GET", "/healthz")).status).toBe(200);
    expect((await t.call("GET", "/readyz")).status).toBe(200);
    t.state.draining = true;
    const draining = await t.call("GET", "/readyz");
    t.state.draining = false;
    expect(draining.status).toBe(503);
    expect(draining.body.status).toBe("draining");
    expect((await t.call("GET", "/healthz")).status).toBe(200);
  });

  test("openapi document lists the full /api paths", async () => {
    const res = await t.call("GET", "/api/openapi.json");
    expect(res.status).toBe(200);
    expect(res.body.openapi).toStartWith("3.");
    expect(Object.keys(res.body.paths)).toEqual(
      expect.arrayContaining(["/api/auth/register", "/api/auth/login", "/api/auth/logout", "/api/me"]),
    );
    // Every operation with a body documents 413 and 415; every one 429.
    for (const [path, item] of Object.entries(res.body.paths as Record<string, Record<string, any>>)) {
      for (const [method, op] of Object.entries(item)) {
        expect({ path, method, has429: "429" in op.responses }).toEqual({ path, method, has429: true });
        if (op.requestBody) expect({ path, method, documented: ["400", "413", "415"].every((s) => s in op.responses) }).toEqual({ path, method, documented: true });
      }
    }
  });

  test("metrics are exposed in Prometheus format", async () => {
    await t.call("GET", "/healthz");
    const res = await t.call("GET", "/metrics");
    expect(res.status).toBe(200);
    expect(res.body).toMatch(/^http_request_duration_seconds_count\{[^}]*route="\/healthz",status="200"\} [1-9]/m);
  });
});

describe("across instances and limits", () => {
  test("logout on one instance revokes the token on another at once", async () => {
    const a = await createTestApp("postgres");
    const b = await createTestApp("postgres", { DATABASE_URL: a.env.DATABASE_URL! }, { redisPrefix: a.redisPrefix });
    try {
      const user = await registerUser(a);
      // Warm b's session cache first: revocation must not wait for it to expire.
      expect((await b.call("GET", "/api/me", { token: user.token })).status).toBe(200);
      expect((await a.call("POST", "/api/auth/logout", { token: user.token })).status).toBe(204);
      expect((await b.call("GET", "/api/me", { token: user.token })).status).toBe(401);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  test("failed logins are limited per account with 429 and Retry-After", async () => {
    const t = await createTestApp("postgres");
    try {
      const user = await registerUser(t);
      const statuses: number[] = [];
      for (let i = 0; i < 11; i++) {
        const ip = `10.0.0.${i}`; // different addresses: the per-account limit still holds
        const res = await t.call("POST", "/api/auth/login", {
          body: { email: user.email, password: "wrong password" },
          headers: { "x-forwarded-for": ip },
        });
        statuses.push(res.status);
        if (res.status === 429) {
          expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
          expect(res.body.error.code).toBe("rate_limited");
        }
      }
      expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401));
      expect(statuses[10]).toBe(429);
    } finally {
      await t.close();
    }
  });

  test("a locked account answers 429 with Retry-After to the right password too, on every instance", async () => {
    const a = await createTestApp("postgres");
    const b = await createTestApp("postgres", { DATABASE_URL: a.env.DATABASE_URL! }, { redisPrefix: a.redisPrefix });
    try {
      const user = await registerUser(a);
      for (let i = 0; i < 10; i++) {
        const wrong = await a.call("POST", "/api/auth/login", { body: { email: user.email, password: "wrong password" } });
        expect(wrong.status).toBe(401);
      }
      for (const t of [a, b, a]) {
        const right = await t.call("POST", "/api/auth/login", { body: { email: user.email, password: user.password } });
        expect(right.status).toBe(429);
        expect(right.body.error.code).toBe("rate_limited");
        expect(Number(right.headers.get("retry-after"))).toBeGreaterThan(800);
        expect(right.body.token).toBeUndefined();
      }
      // The lock is the account's, not the caller's: another account logs in as usual.
      const other = await registerUser(b);
      expect((await a.call("POST", "/api/auth/login", { body: { email: other.email, password: other.password } })).status).toBe(200);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  test("X-Forwarded-For counts only from TRUSTED_PROXIES peers", async () => {
    const login = (t: TestApp, peer: string, forwarded: string) =>
      t.app.request(
        "/api/auth/login",
        {
          method: "POST",
          headers: { "content-type": "application/json", "x-forwarded-for": forwarded },
          // A new account each time: only the per-address limit is in play.
          body: JSON.stringify({ email: `nobody${Math.random().toString(36).slice(2)}@example.com`, password: "whatever1" }),
        },
        { ip: peer },
      );
    // 30 per minute x 0.1 = 3 per address.
    const plain = await createTestApp("postgres", { RATE_LIMIT_MULTIPLIER: "0.1" });
    const proxied = await createTestApp("postgres", { RATE_LIMIT_MULTIPLIER: "0.1", TRUSTED_PROXIES: "127.0.0.1, 10.1.0.0/16" });
    try {
      // Untrusted loopback peer: a new forged address each time does not reset the count.
      const forged = [];
      for (let i = 0; i < 4; i++) forged.push((await login(plain, "127.0.0.1", `198.51.100.${i}`)).status);
      expect(forged).toEqual([401, 401, 401, 429]);
      // Behind a trusted proxy, the hop it appended is the client; hops left of it are the client's own words.
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await login(proxied, "127.0.0.1", `1.2.3.${i}, 198.51.100.9`)).status);
      expect(statuses).toEqual([401, 401, 401, 429]);
      // Another client behind the same proxy has a count of its own, from any trusted peer.
      expect((await login(proxied, "127.0.0.1", "198.51.100.10")).status).toBe(401);
      expect((await login(proxied, "::ffff:127.0.0.1", "198.51.100.10")).status).toBe(401);
      expect((await login(proxied, "10.1.200.7", "198.51.100.10")).status).toBe(401);
      // A peer outside the list is the client itself, whatever it forwards.
      const direct = [];
      for (let i = 0; i < 4; i++) direct.push((await login(proxied, "192.0.2.50", `198.51.100.${100 + i}`)).status);
      expect(direct).toEqual([401, 401, 401, 429]);
    } finally {
      await Promise.all([plain.close(), proxied.close()]);
    }
  }, 30_000); // fourteen argon2id logins: more than the default 5 s on a busy machine

  test("logins are limited per address, scaled by RATE_LIMIT_MULTIPLIER", async () => {
    const t = await createTestApp("postgres", { RATE_LIMIT_MULTIPLIER: "0.1" });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        const res = await t.call("POST", "/api/auth/login", {
          body: { email: `nobody${i}@example.com`, password: "whatever1" },
          headers: { "x-forwarded-for": "192.0.2.7" },
        });
        statuses.push(res.status);
      }
      // 30 per minute x 0.1 = 3.
      expect(statuses).toEqual([401, 401, 401, 429]);
    } finally {
      await t.close();
    }
  });
});

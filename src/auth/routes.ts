import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { deleteCookie, setCookie } from "hono/cookie";
import type { Env } from "../env.ts";
import { clientIp } from "../http/client-ip.ts";
import type { AppEnv } from "../http/context.ts";
import { AppError, unauthorized } from "../http/errors.ts";
import type { RateLimiter } from "../rate-limit/limiter.ts";
import { createRouter } from "../http/router.ts";
import { ErrorResponse, jsonBody, jsonResponse } from "../http/openapi.ts";
import { requireAuth, SESSION_COOKIE, tokenFrom } from "./middleware.ts";
import type { PasswordHasher } from "./password.ts";
import type { Sessions } from "./session.ts";
import type { Users } from "./users.ts";

// The HTML5 form's rule (what browsers accept), so the documented format and the check agree.
const Email = z.email({ pattern: z.regexes.html5Email }).max(254).transform((v) => v.toLowerCase());
const Password = z.string().min(8).max(256);
const Username = z
  .string()
  .min(3)
  .max(32)
  .regex(/^[A-Za-z0-9_.-]+$/, "letters, digits, _ . - only");

export const Me = z.object({ id: z.string(), email: z.string(), username: z.string() }).openapi("Me");
const AuthResult = z.object({ user: Me, token: z.string() }).openapi("AuthResult");

const register = createRoute({
  method: "post",
  path: "/register",
  tags: ["auth"],
  description: "Creates the account, signed in, as a member of the public room `general` (in the same transaction).",
  request: { body: jsonBody(z.object({ email: Email, username: Username, password: Password }).strict()) },
  responses: { 201: jsonResponse(AuthResult, "Account created and signed in"), 400: ErrorResponse, 409: ErrorResponse, 429: ErrorResponse },
});

const login = createRoute({
  method: "post",
  path: "/login",
  tags: ["auth"],
  request: { body: jsonBody(z.object({ email: Email, password: z.string().min(1).max(256) }).strict()) },
  responses: { 200: jsonResponse(AuthResult, "Signed in; also sets the session cookie"), 400: ErrorResponse, 401: ErrorResponse, 429: ErrorResponse },
});

const logout = (sessions: Sessions) => createRoute({
  method: "post",
  middleware: [requireAuth(sessions)] as const,
  path: "/logout",
  tags: ["auth"],
  security: [{ bearer: [] }],
  responses: { 204: { description: "Token revoked on every instance" }, 401: ErrorResponse },
});

export interface AuthDeps {
  env: Env;
  users: Users;
  sessions: Sessions;
  passwords: PasswordHasher;
  limiter: RateLimiter;
  /** Told after a logout, so every instance can close that session's sockets. */
  onSessionRevoked?: (sessionId: string, userId: string) => void;
  /** A new account, with the rooms it was made a member of (general). */
  onUserCreated?: (userId: string, joinedRoomIds: string[]) => void;
}

export function authRoutes(deps: AuthDeps) {
  const { env, users, sessions, passwords, limiter } = deps;

  const signIn = async (c: Context<AppEnv>, user: { id: string; email: string; username: string }) => {
    const { token, expiresAt } = await sessions.create(user.id);
    const proto = c.req.header("x-forwarded-proto") ?? new URL(c.req.url).protocol.replace(":", "");
    setCookie(c, SESSION_COOKIE, token, {
      httpOnly: true,
      sameSite: "Lax",
      path: "/",
      secure: env.COOKIE_SECURE === "auto" ? proto === "https" : env.COOKIE_SECURE === "true",
      expires: expiresAt,
    });
    return { user, token };
  };

  return createRouter()
    .openapi(register, async (c) => {
      await limiter.take("register", `ip:${clientIp(c)}`);
      const { email, username, password } = c.req.valid("json");
      const { user, joinedRoomIds } = await users.create({ email, username, passwordHash: await passwords.hash(password) });
      deps.onUserCreated?.(user.id, joinedRoomIds);
      return c.json(await signIn(c, user), 201);
    })
    .openapi(login, async (c) => {
      const { email, password } = c.req.valid("json");
      await limiter.take("login", `ip:${clientIp(c)}`);
      // A locked account stays locked, whatever the password: checked before it is.
      const accountKey = `account:${email}`;
      await limiter.peek("login_failure", accountKey);
      const found = await users.findByEmail(email);
      const ok = found ? await passwords.verify(password, found.passwordHash) : await passwords.verifyDummy(password);
      if (!found || !ok) {
        // Only failures count against an account, so an attacker's successes cannot lock its owner out.
        await limiter.take("login_failure", accountKey);
        throw unauthorized("wrong email or password");
      }
      return c.json(await signIn(c, { id: found.id, email: found.email, username: found.username }), 200);
    })
    .openapi(logout(sessions), async (c) => {
      const token = tokenFrom(c);
      if (!token) throw new AppError(401, "unauthorized", "authentication required");
      await sessions.revoke(token);
      const { sessionId, user } = c.get("auth");
      deps.onSessionRevoked?.(sessionId, user.id);
      deleteCookie(c, SESSION_COOKIE, { path: "/" });
      return c.body(null, 204);
    });
}

const me = (sessions: Sessions) => createRoute({
  method: "get",
  middleware: [requireAuth(sessions)] as const,
  path: "/me",
  tags: ["auth"],
  security: [{ bearer: [] }],
  responses: { 200: jsonResponse(z.object({ user: Me }), "The signed-in user"), 401: ErrorResponse },
});

export function meRoutes(sessions: Sessions) {
  return createRouter()
    .openapi(me(sessions), (c) => c.json({ user: c.get("auth").user }, 200));
}

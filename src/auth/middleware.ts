import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import type { AppEnv } from "../http/context.ts";
import { unauthorized } from "../http/errors.ts";
import type { Sessions } from "./session.ts";

export const SESSION_COOKIE = "chat_session";

/** The token from `Authorization: Bearer …` or, for browsers, the session cookie. */
export function tokenFrom(c: Context<AppEnv>): string | undefined {
  const header = c.req.header("authorization");
  if (header) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return match?.[1];
  }
  return getCookie(c, SESSION_COOKIE) || undefined;
}

export function requireAuth(sessions: Sessions): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const token = tokenFrom(c);
    if (!token) throw unauthorized();
    const auth = await sessions.resolve(token);
    if (!auth) throw unauthorized("invalid or expired token");
    c.set("auth", auth);
    await next();
  };
}

import type { MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import type { AppEnv } from "./context.ts";
import { AppError } from "./errors.ts";
import { originAllowed } from "./origin.ts";

const JSON_TYPE = /^application\/json\s*(;|$)/i;
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

function hasBody(req: Request): boolean {
  const length = req.headers.get("content-length");
  if (length !== null) return Number(length) > 0;
  return req.headers.has("transfer-encoding") || req.body !== null;
}

/**
 * What a cross-site page can send without a preflight is a form or text/plain
 * body with the user's cookie: writes take only JSON bodies (415 otherwise),
 * and a cookie-authenticated write from a foreign Origin is 403. Bearer
 * requests and requests without Origin (not a browser) carry no ambient
 * credential, so they are not checked.
 */
export function csrfGuard(opts: { allowedOrigins: string[]; sessionCookie: string }): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const req = c.req.raw;
    if (SAFE_METHODS.has(req.method)) return next();
    const type = req.headers.get("content-type");
    if (hasBody(req)) {
      if (!type || !JSON_TYPE.test(type)) {
        throw new AppError(415, "unsupported_media_type", "request bodies must be application/json");
      }
    } else if (!type) {
      // No body: let the route's validator see an empty JSON body (400 where one is required).
      const headers = new Headers(req.headers);
      headers.set("content-type", "application/json");
      c.req.raw = new Request(req, { headers });
    }
    const origin = req.headers.get("origin");
    const byCookie = !req.headers.has("authorization") && Boolean(getCookie(c, opts.sessionCookie));
    if (origin && byCookie && !originAllowed(req, origin, opts.allowedOrigins)) {
      throw new AppError(403, "forbidden", "origin not allowed");
    }
    await next();
  };
}

import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../http/context.ts";
import type { RateLimiter } from "./limiter.ts";
import type { LimitKind } from "./limits.ts";

/** After requireAuth: spends one request of `kind` from the signed-in user's bucket. */
export const limitPerUser = (limiter: RateLimiter, kind: LimitKind) =>
  createMiddleware<AppEnv>(async (c, next) => {
    await limiter.take(kind, c.get("auth").user.id);
    await next();
  });

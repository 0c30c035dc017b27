import type { Context } from "hono";
import { errorBody } from "./errors.ts";

/**
 * For the app's not-found handler: a path the app serves, asked with a method it
 * does not serve there, is 405 with the methods it does (Allow), not 404.
 */
export function methodNotAllowed(routes: { method: string; path: string }[]) {
  const served = routes
    .filter((r) => r.method !== "ALL" && !r.path.includes("*"))
    .map((r) => ({ method: r.method, pattern: new RegExp(`^${r.path.replace(/:[^/]+/g, "[^/]+")}/?$`) }));
  return (c: Context): Response | undefined => {
    const allowed = new Set(served.filter((r) => r.pattern.test(c.req.path)).map((r) => r.method));
    if (!allowed.size || allowed.has(c.req.method)) return undefined;
    if (allowed.has("GET")) allowed.add("HEAD");
    const allow = [...allowed].sort().join(", ");
    return c.json(errorBody("method_not_allowed", `${c.req.method} is not served here; use ${allow}`), 405, { Allow: allow });
  };
}

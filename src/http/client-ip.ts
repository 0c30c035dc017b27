import type { Context } from "hono";
import type { AppEnv } from "./context.ts";

const LOOPBACK = /^(127\.|::1$|::ffff:127\.)/;

/**
 * The caller's address. Behind our Caddy (a loopback peer) the last
 * X-Forwarded-For hop is the one Caddy saw; a client cannot forge it.
 */
export function clientIp(c: Context<AppEnv>): string {
  const peer = c.env?.ip;
  const forwarded = c.req.header("x-forwarded-for");
  if (forwarded && (!peer || LOOPBACK.test(peer))) {
    const hops = forwarded.split(",").map((h) => h.trim()).filter(Boolean);
    const last = hops.at(-1);
    if (last) return last;
  }
  return peer ?? "unknown";
}

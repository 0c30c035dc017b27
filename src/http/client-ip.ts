import { BlockList, isIP } from "node:net";
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "./context.ts";

function trustList(entries: string[]) {
  const list = new BlockList();
  for (const entry of entries) {
    const [address, prefix] = entry.split("/") as [string, string?];
    const type = isIP(address) === 6 ? "ipv6" : "ipv4";
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(prefix), type);
  }
  return (address: string) => {
    const plain = address.replace(/^::ffff:(?=\d+\.)/, "");
    const family = isIP(plain);
    return family !== 0 && list.check(plain, family === 6 ? "ipv6" : "ipv4");
  };
}

/**
 * Sets the caller's address for the limits. X-Forwarded-For is read only when
 * the peer is a trusted proxy (TRUSTED_PROXIES), and then only its last hop: the
 * address our proxy (Caddy appends it) saw. Hops further left were written by
 * the client. Not walking past trusted hops matters on a loopback cluster, where
 * a local client has the proxy's own address.
 */
export function clientAddress(trustedProxies: string[]): MiddlewareHandler<AppEnv> {
  const trusted = trustList(trustedProxies);
  return async (c, next) => {
    const peer = c.env?.ip;
    let address = peer ?? "unknown";
    const forwarded = c.req.header("x-forwarded-for");
    if (peer && forwarded && trusted(peer)) {
      const last = forwarded.split(",").map((h) => h.trim()).filter(Boolean).at(-1);
      if (last) address = last;
    }
    c.set("clientIp", address);
    await next();
  };
}

/** The caller's address, as set by clientAddress. */
export const clientIp = (c: Context<AppEnv>): string => c.get("clientIp") ?? c.env?.ip ?? "unknown";

/**
 * Whether a browser's Origin may act here: listed in ALLOWED_ORIGINS ("*" for
 * any), or, with none listed (development), the origin of this very request.
 */
export function originAllowed(req: Request, origin: string, allowed: string[]): boolean {
  if (allowed.length) return allowed.includes(origin) || allowed.includes("*");
  const url = new URL(req.url);
  const host = req.headers.get("x-forwarded-host") ?? req.headers.get("host") ?? url.host;
  const proto = req.headers.get("x-forwarded-proto") ?? url.protocol.replace(":", "");
  return origin === `${proto}://${host}`;
}

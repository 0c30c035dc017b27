// The PWA's files, served by Bun before Hono: fingerprinted assets cached
// forever, the shell and the service worker revalidated on every load, the
// shell for every app route (not for the API), precompressed .gz when asked.
import { existsSync, statSync } from "node:fs";
import { extname, join, normalize, resolve } from "node:path";

/** Paths the server answers itself: never a file, never the app shell. */
const SERVER_PATHS = /^\/(api|ws|healthz|readyz|metrics)(\/|$)/;
/** Fingerprinted names as the build writes them: name-<hash>.ext. */
const HASHED = /-[a-z0-9]{8,}\.[a-z0-9]+$/;
const IMMUTABLE = "public, max-age=31536000, immutable";
const REVALIDATE = "no-cache";

/** No inline scripts: every script is a file of ours. Inline styles stay (the virtual list positions rows with them). */
export const APP_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "worker-src 'self'",
  "manifest-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const TYPES: Record<string, string> = {
  ".webmanifest": "application/manifest+json",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".html": "text/html; charset=utf-8",
};

export interface WebAssets {
  /** A response for a file or an app route; undefined for the server's own paths and missing files. */
  serve(req: Request, url: URL): Promise<Response | undefined>;
}

export function createWebAssets(dir: string, opts: { spaFallback?: boolean } = {}): WebAssets {
  const root = resolve(dir);
  const shell = join(root, "index.html");
  const spaFallback = opts.spaFallback ?? true;

  function fileFor(pathname: string): string | undefined {
    let decoded: string;
    try {
      decoded = decodeURIComponent(pathname);
    } catch {
      return undefined;
    }
    const path = normalize(join(root, decoded));
    if (!path.startsWith(root)) return undefined; // ../ out of the folder
    return existsSync(path) && statSync(path).isFile() ? path : undefined;
  }

  return {
    async serve(req, url) {
      if (req.method !== "GET" && req.method !== "HEAD") return undefined;
      const { pathname } = url;
      if (SERVER_PATHS.test(pathname)) return undefined;
      let file = pathname === "/" ? undefined : fileFor(pathname);
      // An app route (no extension) gets the shell; a missing file stays a 404.
      if (!file && spaFallback && (pathname === "/" || !extname(pathname)) && existsSync(shell)) file = shell;
      if (!file) return undefined;

      const name = file.slice(root.length);
      const headers = new Headers({
        "cache-control": HASHED.test(name) ? IMMUTABLE : REVALIDATE,
        "x-content-type-options": "nosniff",
        vary: "accept-encoding",
      });
      const type = TYPES[extname(file)];
      if (type) headers.set("content-type", type);
      if (file === shell) {
        headers.set("content-security-policy", APP_CSP);
        headers.set("referrer-policy", "no-referrer");
        headers.set("x-frame-options", "DENY");
      }
      if (name === "/sw.js") headers.set("service-worker-allowed", "/");
      const gz = `${file}.gz`;
      if (/\bgzip\b/.test(req.headers.get("accept-encoding") ?? "") && existsSync(gz)) {
        headers.set("content-encoding", "gzip");
        return new Response(req.method === "HEAD" ? null : Bun.file(gz), { headers });
      }
      return new Response(req.method === "HEAD" ? null : Bun.file(file), { headers });
    },
  };
}

import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createWebAssets } from "./web-assets.ts";

const dir = mkdtempSync(join(tmpdir(), "web-assets-"));
writeFileSync(join(dir, "index.html"), "<!doctype html><title>shell</title>");
writeFileSync(join(dir, "index-abcd1234.js"), "console.log(1)");
writeFileSync(join(dir, "index-abcd1234.js.gz"), Bun.gzipSync(new TextEncoder().encode("console.log(1)")));
writeFileSync(join(dir, "sw.js"), "self");
mkdirSync(join(dir, "icons"));
writeFileSync(join(dir, "icons/icon-192.png"), "png");
writeFileSync(join(tmpdir(), "outside.txt"), "secret");
const assets = createWebAssets(dir);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const get = (path: string, headers: Record<string, string> = {}, method = "GET") => {
  const url = new URL(`http://localhost${path}`);
  return assets.serve(new Request(url, { method, headers }), url);
};

describe("web assets", () => {
  test("fingerprinted files are immutable for a year; the shell and the service worker are revalidated", async () => {
    expect((await get("/index-abcd1234.js"))!.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    const shell = (await get("/"))!;
    expect(shell.headers.get("cache-control")).toBe("no-cache");
    expect(await shell.text()).toContain("shell");
    expect((await get("/sw.js"))!.headers.get("cache-control")).toBe("no-cache");
    expect((await get("/icons/icon-192.png"))!.headers.get("content-type")).toBe("image/png");
  });

  test("the shell carries a CSP without inline scripts", async () => {
    const csp = (await get("/"))!.headers.get("content-security-policy")!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
    expect(csp).toContain("object-src 'none'");
  });

  test("app routes get the shell; the server's own paths, missing files and other methods do not", async () => {
    for (const path of ["/r/some-room", "/login", "/search"]) expect(await (await get(path))!.text()).toContain("shell");
    for (const path of ["/api/me", "/api/unknown/route", "/ws", "/healthz", "/readyz", "/metrics", "/missing-file.js", "/../outside.txt", "/%2e%2e/outside.txt", "/..%2foutside.txt", "/..%2f..%2fetc%2fpasswd"]) {
      expect(await get(path)).toBeUndefined();
    }
    expect(await get("/", {}, "POST")).toBeUndefined();
  });

  test("gzip is served precompressed when asked for", async () => {
    const res = (await get("/index-abcd1234.js", { "accept-encoding": "gzip, br" }))!;
    expect(res.headers.get("content-encoding")).toBe("gzip");
    expect(new TextDecoder().decode(Bun.gunzipSync(new Uint8Array(await res.arrayBuffer())))).toBe("console.log(1)");
    expect((await get("/index-abcd1234.js"))!.headers.get("content-encoding")).toBeNull();
  });
});

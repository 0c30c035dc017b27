import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import type { HTMLBundle } from "bun";
import type { Env } from "../env.ts";
import type { Logger } from "../log.ts";
import { createWebAssets, type WebAssets } from "./web-assets.ts";

export interface WebApp {
  /** Bun's HTML-import routes (development: bundled in memory, hot reload, no service worker). */
  routes?: Record<string, HTMLBundle>;
  /** Files on disk: the production build, or web/public in development. */
  assets?: WebAssets;
}

const APP_ROUTES = ["/", "/login", "/signup", "/browse", "/search", "/ops", "/r/*"];
const ROOT = resolve(import.meta.dir, "../..");

/** `bun dev` serves web/ through HTML imports; every other mode serves the build in WEB_DIR. */
export async function loadWeb(env: Env, log: Logger): Promise<WebApp> {
  if (env.NODE_ENV === "development") {
    const { default: index } = await import("../../web/index.html");
    return {
      routes: Object.fromEntries(APP_ROUTES.map((path) => [path, index])),
      assets: createWebAssets(join(ROOT, "web/public"), { spaFallback: false }),
    };
  }
  const dir = resolve(ROOT, env.WEB_DIR);
  if (!existsSync(join(dir, "index.html"))) {
    log.warn("no web build: run `bun run build` to serve the app", { dir });
    return {};
  }
  return { assets: createWebAssets(dir) };
}

// Builds the PWA into dist/web: the app (Bun's bundler, HTML entry, code
// splitting, production React), the service worker at /sw.js, workbox's
// precache manifest injected into it (the app shell precached as "/"), the
// static files of web/public, and a .gz beside every text asset.
//   bun scripts/build-web.ts [--out dist/web]
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { injectManifest } from "workbox-build";

const ROOT = resolve(import.meta.dir, "..");
const production = { "process.env.NODE_ENV": JSON.stringify("production") };

/** Fingerprinted file names, as Bun writes them: name-<hash>.ext. */
export const HASHED = /-[a-z0-9]{8,}\.[a-z0-9]+$/;

export async function buildWeb(outDir = resolve(ROOT, "dist/web")) {
  rmSync(outDir, { recursive: true, force: true });
  const app = await Bun.build({
    entrypoints: [join(ROOT, "web/index.html")],
    outdir: outDir,
    splitting: true,
    minify: true,
    sourcemap: "none",
    // Absolute URLs: the shell is also served at /r/:room and other app routes.
    publicPath: "/",
    define: production,
    naming: { entry: "[name].[ext]", chunk: "[name]-[hash].[ext]", asset: "[name]-[hash].[ext]" },
  });
  if (!app.success) throw new AggregateError(app.logs, "web build failed");
  cpSync(join(ROOT, "web/public"), outDir, { recursive: true });

  const sw = await Bun.build({
    entrypoints: [join(ROOT, "web/src/sw.ts")],
    outdir: outDir,
    // A classic script: module service workers cannot importScripts and are not needed.
    format: "iife",
    minify: true,
    define: production,
    naming: "sw.js",
  });
  if (!sw.success) throw new AggregateError(sw.logs, "service worker build failed");

  const { count, size, warnings } = await injectManifest({
    swSrc: join(outDir, "sw.js"),
    swDest: join(outDir, "sw.js"),
    globDirectory: outDir,
    globPatterns: ["**/*.{js,css,png,webmanifest,svg,woff2}"],
    globIgnores: ["sw.js", "**/*.gz"],
    // The shell answers every app route; it changes when index.html does.
    templatedURLs: { "/": ["index.html"] },
    dontCacheBustURLsMatching: HASHED,
  });
  for (const w of warnings) console.warn(`[build:web] ${w}`);

  for (const file of walk(outDir)) {
    if (/\.(js|css|html|webmanifest|svg|json)$/.test(file)) writeFileSync(`${file}.gz`, Bun.gzipSync(readFileSync(file), { level: 9 }));
  }
  return { outDir, precached: count, precacheBytes: size };
}

function* walk(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* walk(path);
    else yield path;
  }
}

if (import.meta.main) {
  const started = performance.now();
  const { values } = parseArgs({ options: { out: { type: "string", default: "dist/web" } } });
  const result = await buildWeb(resolve(ROOT, values.out!));
  const files = [...walk(result.outDir)].filter((f) => !f.endsWith(".gz"));
  for (const f of files) {
    const gz = existsSync(`${f}.gz`) ? statSync(`${f}.gz`).size : undefined;
    console.log(`  ${relative(ROOT, f).padEnd(48)} ${String(statSync(f).size).padStart(8)} B${gz ? `  ${String(gz).padStart(7)} B gzip` : ""}`);
  }
  console.log(`[build:web] ${relative(ROOT, result.outDir)}: ${result.precached} files precached (${result.precacheBytes} B) in ${Math.round(performance.now() - started)} ms`);
}

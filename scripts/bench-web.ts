// The PWA's load performance, measured in headless Chromium (Debian's, via playwright-core):
// bundle sizes (raw and gzip), then for a signed-in room with 1,000 messages, LCP and
// time to first message on a cold cache with the CPU throttled 4x (CDP), and the same on a
// repeat visit served by the service worker.
//   bun run bench:web [--runs 3] [--messages 1000] [--throttle 4] [--verbose]
// With --scroll-pages N (e.g. --messages 100000 --scroll-pages 60): the history is written by
// Postgres itself (generate_series; the server runs on a throwaway Postgres instead of
// PGlite), the room opened once and scrolled back N pages; prints frame times, long tasks
// and the DOM node count as the history grows (a virtual list keeps it flat).
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { chromium, type BrowserContext } from "playwright-core";
import postgres from "postgres";
import { startServer } from "../test/support/server-process.ts";
import { buildWeb } from "./build-web.ts";
import { freePort, startPostgres, type Service } from "./services.ts";

const { values } = parseArgs({
  options: { verbose: { type: "boolean", default: false }, runs: { type: "string", default: "3" }, messages: { type: "string", default: "1000" }, throttle: { type: "string", default: "4" },
    "scroll-pages": { type: "string", default: "0" },
  },
});
const runs = Number(values.runs);
const messageCount = Number(values.messages);
const throttle = Number(values.throttle);
const scrollPages = Number(values["scroll-pages"]);
if (!Number.isInteger(scrollPages) || scrollPages < 0) throw new Error("--scroll-pages must be a whole number");

const { outDir } = await buildWeb();
const gz = (file: string) => Bun.gzipSync(readFileSync(file), { level: 9 }).length;
const assets = readdirSync(outDir)
  .filter((f) => /\.(js|css)$/.test(f))
  .map((f) => ({ name: f, raw: statSync(join(outDir, f)).size, gzip: gz(join(outDir, f)) }))
  .sort((a, b) => b.raw - a.raw);
const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
console.log("bundle (dist/web):");
for (const a of assets) console.log(`  ${a.name.padEnd(36)} ${kb(a.raw).padStart(10)} raw ${kb(a.gzip).padStart(9)} gzip`);

const dataDir = mkdtempSync(join(tmpdir(), "chat-bench-web-"));
const port = freePort();
const base = `http://127.0.0.1:${port}`;
// The scroll scenario seeds with SQL, which PGlite (one process) cannot take beside the server.
const pg: Service | undefined = scrollPages ? await startPostgres(dataDir) : undefined;
const server = startServer({ PORT: String(port), DATABASE_URL: pg?.url ?? "", REDIS_URL: "", DATA_DIR: dataDir, RATE_LIMIT_MULTIPLIER: "1000", LOG_LEVEL: "warn" });
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});

try {
  await server.waitReady(60_000);
  const account = { email: `bench${Date.now()}@example.com`, username: `bench${Date.now().toString(36)}`, password: "correct horse battery" };
  const reg = await fetch(`${base}/api/auth/register`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(account) });
  const { token } = (await reg.json()) as { token: string };
  const auth = { authorization: `Bearer ${token}`, "content-type": "application/json" };
  const room = (await (await fetch(`${base}/api/rooms`, { method: "POST", headers: auth, body: JSON.stringify({ name: "Bench room" }) })).json()) as { id: string };
  if (pg) {
    const me = (await (await fetch(`${base}/api/me`, { headers: auth })).json()) as { user: { id: string } };
    const sql = postgres(pg.url, { max: 1 });
    const started = performance.now();
    await sql`insert into messages (id, room_id, seq, author_id, client_msg_id, content, created_at)
      select gen_random_uuid(), ${room.id}::uuid, g, ${me.user.id}::uuid, 'b-' || g,
        'Message number ' || g || ': some ordinary chat text of a usual length', now() - (${messageCount} - g) * interval '1 millisecond'
      from generate_series(1, ${messageCount}) g`;
    await sql`update rooms set last_seq = ${messageCount} where id = ${room.id}::uuid`;
    await sql`update room_members set last_read_seq = ${messageCount} where room_id = ${room.id}::uuid`;
    await sql`analyze messages`;
    await sql.end();
    console.log(`\nseeded ${messageCount.toLocaleString("en")} messages with SQL in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    await scrollBack(account, room.id);
    process.exit(0);
  }
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < messageCount) {
        const i = next++;
        await fetch(`${base}/api/rooms/${room.id}/messages`, { method: "POST", headers: auth, body: JSON.stringify({ content: `Message number ${i + 1}: some ordinary chat text of a usual length`, clientMsgId: `b-${i}` }) });
      }
    }),
  );
  // A server that has answered these reads before, as any running server has: the first
  // answers of a fresh process (JIT, first plans) are not what a visitor meets. The browser
  // side stays cold: a new context, an empty cache, every run.
  for (let i = 0; i < 20; i++) {
    await Promise.all(
      ["/api/me", "/api/rooms?mine=true&limit=100", `/api/rooms/${room.id}/messages?limit=50`].map((path) => fetch(`${base}${path}`, { headers: auth }).then((r) => r.arrayBuffer())),
    );
  }
  console.log(`\nroom with ${messageCount} messages ready; CPU throttled ${throttle}x; ${runs} runs; load: ${readFileSync("/proc/loadavg", "utf8").trim()}`);

  const cold: Sample[] = [];
  const warm: Sample[] = [];
  for (let r = 0; r < runs; r++) {
    const context = await browser.newContext({ baseURL: base, viewport: { width: 1200, height: 760 } });
    await context.request.post("/api/auth/login", { data: { email: account.email, password: account.password } });
    cold.push(await visit(context, `/r/${room.id}`));
    // Let the service worker install and take control, then come back.
    const page = context.pages()[0]!;
    await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
    await page.waitForTimeout(500);
    await page.close();
    warm.push(await visit(context, `/r/${room.id}`));
    await context.close();
  }
  report("cold (empty cache)", cold);
  report("repeat visit (service worker)", warm);
} finally {
  await browser.close();
  await server.stop();
  await pg?.stop();
  rmSync(dataDir, { recursive: true, force: true });
}

interface Sample {
  lcp: number;
  firstMessage: number;
  jsBytes: number;
  jsGzip: number;
  fromSw: number;
}

async function visit(context: BrowserContext, path: string): Promise<Sample> {
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("Emulation.setCPUThrottlingRate", { rate: throttle });
  await cdp.send("Network.enable");
  let fromSw = 0;
  cdp.on("Network.responseReceived", (e) => {
    if (e.response.fromServiceWorker) fromSw++;
  });
  await page.addInitScript(() => {
    const w = window as unknown as { __lcp: number; __firstMessage: number };
    w.__lcp = 0;
    w.__firstMessage = 0;
    const trace = ((w as unknown as { __trace: string[] }).__trace = [] as string[]);
    new PerformanceObserver((list) => {
      for (const e of list.getEntries() as (PerformanceEntry & { element?: Element; size?: number })[]) {
        trace.push(`${Math.round(e.startTime)} LCP ${e.element ? `${e.element.tagName}.${e.element.className}` : "?"} ${e.size} px²`);
      }
      const last = list.getEntries().at(-1) as (PerformanceEntry & { element?: Element }) | undefined;
      if (last) {
        w.__lcp = last.startTime;
        (w as unknown as { __lcpElement: string }).__lcpElement = last.element ? `${last.element.tagName}.${last.element.className}` : "?";
      }
    }).observe({ type: "largest-contentful-paint", buffered: true });
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) trace.push(`${Math.round(e.startTime)}-${Math.round(e.startTime + e.duration)} long task`);
    }).observe({ type: "longtask", buffered: true });
    new MutationObserver((_, obs) => {
      // The list's rows, or the copy of the newest ones drawn while it positions itself.
      if (document.querySelector(".message-list [data-seq], .list-preview .preview-row")) {
        w.__firstMessage = performance.now();
        (w as unknown as { __trace: string[] }).__trace.push(`${Math.round(w.__firstMessage)} first message in the DOM`);
        obs.disconnect();
      }
    }).observe(document, { childList: true, subtree: true });
  });
  if (values.verbose) page.on("console", (m) => m.type() === "error" && console.log(`  page error: ${m.text()}`));
  if (values.verbose) page.on("pageerror", (e) => console.log(`  page exception: ${e.message}`));
  await page.goto(path, { waitUntil: "load" });
  await page.waitForFunction(() => (window as unknown as { __firstMessage: number }).__firstMessage > 0, null, { timeout: 60_000 });
  await page.waitForTimeout(1000);
  const { lcp, firstMessage } = await page.evaluate(() => {
    const w = window as unknown as { __lcp: number; __firstMessage: number };
    return { lcp: w.__lcp, firstMessage: w.__firstMessage };
  });
  const scripts = await page.evaluate(() =>
    performance.getEntriesByType("resource").filter((e) => (e as PerformanceResourceTiming).initiatorType === "script" || e.name.endsWith(".js")).map((e) => e.name),
  );
  if (values.verbose) {
    const timeline = await page.evaluate(() => ({
      lcpElement: (window as unknown as { __lcpElement: string }).__lcpElement,
      previewLeft: document.querySelectorAll(".list-preview").length,
      trace: (window as unknown as { __trace: string[] }).__trace.sort((a, b) => parseInt(a) - parseInt(b)),
      resources: performance
        .getEntriesByType("resource")
        .map((e) => `${Math.round(e.startTime)}-${Math.round((e as PerformanceResourceTiming).responseEnd)} ${new URL(e.name).pathname}${new URL(e.name).search}`),
      nav: performance.getEntriesByType("navigation").map((e) => Math.round((e as PerformanceNavigationTiming).responseEnd)),
      fcp: performance.getEntriesByName("first-contentful-paint").map((e) => Math.round(e.startTime)),
    }));
    console.log(JSON.stringify(timeline, null, 1));
  }
  let jsBytes = 0;
  let jsGzip = 0;
  for (const url of new Set(scripts)) {
    const name = new URL(url).pathname.slice(1);
    const asset = assets.find((a) => a.name === name);
    if (asset) {
      jsBytes += asset.raw;
      jsGzip += asset.gzip;
    }
  }
  await cdp.detach();
  return { lcp, firstMessage, jsBytes, jsGzip, fromSw };
}

function median(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function report(label: string, samples: Sample[]) {
  console.log(`\n${label}:`);
  console.log(`  LCP               median ${median(samples.map((s) => s.lcp)).toFixed(0)} ms   (${samples.map((s) => s.lcp.toFixed(0)).join(", ")})`);
  console.log(`  first message     median ${median(samples.map((s) => s.firstMessage)).toFixed(0)} ms   (${samples.map((s) => s.firstMessage.toFixed(0)).join(", ")})`);
  console.log(`  JS for this page  ${kb(samples[0]!.jsBytes)} raw, ${kb(samples[0]!.jsGzip)} gzip`);
  console.log(`  responses from the service worker: ${samples.map((s) => s.fromSw).join(", ")}`);
}

/** Opens the room once and scrolls back `scrollPages` pages, as a reader does; frame times, long tasks and DOM size. */
async function scrollBack(account: { email: string; password: string }, roomId: string) {
  const context = await browser.newContext({ baseURL: base, viewport: { width: 1200, height: 760 } });
  await context.request.post("/api/auth/login", { data: { email: account.email, password: account.password } });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("Emulation.setCPUThrottlingRate", { rate: throttle });
  await page.addInitScript(() => {
    const w = window as unknown as { __frames: number[]; __longTasks: number[] };
    w.__frames = [];
    w.__longTasks = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) w.__longTasks.push(e.duration);
    }).observe({ type: "longtask", buffered: true });
    let last = 0;
    const tick = (t: number) => {
      if (last) w.__frames.push(t - last);
      last = t;
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
  await page.goto(`/r/${roomId}`);
  await page.locator(`.message-list [data-seq="${messageCount}"]`).waitFor({ timeout: 60_000 });
  await page.waitForTimeout(1000);
  // Only what scrolling costs: drop what opening the room did.
  await page.evaluate(() => {
    const w = window as unknown as { __frames: number[]; __longTasks: number[] };
    w.__frames = [];
    w.__longTasks = [];
  });
  const nodes = () => page.evaluate(() => document.getElementsByTagName("*").length);
  const oldest = () => page.$$eval(".message-list [data-seq]", (rows) => Math.min(...rows.map((r) => Number((r as HTMLElement).dataset.seq))));
  const samples: { page: number; nodes: number; oldest: number }[] = [{ page: 0, nodes: await nodes(), oldest: await oldest() }];
  let pages = 0;
  page.on("response", (r) => {
    if (r.url().includes(`/api/rooms/${roomId}/messages?before=`)) pages++;
  });
  const started = performance.now();
  while (pages < scrollPages && performance.now() - started < 300_000) {
    await page.locator(".message-list").evaluate((el) => el.scrollBy({ top: -600 }));
    await page.waitForTimeout(16);
    if (pages && pages % 10 === 0 && samples.at(-1)!.page !== pages) samples.push({ page: pages, nodes: await nodes(), oldest: await oldest() });
  }
  await page.waitForTimeout(500);
  samples.push({ page: pages, nodes: await nodes(), oldest: await oldest() });
  const { frames, longTasks } = await page.evaluate(() => {
    const w = window as unknown as { __frames: number[]; __longTasks: number[] };
    return { frames: w.__frames, longTasks: w.__longTasks };
  });
  const sorted = [...frames].sort((a, b) => a - b);
  const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;
  console.log(`\nscroll back through a room of ${messageCount.toLocaleString("en")} messages, CPU throttled ${throttle}x; load: ${readFileSync("/proc/loadavg", "utf8").trim()}`);
  console.log(`  older pages loaded  ${pages} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  console.log(`  frames              ${frames.length}: p50 ${pct(50).toFixed(1)} ms, p95 ${pct(95).toFixed(1)} ms, p99 ${pct(99).toFixed(1)} ms, max ${pct(100).toFixed(1)} ms; over 50 ms: ${frames.filter((f) => f > 50).length}`);
  console.log(`  long tasks (>50 ms) ${longTasks.length}, total ${longTasks.reduce((a, b) => a + b, 0).toFixed(0)} ms, longest ${Math.max(0, ...longTasks).toFixed(0)} ms`);
  console.log("  DOM elements as the history grows:");
  for (const s of samples) console.log(`    after ${String(s.page).padStart(3)} pages: ${s.nodes} elements, oldest rendered seq ${s.oldest}`);
  await context.close();
  await browser.close();
  await server.stop();
  await pg?.stop();
  rmSync(dataDir, { recursive: true, force: true });
}

// The PWA's live features between two browser contexts against one embedded
// server: typing indicator, who is online, a notification for a mention while
// the tab is hidden, and the "new version" prompt when the service worker changes.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Browser } from "playwright-core";
import { freePort } from "../../scripts/services.ts";
import { launchBrowser, screenshot } from "../support/browser.ts";
import { createRoom, expectMessage, joinFromBrowser, newPerson, send, signUp, unique, type Person } from "../support/e2e-chat.ts";
import { startServer, type ServerProcess } from "../support/server-process.ts";

const dataDir = mkdtempSync(join(tmpdir(), "chat-e2e-features-"));
// A copy of the built PWA this test may change (a second service-worker version).
const webDir = join(dataDir, "web");
const port = freePort();
const base = `http://127.0.0.1:${port}`;

let server: ServerProcess;
let browser: Browser;
let alice: Person;
let bob: Person;
let roomName: string;

/**
 * Runs before the app: records every Notification the page creates (the real
 * constructor still runs), and lets the test say the tab is hidden. Headless
 * Chromium keeps every tab visible and CDP has no switch for it, so
 * document.hidden and visibilityState are overridden, with the event the
 * browser would fire.
 */
const PAGE_HOOKS = () => {
  const w = window as unknown as { __notifications: { title: string; body?: string }[]; __setHidden: (h: boolean) => void };
  w.__notifications = [];
  const Real = window.Notification;
  if (Real) {
    class Recorded extends Real {
      constructor(title: string, options?: NotificationOptions) {
        super(title, options);
        w.__notifications.push({ title, body: options?.body });
      }
    }
    window.Notification = Recorded as typeof Notification;
  }
  let hidden = false;
  Object.defineProperty(Document.prototype, "hidden", { configurable: true, get: () => hidden });
  Object.defineProperty(Document.prototype, "visibilityState", { configurable: true, get: () => (hidden ? "hidden" : "visible") });
  w.__setHidden = (h: boolean) => {
    hidden = h;
    document.dispatchEvent(new Event("visibilitychange"));
  };
};

beforeAll(async () => {
  cpSync(resolve(import.meta.dir, "../../dist/web"), webDir, { recursive: true });
  server = startServer({ PORT: String(port), DATABASE_URL: "", REDIS_URL: "", DATA_DIR: dataDir, WEB_DIR: webDir, RATE_LIMIT_MULTIPLIER: "100", LOG_LEVEL: "warn" });
  [browser] = await Promise.all([launchBrowser(), server.waitReady(60_000)]);
  alice = await newPerson(browser, base);
  bob = await newPerson(browser, base);
  await alice.context.grantPermissions(["notifications"], { origin: base });
  await alice.context.addInitScript(PAGE_HOOKS);
  await signUp(alice);
  await signUp(bob);
  roomName = `Features ${unique()}`;
  await createRoom(alice, roomName);
  await joinFromBrowser(bob, roomName);
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("PWA live features, two browser contexts", () => {
  test("who is online: each sees the other in the room's header", async () => {
    for (const [viewer, other] of [
      [alice, bob],
      [bob, alice],
    ] as const) {
      await viewer.page.locator(`.online [title="${other.username}"]`).waitFor({ timeout: 15_000 });
      await viewer.page.locator(".room-title .muted", { hasText: "2 online" }).waitFor({ timeout: 15_000 });
    }
    // Bob leaves the page: Alice sees him go.
    await bob.page.goto("about:blank");
    await alice.page.locator(`.online [title="${bob.username}"]`).waitFor({ state: "detached", timeout: 30_000 });
    await bob.page.goto("/");
    await bob.page.locator(".sidebar").getByText(roomName).first().click();
    await alice.page.locator(`.online [title="${bob.username}"]`).waitFor({ timeout: 15_000 });
  }, 60_000);

  test("typing indicator: shown to the other person while typing, gone after sending", async () => {
    const typing = alice.page.locator(".typing", { hasText: `${bob.username} is typing…` });
    await bob.page.locator("#composer-input").pressSequentially("hello the", { delay: 30 });
    await typing.waitFor({ timeout: 10_000 });
    // Nobody sees themselves typing.
    expect(await bob.page.locator(".typing").textContent()).toBe("");
    await bob.page.locator("#composer-input").press("Enter");
    await expectMessage(alice, "hello the");
    await typing.waitFor({ state: "detached", timeout: 15_000 });
  }, 30_000);

  test("a mention notifies while the tab is hidden; a plain message or a visible tab does not", async () => {
    const notes = () => alice.page.evaluate(() => (window as unknown as { __notifications: { title: string; body?: string }[] }).__notifications);
    await alice.page.reload();
    await alice.page.locator(".sidebar").getByText(roomName).first().waitFor();
    expect(await alice.page.evaluate(() => Notification.permission)).toBe("granted");

    const visibleMention = `@${alice.username} while you look ${unique()}`;
    await send(bob, visibleMention);
    await expectMessage(alice, visibleMention);
    expect(await notes()).toEqual([]);

    await alice.page.evaluate(() => (window as unknown as { __setHidden: (h: boolean) => void }).__setHidden(true));
    const plain = `no mention here ${unique()}`;
    await send(bob, plain);
    await expectMessage(alice, plain);
    const mention = `@${alice.username} ping ${unique()}`;
    await send(bob, mention);
    await expectMessage(alice, mention);
    await alice.page.waitForFunction(() => (window as unknown as { __notifications: unknown[] }).__notifications.length > 0, null, { timeout: 10_000 });
    expect(await notes()).toEqual([{ title: `${bob.username} in ${roomName}`, body: mention }]);
    await alice.page.evaluate(() => (window as unknown as { __setHidden: (h: boolean) => void }).__setHidden(false));
  }, 30_000);

  test("a new service-worker version on the server: the page offers to reload, and the reload runs it", async () => {
    const { page } = alice;
    await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
    await page.reload();
    expect(await page.evaluate(() => Boolean(navigator.serviceWorker.controller))).toBe(true);
    const before = await page.evaluate(() => navigator.serviceWorker.controller!.scriptURL);
    expect(await page.locator(".update-banner").count()).toBe(0);

    // A second version: the same worker with different bytes (and its precompressed copy).
    const sw = join(webDir, "sw.js");
    appendFileSync(sw, `\n// version 2 ${unique()}\n`);
    writeFileSync(`${sw}.gz`, Bun.gzipSync(readFileSync(sw)));

    await page.reload();
    const banner = page.locator(".update-banner", { hasText: "A new version is available." });
    await banner.waitFor({ timeout: 20_000 });
    await screenshot(page, "update-available");
    const marker = await page.evaluate(() => navigator.serviceWorker.getRegistration().then((r) => Boolean(r?.waiting)));
    expect(marker).toBe(true);
    await Promise.all([page.waitForEvent("load", { timeout: 20_000 }), banner.getByRole("button", { name: "Reload" }).click()]);
    await page.locator(".sidebar").getByText(roomName).first().waitFor();
    const after = await page.evaluate(async () => {
      const reg = await navigator.serviceWorker.getRegistration();
      return { waiting: Boolean(reg?.waiting), controlled: Boolean(navigator.serviceWorker.controller) };
    });
    expect(after).toEqual({ waiting: false, controlled: true });
    expect(before).toEndWith("/sw.js");
    expect(await page.locator(".update-banner").count()).toBe(0);
  }, 60_000);
});

// The PWA in real headless Chromium against one real server process in embedded
// mode (PGlite, in-process bus): chat both ways, text as text, 1,000 messages of
// history, reload, and offline from the service worker with the outbox.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { freePort } from "../../scripts/services.ts";
import { launchBrowser, screenshot } from "../support/browser.ts";
import {
  createRoom,
  expectMessage,
  history,
  joinFromBrowser,
  loginToken,
  messageRow,
  newPerson,
  postMany,
  renderedSeqs,
  send,
  signUp,
  unique,
  waitConnected,
  type Person,
} from "../support/e2e-chat.ts";
import { startServer, type ServerProcess } from "../support/server-process.ts";

const dataDir = mkdtempSync(join(tmpdir(), "chat-e2e-"));
const port = freePort();
const serverEnv = { PORT: String(port), DATABASE_URL: "", REDIS_URL: "", DATA_DIR: dataDir, RATE_LIMIT_MULTIPLIER: "100", LOG_LEVEL: "warn" };
const base = `http://127.0.0.1:${port}`;

let server: ServerProcess;
let browser: Browser;
let alice: Person;
let bob: Person;
let roomId: string;
const roomName = "Launch plans";

beforeAll(async () => {
  server = startServer(serverEnv);
  [browser] = await Promise.all([launchBrowser(), server.waitReady(60_000)]);
  alice = await newPerson(browser, base, { name: "alice" });
  bob = await newPerson(browser, base, { name: "bob", viewport: { width: 375, height: 740 } });
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("PWA, embedded server", () => {
  test("a signed-out visitor sees the log-in form; two people chat both ways", async () => {
    // Keeps the page's sockets, so the test can read the encoding each one negotiated.
    await alice.page.addInitScript(() => {
      const Native = window.WebSocket;
      const sockets: WebSocket[] = ((window as unknown as { sockets: WebSocket[] }).sockets = []);
      window.WebSocket = class extends Native {
        constructor(url: string | URL, protocols?: string | string[]) {
          super(url, protocols);
          sockets.push(this);
        }
      };
    });
    await alice.page.goto("/");
    await alice.page.getByRole("heading", { name: "Log in" }).waitFor();
    await screenshot(alice.page, "login", "login");
    await signUp(alice);
    await signUp(bob);
    roomId = await createRoom(alice, roomName);
    await joinFromBrowser(bob, roomName);

    await send(alice, "Hello Bob! The release is ready 🚀");
    await expectMessage(bob, "Hello Bob! The release is ready 🚀");
    await send(bob, "Great, shipping it now");
    await expectMessage(alice, "Great, shipping it now");
    const open = () => (window as unknown as { sockets: WebSocket[] }).sockets.filter((ws) => ws.readyState === 1).map((ws) => ws.protocol);
    expect(await alice.page.evaluate(open)).toEqual(["chat.v2"]); // the lean encoding, decoded by the client
    // Shift+Enter is a new line, Enter sends.
    const box = alice.page.locator("#composer-input");
    await box.fill("Agenda for the launch:");
    await box.press("Shift+Enter");
    await alice.page.keyboard.type("1. announce it");
    await box.press("Shift+Enter");
    await alice.page.keyboard.type("2. watch the dashboards");
    await box.press("Enter");
    await expectMessage(bob, "Agenda for the launch:\n1. announce it\n2. watch the dashboards");
    const first = bob.page.locator(".row:not(.pending)").filter({ has: bob.page.locator(".content", { hasText: "The release is ready" }) });
    await first.hover();
    await first.getByRole("button", { name: "React 🎉" }).click();
    await alice.page.getByRole("button", { name: "🎉 1" }).waitFor();
    // The sender's own copy went pending -> sent: no row stays pending.
    await alice.page.locator(".row.pending").waitFor({ state: "detached" });
    // No hover or focus toolbar in the README picture.
    await bob.page.mouse.move(1, 300);
    await bob.page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    await screenshot(alice.page, "chat-desktop", "chat-desktop");
    await screenshot(bob.page, "chat-mobile", "chat-mobile");
    expect(alice.errors).toEqual([]);
    expect(bob.errors).toEqual([]);
  }, 90_000);

  test("a message that looks like HTML is shown as text and runs nothing", async () => {
    const evil = "<img src=x onerror=alert(1)>";
    await send(alice, evil);
    await expectMessage(bob, evil);
    expect(await bob.page.locator(".message-list img").count()).toBe(0);
    expect(await messageRow(bob, evil).first().innerHTML()).toContain("&lt;img");
    expect([...alice.dialogs, ...bob.dialogs]).toEqual([]);
  }, 30_000);

  test("edit (Escape cancels, Enter saves), react and delete my own message; the other side sees each change", async () => {
    await send(alice, "typo mesage");
    await expectMessage(bob, "typo mesage");
    const row = alice.page.locator(".row:not(.pending)").filter({ has: alice.page.locator(".content", { hasText: /^typo mesage$/ }) });
    await row.hover();
    await row.getByRole("button", { name: "Edit" }).click();
    const box = alice.page.getByLabel("Edit message");
    await box.fill("not saved");
    await box.press("Escape");
    await expectMessage(alice, "typo mesage");
    await row.hover();
    await row.getByRole("button", { name: "Edit" }).click();
    await alice.page.getByLabel("Edit message").fill("typo message");
    await alice.page.getByLabel("Edit message").press("Enter");
    await bob.page.locator(".content", { hasText: "typo message" }).filter({ hasText: "(edited)" }).waitFor();

    const edited = alice.page.locator(".row").filter({ has: alice.page.locator(".content", { hasText: "typo message" }) });
    await edited.hover();
    await edited.getByRole("button", { name: "React 🎉" }).click();
    const onBob = bob.page.locator(".row").filter({ has: bob.page.locator(".content", { hasText: "typo message" }) });
    await onBob.getByRole("button", { name: "🎉 1" }).waitFor();
    await edited.hover();
    await edited.getByRole("button", { name: "Delete" }).click();
    await edited.getByRole("button", { name: "Delete", exact: true }).click();
    await bob.page.getByText("This message was deleted").waitFor();
    expect(await bob.page.locator(".content", { hasText: "typo message" }).count()).toBe(0);
  }, 60_000);

  test("search finds a message and jumps to it; a direct message reaches the other person", async () => {
    const { page } = bob;
    await page.getByRole("button", { name: "Back to rooms" }).click();
    await page.getByRole("button", { name: "Search" }).click();
    await page.getByLabel("Search messages").fill("shipping");
    await page.getByRole("button", { name: "Search", exact: true }).click();
    await page.locator(".search-results a", { hasText: "Great, shipping it now" }).click();
    await page.locator(".row.highlighted", { hasText: "Great, shipping it now" }).waitFor();

    await alice.page.getByRole("button", { name: "New direct message" }).click();
    await alice.page.getByLabel("Username").fill(bob.username.slice(0, 6));
    await alice.page.locator(".user-list li", { hasText: bob.username }).getByRole("button", { name: "Choose" }).click();
    await alice.page.getByRole("heading", { name: bob.username }).waitFor();
    await send(alice, "psst, a direct message");
    // Bob's room list learns about the new room live (membership_added), without a reload.
    await page.getByRole("button", { name: "Back to rooms" }).click();
    await page.getByRole("link", { name: alice.username }).click();
    await expectMessage(bob, "psst, a direct message");
  }, 60_000);

  test("history scrolls back through 1,000 messages; the top message stays within 2 px as each older page loads", async () => {
    const token = await loginToken(base, alice);
    const res = await fetch(`${base}/api/rooms`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ name: `History ${unique()}` }),
    });
    const historyRoom = ((await res.json()) as { id: string }).id;
    await postMany(base, token, historyRoom, 1000);

    const { page } = alice;
    let pages = 0;
    let inflight: Promise<unknown> | null = null;
    page.on("request", (r) => {
      if (r.url().includes(`/api/rooms/${historyRoom}/messages?before=`)) inflight = r.response();
    });
    await page.goto(`/r/${historyRoom}`);
    await messageRow(alice, "history 1000").waitFor();
    const scroller = page.locator(".message-list");
    // Scroll up as a reader does; whenever an older page is asked for, the row at the top of
    // the viewport must stay where it is once that page is in.
    for (let steps = 0; steps < 2000; steps++) {
      if (await page.getByText("This is the start of the room.").isVisible()) break;
      await scroller.evaluate((el) => el.scrollBy({ top: -400 }));
      await page.waitForTimeout(20);
      if (!inflight) continue;
      const before = await topRow(page);
      await inflight;
      inflight = null;
      await page.waitForTimeout(150);
      const after = await page.locator(`[data-seq="${before.seq}"]`).evaluate((el) => el.getBoundingClientRect().top);
      expect(Math.abs(after - before.top)).toBeLessThanOrEqual(2);
      pages++;
    }
    expect(pages).toBeGreaterThanOrEqual(19); // 1,000 messages, 50 a page
    await scroller.evaluate((el) => el.scrollTo({ top: 0 }));
    await messageRow(alice, "history 0001").waitFor();
    expect(await renderedSeqs(alice)).toContain(1);
    await screenshot(page, "history-start");
  }, 120_000);

  test("a reload keeps everything", async () => {
    await alice.page.goto(`/r/${roomId}`);
    await alice.page.reload();
    await expectMessage(alice, "Hello Bob! The release is ready 🚀");
    await expectMessage(alice, "Great, shipping it now");
    await expectMessage(alice, "<img src=x onerror=alert(1)>");
    await alice.page.getByRole("link", { name: `# ${roomName}` }).waitFor();
    await waitConnected(alice);
  }, 30_000);

  test("offline from the service worker; a message written offline is delivered once when the server is back", async () => {
    const { page } = alice;
    await bob.page.goto(`/r/${roomId}`);
    await expectMessage(bob, "Great, shipping it now");
    await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
    // Controlled and with the API answers cached by the service worker.
    await page.reload();
    await expectMessage(alice, "Great, shipping it now");
    expect(await page.evaluate(() => Boolean(navigator.serviceWorker.controller))).toBe(true);

    await server.stop();
    await page.reload();
    await expectMessage(alice, "Great, shipping it now");
    await page.locator('.conn[data-state="offline"], .conn[data-state="reconnecting"]').first().waitFor();
    const text = `written offline ${unique()}`;
    await send(alice, text);
    await page.locator(".row.pending .content", { hasText: text }).waitFor();
    await screenshot(page, "offline", "offline");

    server = startServer(serverEnv);
    await server.waitReady(60_000);
    await expectMessage(alice, text, 30_000);
    await expectMessage(bob, text, 30_000);
    const all = await history(base, await loginToken(base, bob), roomId);
    expect(all.filter((m) => m.content === text)).toHaveLength(1);
  }, 120_000);
});

async function topRow(page: Person["page"]) {
  return page.evaluate(() => {
    const list = document.querySelector(".message-list")!.getBoundingClientRect();
    const rows = [...document.querySelectorAll<HTMLElement>(".message-list [data-seq]")];
    const row = rows.find((r) => r.getBoundingClientRect().bottom > list.top + 1) ?? rows[0]!;
    return { seq: Number(row.dataset.seq), top: row.getBoundingClientRect().top };
  });
}

// The PWA in real headless Chromium against two instances behind a real Caddy:
// chat both ways, and the instance a page is connected to killed: the page
// reconnects through Caddy and nothing is lost.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser } from "playwright-core";
import postgres from "postgres";
import { startCluster, type Cluster } from "../../scripts/cluster.ts";
import { launchBrowser, screenshot } from "../support/browser.ts";
import { createRoom, expectMessage, history, joinFromBrowser, loginToken, newPerson, send, signUp, unique, waitConnected, type Person } from "../support/e2e-chat.ts";
import { createDatabase, serverEnv } from "../support/test-app.ts";

let cluster: Cluster;
let browser: Browser;
let alice: Person;
let bob: Person;
let roomId: string;
const roomName = `Cluster ${unique()}`;

beforeAll(async () => {
  [cluster, browser] = await Promise.all([
    (async () =>
      startCluster({ instances: 2, databaseUrl: await createDatabase(), redisUrl: serverEnv().REDIS_URL, env: { RATE_LIMIT_MULTIPLIER: "100", LOG_LEVEL: "warn" } }))(),
    launchBrowser(),
  ]);
  alice = await newPerson(browser, cluster.url, { name: "alice" });
  bob = await newPerson(browser, cluster.url, { name: "bob" });
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await cluster?.stop();
});

/** The instance holding this many WebSocket connections now (from each instance's own /metrics). */
async function connectionsPerInstance() {
  return Promise.all(
    cluster.instances.map(async (i) => {
      const text = await fetch(`${i.url}/metrics`).then((r) => r.text(), () => "");
      return Number(/^ws_connections(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1] ?? 0);
    }),
  );
}

describe("PWA, two instances behind Caddy", () => {
  test("two people chat both ways through Caddy", async () => {
    await signUp(alice);
    await signUp(bob);
    roomId = await createRoom(alice, roomName);
    await joinFromBrowser(bob, roomName);
    await send(alice, "Hi Bob, through Caddy");
    await expectMessage(bob, "Hi Bob, through Caddy");
    await send(bob, "Hi Alice, both ways");
    await expectMessage(alice, "Hi Alice, both ways");
    expect([...alice.errors, ...bob.errors]).toEqual([]);
  }, 90_000);

  test("the instance a page is connected to is killed: the page reconnects through Caddy and nothing is lost", async () => {
    // Bob is closed, so Alice's socket is the only one: the instance holding a connection is hers.
    await bob.page.goto("about:blank");
    let counts = await connectionsPerInstance();
    for (let i = 0; i < 50 && counts.reduce((a, b) => a + b, 0) !== 1; i++) {
      await Bun.sleep(100);
      counts = await connectionsPerInstance();
    }
    const victim = counts.findIndex((n) => n === 1);
    expect(victim).toBeGreaterThanOrEqual(0);

    const bobToken = await loginToken(cluster.url, bob);
    await cluster.instances[victim]!.stop("SIGKILL");
    const during = `sent while Alice was cut off ${unique()}`;
    // Caddy may answer 502 once while it notices the dead upstream; the send is idempotent, so retry.
    const clientMsgId = `during-${unique()}`;
    let status = 0;
    for (let i = 0; i < 20 && status !== 201; i++) {
      const res = await fetch(`${cluster.url}/api/rooms/${roomId}/messages`, {
        method: "POST",
        headers: { authorization: `Bearer ${bobToken}`, "content-type": "application/json" },
        body: JSON.stringify({ content: during, clientMsgId }),
      });
      status = res.status;
      if (status !== 201) await Bun.sleep(250);
    }
    expect(status).toBe(201);

    await expectMessage(alice, during, 30_000);
    await waitConnected(alice, 30_000);
    await send(alice, "still here after the failover");
    await expectMessage(alice, "still here after the failover");
    await alice.page.locator(".row.pending").waitFor({ state: "detached" });

    // What the page shows is exactly what Postgres has, in order, each once.
    const truth = await history(cluster.url, bobToken, roomId);
    const shown = await alice.page.$$eval(".message-list .row:not(.pending) .content", (els) => els.map((e) => e.textContent));
    expect(shown).toEqual(truth.map((m) => m.content));
    await screenshot(alice.page, "cluster-after-failover");
    await cluster.instances[victim]!.restart();
  }, 90_000);

  test("offline with both instances and Caddy stopped: rooms and history from the service worker; a message written offline is delivered once when they are back", async () => {
    const { page } = alice;
    await bob.page.goto(`/r/${roomId}`);
    await expectMessage(bob, "still here after the failover", 30_000);
    await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
    await page.goto(`/r/${roomId}`);
    await expectMessage(alice, "still here after the failover", 30_000);
    expect(await page.evaluate(() => Boolean(navigator.serviceWorker.controller))).toBe(true);

    // Offline for real: nothing listens on Caddy's port any more (Chromium's emulated offline
    // mode would not stop the service worker's own fetches).
    await cluster.caddy!.stop();
    await Promise.all(cluster.instances.map((i) => i.stop("SIGTERM")));
    expect(await fetch(`${cluster.url}/healthz`).then(() => "up", () => "down")).toBe("down");

    await page.reload();
    await page.locator(".sidebar").getByText(roomName).first().waitFor();
    await expectMessage(alice, "Hi Alice, both ways");
    await expectMessage(alice, "still here after the failover");
    await page.locator('.conn[data-state="offline"], .conn[data-state="reconnecting"]').first().waitFor();
    const text = `written offline behind Caddy ${unique()}`;
    await send(alice, text);
    await page.locator(".row.pending .content", { hasText: text }).waitFor();
    await screenshot(page, "cluster-offline");

    await Promise.all(cluster.instances.map((i) => i.restart()));
    await cluster.caddy!.restart();
    await expectMessage(alice, text, 45_000);
    await expectMessage(bob, text, 45_000);
    await page.locator(".row.pending").waitFor({ state: "detached", timeout: 30_000 });

    // Exactly once, as Postgres has it.
    const sql = postgres(cluster.databaseUrl, { max: 1 });
    try {
      const rows = await sql`select count(*)::int as n from messages where room_id = ${roomId} and content = ${text}`;
      expect(rows[0]!.n).toBe(1);
    } finally {
      await sql.end();
    }
    const shown = await page.$$eval(".message-list .row .content", (els) => els.map((e) => e.textContent));
    expect(shown.filter((t) => t === text)).toHaveLength(1);
  }, 150_000);
});

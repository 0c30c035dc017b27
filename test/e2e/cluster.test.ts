// The PWA in real headless Chromium against two instances behind a real Caddy:
// chat both ways, and the instance a page is connected to killed: the page
// reconnects through Caddy and nothing is lost.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser } from "playwright-core";
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
});

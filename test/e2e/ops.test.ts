// The operator's page in real headless Chromium against two instances behind a real Caddy:
// an operator sees both instances, with their numbers and live charts, while real traffic
// runs; someone else sees a not-found page.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser } from "playwright-core";
import { startCluster, type Cluster } from "../../scripts/cluster.ts";
import { launchBrowser, screenshot } from "../support/browser.ts";
import { newPerson, signUp, unique, type Person } from "../support/e2e-chat.ts";
import { api, signUp as signUpOverHttp } from "../support/test-cluster.ts";
import { createDatabase, serverEnv } from "../support/test-app.ts";
import { ChatClient } from "../support/ws-client.ts";

const operatorEmail = `operator.${unique()}@example.com`;
let cluster: Cluster;
let browser: Browser;
let operator: Person;
let someone: Person;
const sockets: ChatClient[] = [];
let traffic: ReturnType<typeof setInterval> | undefined;

beforeAll(async () => {
  [cluster, browser] = await Promise.all([
    (async () =>
      startCluster({
        instances: 2,
        databaseUrl: await createDatabase(),
        redisUrl: serverEnv().REDIS_URL,
        env: { RATE_LIMIT_MULTIPLIER: "100", LOG_LEVEL: "warn", OPERATOR_EMAILS: operatorEmail },
      }))(),
    launchBrowser(),
  ]);
  operator = await newPerson(browser, cluster.url, { name: "operator", viewport: { width: 1280, height: 540 } });
  operator.email = operatorEmail;
  someone = await newPerson(browser, cluster.url, { name: "someone" });
}, 90_000);

afterAll(async () => {
  if (traffic) clearInterval(traffic);
  for (const s of sockets) s.ws?.close();
  await browser?.close();
  await cluster?.stop();
});

/** Users with sockets on each instance directly, chatting in one room, and reading the room list. */
async function startTraffic() {
  const [a, b] = cluster.instances;
  const people = await Promise.all([a, a, a, b, b].map((i, n) => signUpOverHttp(i!.url, `load${n}`)));
  const room = await api(a!.url, "POST", "/api/rooms", people[0]!.token, { name: `Load ${unique()}` });
  expect(room.status).toBe(201);
  for (const p of people.slice(1)) expect((await api(b!.url, "POST", `/api/rooms/${room.body.id}/join`, p.token)).status).toBe(200);
  for (const [n, p] of people.entries()) {
    const socket = await ChatClient.connect((n < 3 ? a : b)!.url, p.token);
    await socket.join(room.body.id);
    sockets.push(socket);
  }
  let n = 0;
  traffic = setInterval(() => {
    // A few sends a tick from both instances' sockets, and cached reads on both.
    for (let k = 0; k < 3; k++) {
      const socket = sockets[n++ % sockets.length]!;
      if (socket.ws.readyState === 1) socket.send("send_message", { roomId: room.body.id, content: `load ${n}`, clientMsgId: `l${n}`, timestamp: Date.now() });
    }
    const reader = people[n % people.length]!;
    void api((n % 2 ? a : b)!.url, "GET", `/api/rooms/${room.body.id}/messages?limit=20`, reader.token).catch(() => {});
  }, 150);
}

describe("the operator's page", () => {
  test("an operator opens /ops and sees both instances with live charts", async () => {
    await startTraffic();
    await signUp(operator);
    await operator.page.goto("/ops");
    await operator.page.getByRole("heading", { name: "Operations" }).waitFor();
    const cards = operator.page.locator(".ops-instance");
    await cards.nth(1).waitFor({ timeout: 15_000 });
    // Until both instances report connections and the first has delivered in the last second.
    const deadline = Date.now() + 30_000;
    let readings: { id: string; connections: string; p95: string }[] = [];
    while (Date.now() < deadline) {
      readings = await cards.evaluateAll((els) =>
        els.map((el) => ({
          id: el.getAttribute("data-instance") ?? "",
          connections: el.querySelector('[data-metric="connections"] strong')?.textContent ?? "",
          p95: el.querySelector('[data-metric="deliveryP95Ms"] strong')?.textContent ?? "",
        })),
      );
      if (readings.length === 2 && readings.every((r) => Number(r.connections) > 0 && r.p95.endsWith("ms"))) break;
      await Bun.sleep(500);
    }
    expect(readings.map((r) => r.id).sort()).toEqual(cluster.instances.map((i) => i.id).sort());
    for (const r of readings) {
      expect(Number(r.connections)).toBeGreaterThan(0);
      expect(r.p95).toMatch(/^[\d.,]+ ms$/);
    }
    // A chart with a drawn line, for each metric of each instance.
    await operator.page.waitForTimeout(8_000);
    const drawn = await operator.page.locator(".ops-instance svg.spark path[stroke]").count();
    expect(drawn).toBeGreaterThanOrEqual(2 * 4);
    const firstLine = await operator.page.locator('.ops-instance [data-metric="connections"] svg path[stroke]').first().getAttribute("d");
    expect(firstLine).toMatch(/^M[\d.]+ [\d.]+(L[\d.]+ [\d.]+)+$/);
    expect(await operator.page.getByTestId("ops-instance-count").textContent()).toBe("2");
    await operator.page.mouse.move(0, 0);
    await screenshot(operator.page, "ops", "ops");
    expect(operator.errors).toEqual([]);
  }, 90_000);

  test("someone who is not an operator sees a not-found page", async () => {
    await signUp(someone);
    await someone.page.goto("/ops");
    await someone.page.getByRole("heading", { name: "Not found" }).waitFor();
    expect(await someone.page.locator(".ops-instance").count()).toBe(0);
    await screenshot(someone.page, "ops-not-found");
    expect(someone.errors).toEqual([]);
  }, 60_000);
});

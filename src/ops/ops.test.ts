// The operator's endpoint against two real instances sharing a real Redis: each instance
// writes its own snapshot, and either one answers with both.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Histogram, Registry } from "prom-client";
import { api, signUp, startInstances } from "../../test/support/test-cluster.ts";
import { ChatClient } from "../../test/support/ws-client.ts";
import { createSampler, quantileOfDelta } from "./sample.ts";

type Instances = { intervalMs: number; instances: { instanceId: string; current: Record<string, number | null>; history: unknown[] }[] };

const operatorEmail = `op${Date.now().toString(36)}@example.com`;
let cluster: Awaited<ReturnType<typeof startInstances>>;
let operatorToken: string;
const sockets: ChatClient[] = [];

beforeAll(async () => {
  // Upper case in the setting: emails are compared without case.
  cluster = await startInstances(2, { OPERATOR_EMAILS: ` Someone@Example.com, ${operatorEmail.toUpperCase()} `, RATE_LIMIT_MULTIPLIER: "100" });
  const res = await fetch(`${cluster.instances[0]!.url}/api/auth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: operatorEmail, username: `op${Date.now().toString(36)}`, password: "correct horse battery" }),
  });
  expect(res.status).toBe(201);
  operatorToken = ((await res.json()) as { token: string }).token;
}, 60_000);

afterAll(async () => {
  for (const s of sockets) s.ws?.close();
  await cluster?.stop();
});

describe("GET /api/ops/instances", () => {
  test("an operator sees both instances, with the connections and messages of real traffic", async () => {
    const [a, b] = cluster.instances;
    const alice = await signUp(a!.url, "opsa");
    const bob = await signUp(b!.url, "opsb");
    const room = await api(a!.url, "POST", "/api/rooms", alice.token, { name: `ops ${Date.now()}` });
    expect(room.status).toBe(201);
    expect((await api(b!.url, "POST", `/api/rooms/${room.body.id}/join`, bob.token)).status).toBe(200);
    // A socket on each instance, both in the room; Alice sends through instance 0.
    const sa = await ChatClient.connect(a!.url, alice.token);
    const sb = await ChatClient.connect(b!.url, bob.token);
    sockets.push(sa, sb);
    await sa.join(room.body.id);
    await sb.join(room.body.id);

    let seen: Instances | undefined;
    const deadline = Date.now() + 15_000;
    for (let i = 0; Date.now() < deadline; i++) {
      await sa.request("send_message", { roomId: room.body.id, content: `ops ${i}`, clientMsgId: `ops-${i}`, timestamp: Date.now() });
      // Asked of instance 1: it answers with instance 0's snapshot too, read from Redis.
      const res = await api(b!.url, "GET", "/api/ops/instances", operatorToken);
      expect(res.status).toBe(200);
      seen = res.body as Instances;
      const byId = new Map(seen.instances.map((x) => [x.instanceId, x.current]));
      const first = byId.get("inst-0");
      if (byId.get("inst-1")?.connections && first?.connections && (first.messagesPerSecond ?? 0) > 0 && first.deliveryP95Ms !== null) break;
      await Bun.sleep(200);
    }
    expect(seen!.instances.map((x) => x.instanceId)).toEqual(["inst-0", "inst-1"]);
    const [first, second] = seen!.instances;
    expect(first!.current.connections).toBeGreaterThanOrEqual(1);
    expect(second!.current.connections).toBeGreaterThanOrEqual(1);
    expect(first!.current.openRooms).toBeGreaterThanOrEqual(1);
    expect(first!.current.messagesPerSecond).toBeGreaterThan(0);
    expect(first!.current.deliveryP95Ms).toBeGreaterThan(0);
    expect(first!.current.deliveryP95Ms).toBeLessThan(2_500);
    expect(first!.history.length).toBeGreaterThan(1);
    expect(seen!.intervalMs).toBe(1_000);
  }, 30_000);

  test("a signed-in user who is not an operator gets 404 with the error body", async () => {
    const someone = await signUp(cluster.instances[0]!.url, "notop");
    const res = await api(cluster.instances[0]!.url, "GET", "/api/ops/instances", someone.token);
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: { code: "not_found", message: "page not found" } });
  });

  test("without a session: 401", async () => {
    const res = await fetch(`${cluster.instances[1]!.url}/api/ops/instances`);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("unauthorized");
    const bad = await api(cluster.instances[1]!.url, "GET", "/api/ops/instances", "not-a-token");
    expect(bad.status).toBe(401);
  });

  test("the endpoint is in the OpenAPI document, with its 401 and 404", async () => {
    const doc = (await (await fetch(`${cluster.instances[0]!.url}/api/openapi.json`)).json()) as { paths: Record<string, { get?: { responses: Record<string, unknown> } }> };
    const get = doc.paths["/api/ops/instances"]?.get;
    expect(Object.keys(get?.responses ?? {})).toEqual(expect.arrayContaining(["200", "401", "404"]));
  });

  test("a stopped instance drops off the page once its snapshot expires", async () => {
    await cluster.instances[1]!.stop();
    const deadline = Date.now() + 10_000;
    let ids: string[] = [];
    while (Date.now() < deadline) {
      const res = await api(cluster.instances[0]!.url, "GET", "/api/ops/instances", operatorToken);
      ids = (res.body as Instances).instances.map((x) => x.instanceId);
      if (ids.length === 1) break;
      await Bun.sleep(250);
    }
    expect(ids).toEqual(["inst-0"]);
  }, 15_000);
});

describe("sampling the registry", () => {
  test("p95 of the observations between two readings, interpolated in the bucket", () => {
    const before = new Map([[0.01, 10], [0.1, 10], [Infinity, 10]]);
    // 100 new observations: 50 under 10 ms, 50 between 10 and 100 ms.
    const after = new Map([[0.01, 60], [0.1, 110], [Infinity, 110]]);
    expect(quantileOfDelta(0.95, before, after)).toBeCloseTo(0.01 + 0.09 * (45 / 50), 6);
    expect(quantileOfDelta(0.5, before, after)).toBeCloseTo(0.01, 6);
    expect(quantileOfDelta(0.95, after, after)).toBeNull();
  });

  test("a registry without the product's metrics samples as zeros and nulls", async () => {
    const sample = createSampler(new Registry());
    await sample();
    expect(await sample()).toMatchObject({ connections: 0, messagesPerSecond: 0, deliveryP95Ms: null, cacheHitRatio: null, eventLoopLagMs: null, openRooms: 0 });
  });

  test("rates and p95 come from the interval, not from the process's whole life", async () => {
    const registry = new Registry();
    const h = new Histogram({ name: "message_delivery_seconds", help: "x", buckets: [0.001, 0.1, 1], registers: [registry] });
    let t = 0;
    const sample = createSampler(registry, () => t);
    for (let i = 0; i < 100; i++) h.observe(0.5);
    await sample();
    t = 2_000;
    for (let i = 0; i < 10; i++) h.observe(0.0005);
    const s = await sample();
    expect(s.messagesPerSecond).toBe(5);
    expect(s.deliveryP95Ms).toBeLessThanOrEqual(1);
  });
});

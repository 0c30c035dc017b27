// The registry as an operator scrapes it from a real instance (Postgres, Redis, Bun.serve):
// every series is listed from the first scrape, and each counts what it says after traffic.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { api, signUp, startInstances } from "../../test/support/test-cluster.ts";
import { ChatClient } from "../../test/support/ws-client.ts";
import { DEFAULT_LIMITS } from "../rate-limit/limits.ts";
import { CACHE_NAMES, REDIS_CONNECTIONS } from "./registry.ts";

let cluster: Awaited<ReturnType<typeof startInstances>>;
let url: string;

beforeAll(async () => {
  cluster = await startInstances(1, { DB_POOL_SIZE: "4", RATE_LIMIT_MULTIPLIER: "1" });
  url = cluster.instances[0]!.url;
}, 30_000);
afterAll(() => cluster?.stop());

/** `name{a="x",b="y"}` -> value, with the instance_id label left out of the key. */
async function scrape(): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = (m[2] ?? "")
      .split(/,(?=[a-z_]+=")/)
      .filter((l) => l && !l.startsWith("instance_id="))
      .join(",");
    out.set(labels ? `${m[1]}{${labels}}` : m[1]!, Number(m[3]));
  }
  return out;
}

test("a fresh scrape lists every series, at 0 where nothing happened yet", async () => {
  const s = await scrape();
  for (const limit of Object.keys(DEFAULT_LIMITS)) expect(s.get(`rate_limited_total{limit="${limit}"}`)).toBe(0);
  for (const cache of CACHE_NAMES) {
    for (const result of ["hit", "miss"]) expect(s.get(`cache_requests_total{cache="${cache}",result="${result}"}`)).toBe(0);
  }
  for (const connection of REDIS_CONNECTIONS) expect(s.get(`redis_reconnects_total{connection="${connection}"}`)).toBe(0);
  for (const name of ["bus_messages_published_total", "bus_messages_received_total", "room_gaps_detected_total", "room_gap_fills_total", "rooms_open", "db_pool_in_use", "db_pool_waiting"]) {
    expect(s.get(name)).toBe(0);
  }
  expect(s.get("db_pool_size")).toBe(4);
  expect(s.get("message_delivery_seconds_count")).toBe(0);
  expect(s.get("message_persist_seconds_count")).toBe(0);
});

test("sends are timed, published and rate-limited by name; sessions hit the cache; a joined room is open", async () => {
  const user = await signUp(url, "mt");
  const room = (await api(url, "POST", "/api/rooms", user.token, { name: "metrics room" })).body;
  const client = await ChatClient.connect(url, user.token);
  await client.join(room.id);
  const before = await scrape();
  expect(before.get("rooms_open")).toBe(1);
  // The send limit is a bucket of 30 per user (refilled over 10 s): the 31st at once is refused.
  const statuses: number[] = [];
  for (let i = 0; i < 31; i++) {
    statuses.push((await api(url, "POST", `/api/rooms/${room.id}/messages`, user.token, { content: `m${i}`, clientMsgId: `mt-${i}` })).status);
  }
  expect(statuses.filter((s) => s === 201)).toHaveLength(30);
  expect(statuses.at(-1)).toBe(429);
  const after = await scrape();
  expect(after.get("message_persist_seconds_count")).toBe(30);
  expect(after.get("message_delivery_seconds_count")).toBe(30);
  expect(after.get('rate_limited_total{limit="send"}')).toBe(1);
  expect(after.get('rate_limited_total{limit="login"}')).toBe(0);
  // Each request resolves its session: the first read misses, the cached ones hit.
  expect(after.get('cache_requests_total{cache="session",result="hit"}')).toBeGreaterThanOrEqual(30);
  expect(after.get('cache_requests_total{cache="session",result="miss"}')).toBeGreaterThanOrEqual(1);
  expect(after.get("bus_messages_published_total")).toBeGreaterThanOrEqual(30);
  // The instance hears its own publishes on the room's channel.
  expect(after.get("bus_messages_received_total")).toBeGreaterThanOrEqual(30);
  client.close();
  await client.until(() => client.closed);
  const closed = await scrape().then(async (s) => {
    for (let i = 0; i < 20 && s.get("rooms_open") !== 0; i++) s = await Bun.sleep(50).then(scrape);
    return s;
  });
  expect(closed.get("rooms_open")).toBe(0);
});

test("the pool gauges count statements under way: in use up to the pool size, the rest waiting", async () => {
  const { database } = cluster.instances[0]!.stores;
  const slow = Array.from({ length: 6 }, () => database.queryRows("select pg_sleep(0.4)", []));
  await Bun.sleep(100);
  const during = await scrape();
  expect(during.get("db_pool_in_use")).toBe(4);
  expect(during.get("db_pool_waiting")).toBe(2);
  await Promise.all(slow);
  const after = await scrape();
  expect(after.get("db_pool_in_use")).toBe(0);
  expect(after.get("db_pool_waiting")).toBe(0);
});

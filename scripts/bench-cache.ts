// Response cache benchmark, through Caddy:
//   bun run bench:cache [--instances 2] [--users 40] [--rooms 20] [--messages 30] [--seconds 5] [--concurrency 16] [--write-percent 20]
// Two clusters share one Postgres and Redis: one with the cache (RESPONSE_CACHE=on), one
// without (off). For each cacheable GET it prints latency and requests/s cached,
// uncached and revalidated (If-None-Match -> 304); then the hit ratio per endpoint
// under a mix of reads and writes like a chat client's.
import { parseArgs } from "node:util";
import { startCluster, type Cluster } from "./cluster.ts";
import { intFlag } from "./bench/flags.ts";

const { values } = parseArgs({
  options: {
    instances: { type: "string", default: "2" },
    users: { type: "string", default: "40" },
    rooms: { type: "string", default: "20" },
    messages: { type: "string", default: "30" },
    seconds: { type: "string", default: "5" },
    concurrency: { type: "string", default: "16" },
    "write-percent": { type: "string", default: "20" },
  },
});
const num = (name: keyof typeof values) => intFlag(name, values[name] as string | undefined);
const opts = {
  instances: num("instances"),
  users: num("users"),
  rooms: num("rooms"),
  messages: num("messages"),
  seconds: num("seconds"),
  concurrency: num("concurrency"),
  writePercent: num("write-percent"),
};
const ROOMS_PER_USER = Math.min(8, opts.rooms);

interface User {
  id: string;
  token: string;
  rooms: string[];
}

async function json(base: string, method: string, path: string, token?: string, body?: unknown) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.status === 204 ? null : res.json();
}

const pick = <T>(items: T[]) => items[Math.floor(Math.random() * items.length)]!;

async function seed(base: string): Promise<User[]> {
  const users: User[] = [];
  for (let i = 0; i < opts.users; i++) {
    const n = `bc${Date.now().toString(36)}${i}`;
    const r = await json(base, "POST", "/api/auth/register", undefined, { email: `${n}@example.com`, username: n, password: "correct horse battery" });
    users.push({ id: r.user.id, token: r.token, rooms: [] });
  }
  const rooms: string[] = [];
  for (let i = 0; i < opts.rooms; i++) rooms.push((await json(base, "POST", "/api/rooms", users[i % users.length]!.token, { name: `bench ${i} ${Date.now()}` })).id);
  for (const [i, u] of users.entries()) {
    const mine = new Set([rooms[i % rooms.length]!]);
    while (mine.size < ROOMS_PER_USER) mine.add(pick(rooms));
    for (const room of mine) await json(base, "POST", `/api/rooms/${room}/join`, u.token).catch(() => {});
    u.rooms = [...mine];
  }
  await Promise.all(
    rooms.map(async (room) => {
      const members = users.filter((u) => u.rooms.includes(room));
      for (let m = 0; m < opts.messages; m++) {
        await json(base, "POST", `/api/rooms/${room}/messages`, pick(members).token, { content: `seed ${m}`, clientMsgId: crypto.randomUUID() });
      }
    }),
  );
  return users;
}

const ENDPOINTS = {
  "GET /api/rooms": (_u: User, _room: string) => "/api/rooms?limit=50",
  "GET /api/rooms/:room": (_u: User, room: string) => `/api/rooms/${room}`,
  "GET /api/rooms/:room/members": (_u: User, room: string) => `/api/rooms/${room}/members`,
  "GET /api/rooms/:room/messages": (_u: User, room: string) => `/api/rooms/${room}/messages`,
} as const;
type Endpoint = keyof typeof ENDPOINTS;

function summary(latencies: number[], seconds: number) {
  const sorted = latencies.sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { rps: Math.round(sorted.length / seconds), p50: at(0.5), p95: at(0.95), p99: at(0.99) };
}

/** Closed loop: `concurrency` workers, each a random user asking for one of its rooms. */
async function measure(base: string, users: User[], endpoint: Endpoint, revalidate: boolean) {
  const latencies: number[] = [];
  const etags = new Map<string, string>();
  let errors = 0;
  const until = performance.now() + opts.seconds * 1000;
  await Promise.all(
    Array.from({ length: opts.concurrency }, async () => {
      while (performance.now() < until) {
        const u = pick(users);
        const path = ENDPOINTS[endpoint](u, pick(u.rooms));
        const key = `${u.id} ${path}`;
        const headers: Record<string, string> = { authorization: `Bearer ${u.token}`, "accept-encoding": "gzip" };
        if (revalidate && etags.has(key)) headers["if-none-match"] = etags.get(key)!;
        const started = performance.now();
        const res = await fetch(`${base}${path}`, { headers });
        await res.arrayBuffer();
        latencies.push(performance.now() - started);
        if (res.status !== 200 && res.status !== 304) errors++;
        const etag = res.headers.get("etag");
        if (etag) etags.set(key, etag);
      }
    }),
  );
  return { ...summary(latencies, opts.seconds), errors };
}

/** A chat client's mix: mostly reads (revalidated with ETags, as browsers do), some sends and read markers. */
async function mix(base: string, users: User[]) {
  const counts = new Map<string, { hit: number; miss: number }>();
  const etags = new Map<string, string>();
  let writes = 0;
  const until = performance.now() + opts.seconds * 2 * 1000;
  const read = async (u: User, endpoint: Endpoint, room: string) => {
    const path = ENDPOINTS[endpoint](u, room);
    const key = `${u.id} ${path}`;
    const headers: Record<string, string> = { authorization: `Bearer ${u.token}` };
    if (etags.has(key)) headers["if-none-match"] = etags.get(key)!;
    const res = await fetch(`${base}${path}`, { headers });
    const body = res.status === 200 ? await res.json() : (await res.arrayBuffer(), null);
    const c = counts.get(endpoint) ?? { hit: 0, miss: 0 };
    if (res.headers.get("x-cache") === "HIT") c.hit++;
    else c.miss++;
    counts.set(endpoint, c);
    const etag = res.headers.get("etag");
    if (etag) etags.set(key, etag);
    return body;
  };
  await Promise.all(
    Array.from({ length: opts.concurrency }, async () => {
      while (performance.now() < until) {
        const u = pick(users);
        const room = pick(u.rooms);
        // Reads in the proportions 25 list : 20 room : 30 newest page : 5 members; writes half sends, half read markers.
        const w = opts.writePercent / 100;
        const roll = Math.random();
        if (roll < w / 2) {
          await json(base, "POST", `/api/rooms/${room}/messages`, u.token, { content: "mix", clientMsgId: crypto.randomUUID() });
          writes++;
        } else if (roll < w) {
          const view = await json(base, "GET", `/api/rooms/${room}`, u.token);
          await json(base, "POST", `/api/rooms/${room}/read`, u.token, { seq: view.lastSeq });
          writes++;
        } else {
          const r = ((roll - w) / (1 - w)) * 80;
          if (r < 25) await read(u, "GET /api/rooms", room);
          else if (r < 45) await read(u, "GET /api/rooms/:room", room);
          else if (r < 75) await read(u, "GET /api/rooms/:room/messages", room);
          else await read(u, "GET /api/rooms/:room/members", room);
        }
      }
    }),
  );
  return { counts, writes };
}

const uptime = () => Bun.spawnSync(["uptime"]).stdout.toString().trim();
const fmt = (r: { rps: number; p50: number; p95: number; p99: number }) =>
  `${String(r.rps).padStart(6)} req/s  p50 ${r.p50.toFixed(1).padStart(6)}  p95 ${r.p95.toFixed(1).padStart(6)}  p99 ${r.p99.toFixed(1).padStart(6)} ms`;

let cached: Cluster | undefined;
let uncached: Cluster | undefined;
try {
  const env = { RATE_LIMIT_MULTIPLIER: "1000", LOG_LEVEL: "warn" };
  cached = await startCluster({ instances: opts.instances, env });
  uncached = await startCluster({
    instances: opts.instances,
    databaseUrl: cached.databaseUrl,
    redisUrl: cached.redisUrl,
    env: { ...env, RESPONSE_CACHE: "off" },
  });
  console.error(`[bench:cache] seeding ${opts.users} users, ${opts.rooms} rooms x ${opts.messages} messages`);
  const users = await seed(cached.url);
  console.log(`bench:cache ${JSON.stringify(opts)}; ${opts.instances} instances behind Caddy per cluster`);
  console.log(`load before: ${uptime()}`);
  for (const endpoint of Object.keys(ENDPOINTS) as Endpoint[]) {
    await measure(cached.url, users, endpoint, false); // warm
    const hit = await measure(cached.url, users, endpoint, false);
    const revalidated = await measure(cached.url, users, endpoint, true);
    const miss = await measure(uncached.url, users, endpoint, false);
    console.log(endpoint);
    console.log(`  uncached     ${fmt(miss)}`);
    console.log(`  cached (HIT) ${fmt(hit)}`);
    console.log(`  304 (ETag)   ${fmt(revalidated)}`);
    if (hit.errors + revalidated.errors + miss.errors) console.log(`  errors: ${hit.errors + revalidated.errors + miss.errors}`);
  }
  const { counts, writes } = await mix(cached.url, users);
  console.log(`mix: ${opts.seconds * 2} s, ${writes} writes (sends and read markers, ${opts.writePercent}% of actions); hit ratio per endpoint (HIT: answered without Postgres):`);
  for (const [endpoint, c] of counts) {
    console.log(`  ${endpoint.padEnd(30)} ${((100 * c.hit) / (c.hit + c.miss)).toFixed(1).padStart(5)}%  (${c.hit} hits, ${c.miss} misses)`);
  }
  console.log(`load after: ${uptime()}`);
} finally {
  await uncached?.stop();
  await cached?.stop();
}

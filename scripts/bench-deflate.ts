// Measures what permessage-deflate costs and saves on the server, side by side:
// one instance on throwaway Postgres + Redis, one room of --clients sockets,
// --messages chat-like messages fanned out to all of them; server CPU time
// (/proc utime+stime) and bytes written (loopback tx bytes from /proc/net/dev) per delivered message.
//   bun run bench:deflate [--clients 200] [--messages 400]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startServer } from "../test/support/server-process.ts";
import { startPostgres, startRedis } from "./services.ts";

const { values } = parseArgs({
  options: { clients: { type: "string", default: "200" }, messages: { type: "string", default: "400" } },
});
const CLIENTS = Number(values.clients);
const MESSAGES = Number(values.messages);
const TICKS = 100; // USER_HZ on Linux

async function procStats(pid: number) {
  const stat = (await Bun.file(`/proc/${pid}/stat`).text()).split(") ")[1]!.split(" ");
  // Loopback bytes sent: dominated by the deliveries (headers and the few HTTP/SQL round trips included).
  const dev = await Bun.file("/proc/net/dev").text();
  const lo = dev.split("\n").find((l) => l.trim().startsWith("lo:"))!.split(":")[1]!.trim().split(/\s+/);
  return { cpuMs: ((Number(stat[11]) + Number(stat[12])) * 1000) / TICKS, wchar: Number(lo[8]) };
}

const sampleTexts = [
  "hey, are we still on for the release call at 3?",
  "yes — I pushed the fix for the reconnect bug, can someone review the PR before lunch please",
  "lol",
  "The migration ran fine on staging; numbers look the same as last week, p95 under 20 ms for history pages.",
];

async function run(deflate: boolean, databaseUrl: string, redisUrl: string) {
  const server = startServer({
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    RATE_LIMIT_MULTIPLIER: "10000",
    WS_PER_MESSAGE_DEFLATE: String(deflate),
    LOG_LEVEL: "warn",
  });
  await server.waitReady();
  const post = (path: string, body: unknown, token?: string) =>
    fetch(`${server.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    }).then((r) => r.json() as Promise<any>);
  const tag = `${deflate ? "d" : "p"}${Date.now().toString(36)}`;
  const owner = await post("/api/auth/register", { email: `${tag}@example.com`, username: tag, password: "password123" });
  const room = await post("/api/rooms", { name: `bench ${tag}` }, owner.token);

  let received = 0;
  const sockets: WebSocket[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    const ws = new WebSocket(`${server.url.replace("http", "ws")}/ws?token=${owner.token}`, { perMessageDeflate: true } as any);
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error("connect failed"));
    });
    ws.onmessage = (e) => {
      if (String(e.data).startsWith('{"event":"new_message"')) received++;
    };
    ws.send(JSON.stringify({ event: "join_room", data: { roomId: room.id } }));
    sockets.push(ws);
  }
  await Bun.sleep(500);
  const before = await procStats(server.proc.pid);
  const started = performance.now();
  for (let i = 0; i < MESSAGES; i++) {
    await post(`/api/rooms/${room.id}/messages`, { content: sampleTexts[i % sampleTexts.length], clientMsgId: `b${i}` }, owner.token);
  }
  const expected = MESSAGES * CLIENTS;
  while (received < expected && performance.now() - started < 60_000) await Bun.sleep(20);
  const after = await procStats(server.proc.pid);
  for (const ws of sockets) ws.close();
  await server.stop();
  const deliveries = received;
  return {
    deflate,
    deliveries,
    cpuUsPerDelivery: ((after.cpuMs - before.cpuMs) * 1000) / deliveries,
    bytesPerDelivery: (after.wchar - before.wchar) / deliveries,
  };
}

const dir = mkdtempSync(join(tmpdir(), "chat-bench-"));
const [pg, redis] = await Promise.all([startPostgres(dir), startRedis(dir)]);
try {
  const rows = [];
  for (const deflate of [false, true]) rows.push(await run(deflate, pg.url, redis.url));
  console.log(`permessage-deflate: ${CLIENTS} sockets in one room, ${MESSAGES} messages posted over HTTP`);
  for (const r of rows) {
    console.log(
      `  deflate=${String(r.deflate).padEnd(5)} deliveries=${r.deliveries}  server CPU ${r.cpuUsPerDelivery.toFixed(2)} µs/delivery  ` +
        `loopback ${r.bytesPerDelivery.toFixed(1)} B/delivery`,
    );
  }
} finally {
  await Promise.allSettled([pg.stop(), redis.stop()]);
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);

// Failures with real processes: an instance killed (-9) or drained (SIGTERM),
// Redis restarted, while clients send. Each ends by checking that every
// receiver's messages equal the rows in Postgres: no loss, no duplicate, in order.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { startRedis, type Service } from "../../scripts/services.ts";
import { startServer, type ServerProcess } from "../support/server-process.ts";
import { api, signUp } from "../support/test-cluster.ts";
import { createDatabase } from "../support/test-app.ts";
import { ChatClient } from "../support/ws-client.ts";

interface Rig {
  dir: string;
  databaseUrl: string;
  redis: Service;
  servers: ServerProcess[];
  clients: ChatClient[];
}
let rig: Rig | undefined;

afterEach(async () => {
  if (!rig) return;
  for (const c of rig.clients) c.close();
  await Promise.allSettled(rig.servers.map((s) => s.stop("SIGKILL")));
  await rig.redis.stop();
  rmSync(rig.dir, { recursive: true, force: true });
  rig = undefined;
});

async function setUp(instances = 2): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), "chat-chaos-"));
  const [databaseUrl, redis] = await Promise.all([createDatabase(), startRedis(dir)]);
  const servers = Array.from({ length: instances }, (_, i) =>
    startServer({ DATABASE_URL: databaseUrl, REDIS_URL: redis.url, INSTANCE_ID: `chaos-${i}`, RATE_LIMIT_MULTIPLIER: "100", LOG_LEVEL: "warn" }),
  );
  await Promise.all(servers.map((s) => s.waitReady()));
  rig = { dir, databaseUrl, redis, servers, clients: [] };
  return rig;
}

async function roomRows(databaseUrl: string, roomId: string) {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql`select seq::int as seq, client_msg_id from messages where room_id = ${roomId} order by seq`;
    return rows.map((r) => ({ seq: r.seq as number, clientMsgId: r.client_msg_id as string }));
  } finally {
    await sql.end();
  }
}

/** Senders and receivers spread over the instances, all resuming after any drop. */
async function population(r: Rig, senders: number, receivers: number) {
  const urls = r.servers.map((s) => s.url);
  const owner = await signUp(urls[0]!, "own");
  const room = (await api(urls[0]!, "POST", "/api/rooms", owner.token, { name: `chaos ${Date.now()}` })).body as { id: string };
  const make = async (i: number) => {
    const user = await signUp(urls[i % urls.length]!, "cx");
    const c = await ChatClient.connect(urls[i % urls.length]!, user.token);
    c.autoResume(urls);
    await c.join(room.id);
    r.clients.push(c);
    return c;
  };
  const sendClients = await Promise.all(Array.from({ length: senders }, (_, i) => make(i)));
  const recvClients = await Promise.all(Array.from({ length: receivers }, (_, i) => make(i + senders)));
  return { room, sendClients, recvClients };
}

/** Each sender sends `count` messages, one every `everyMs`, without waiting for acks. */
async function traffic(senders: ChatClient[], roomId: string, count: number, everyMs: number) {
  await Promise.all(
    senders.map(async (s, i) => {
      for (let j = 0; j < count; j++) {
        s.sendReliably(roomId, `s${i} m${j}`, `s${i}-${j}`);
        await Bun.sleep(everyMs);
      }
    }),
  );
}

async function expectConsistent(r: Rig, roomId: string, senders: ChatClient[], receivers: ChatClient[], expected: number) {
  for (const s of senders) await s.until(() => s.unacked.size === 0, 20_000);
  const rows = await roomRows(r.databaseUrl, roomId);
  expect(rows.length).toBe(expected);
  expect(new Set(rows.map((row) => row.clientMsgId)).size).toBe(expected);
  const all = rows.map((row) => row.seq);
  expect(all).toEqual(Array.from({ length: expected }, (_, i) => i + 1));
  for (const c of receivers) {
    await c.until(() => c.messageSeqs(roomId).length >= expected, 20_000).catch(() => {});
    expect(c.messageSeqs(roomId)).toEqual(all);
  }
}

describe("chaos", () => {
  test("kill -9 an instance while clients send: clients resume on the other, nothing lost or doubled", async () => {
    const r = await setUp(2);
    const { room, sendClients, recvClients } = await population(r, 2, 4);
    const sending = traffic(sendClients, room.id, 60, 10);
    await Bun.sleep(250);
    r.servers[0]!.proc.kill("SIGKILL");
    await sending;
    await expectConsistent(r, room.id, sendClients, recvClients, 120);
    expect(recvClients.some((c) => c.reconnects > 0)).toBe(true);
  }, 60_000);

  test("SIGTERM drains: sockets close with 1012, clients resume elsewhere, the process exits 0", async () => {
    const r = await setUp(2);
    const { room, sendClients, recvClients } = await population(r, 2, 4);
    const sending = traffic(sendClients, room.id, 60, 10);
    await Bun.sleep(250);
    const exit = r.servers[0]!.stop("SIGTERM");
    await sending;
    expect(await exit).toBe(0);
    await expectConsistent(r, room.id, sendClients, recvClients, 120);
    const onFirst = [...sendClients, ...recvClients].filter((c) => c.closeCodes.length > 0);
    expect(onFirst.length).toBeGreaterThan(0);
    expect(onFirst.every((c) => c.closeCodes.includes(1012))).toBe(true);
  }, 60_000);

  test("SIGTERM while Redis is down: the instance still drains, closes its sockets with 1012 and exits 0", async () => {
    const r = await setUp(1);
    const url = r.servers[0]!.url;
    const user = await signUp(url);
    const room = (await api(url, "POST", "/api/rooms", user.token, { name: `down ${Date.now()}` })).body as { id: string };
    // A joined socket: its room's channel and the user feed are subscribed, so the drain unsubscribes.
    const socket = await ChatClient.connect(url, user.token);
    r.clients.push(socket);
    await socket.join(room.id);
    await r.redis.stop();
    const asked = Date.now();
    const code = await Promise.race([r.servers[0]!.stop("SIGTERM"), Bun.sleep(20_000).then(() => "still running")]);
    expect(code).toBe(0);
    // Two health-check intervals of announce (1 s each by default), then the rest at once.
    expect(Date.now() - asked).toBeLessThan(6_000);
    await socket.until(() => socket.closeCodes.length > 0, 5_000);
    expect(socket.closeCodes[0]).toBe(1012);
  }, 60_000);

  test("Redis restarts mid-stream: no socket closes, holes are filled from Postgres", async () => {
    const r = await setUp(2);
    const { room, sendClients, recvClients } = await population(r, 2, 4);
    const sending = traffic(sendClients, room.id, 60, 10);
    await Bun.sleep(200);
    const port = r.redis.port;
    await r.redis.stop();
    await Bun.sleep(500);
    r.redis = await startRedis(r.dir, port);
    await sending;
    await expectConsistent(r, room.id, sendClients, recvClients, 120);
    expect([...sendClients, ...recvClients].every((c) => c.closeCodes.length === 0)).toBe(true);
  }, 60_000);

  test("when an instance dies, its users drop out of presence on the others within seconds", async () => {
    const r = await setUp(2);
    const [urlA, urlB] = r.servers.map((s) => s.url) as [string, string];
    const [stay, gone] = await Promise.all([signUp(urlA), signUp(urlB)]);
    const room = (await api(urlA, "POST", "/api/rooms", stay.token, { name: `presence ${Date.now()}` })).body as { id: string };
    const watcher = await ChatClient.connect(urlA, stay.token);
    r.clients.push(watcher);
    await watcher.join(room.id);
    const doomed = await ChatClient.connect(urlB, gone.token);
    r.clients.push(doomed);
    await doomed.join(room.id);
    await watcher.until(() => watcher.presence.get(room.id)?.total === 2, 3_000);
    expect(watcher.onlineIds(room.id)).toEqual([stay.id, gone.id].sort());
    const killedAt = Date.now();
    r.servers[1]!.proc.kill("SIGKILL");
    await watcher.until(() => watcher.presence.get(room.id)?.total === 1, 15_000);
    expect(watcher.onlineIds(room.id)).toEqual([stay.id]);
    // Entries live 8 s unless refreshed; the survivor looks every 2 s.
    expect(Date.now() - killedAt).toBeLessThan(12_000);
  }, 30_000);

  test("while Redis stays down, joins and sends go on and reach the other instance through Postgres", async () => {
    const r = await setUp(2);
    const [urlA, urlB] = r.servers.map((s) => s.url) as [string, string];
    const [sender, receiver, late] = await Promise.all([signUp(urlA), signUp(urlB), signUp(urlB)]);
    const room = (await api(urlA, "POST", "/api/rooms", sender.token, { name: `outage ${Date.now()}` })).body as { id: string };
    const s = await ChatClient.connect(urlA, sender.token);
    const rcv = await ChatClient.connect(urlB, receiver.token);
    r.clients.push(s, rcv);
    await s.join(room.id);
    await rcv.join(room.id);
    await r.redis.stop();

    const joinStarted = Date.now();
    const lateClient = await ChatClient.connect(urlB, late.token);
    r.clients.push(lateClient);
    await lateClient.join(room.id, 0);
    const joinMs = Date.now() - joinStarted;
    for (let i = 0; i < 10; i++) s.sendReliably(room.id, `during outage ${i}`, `o${i}`);
    await s.until(() => s.unacked.size === 0, 10_000);
    for (const c of [rcv, lateClient]) {
      await c.until(() => c.messageSeqs(room.id).length >= 10, 10_000);
      expect(c.messageSeqs(room.id)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    }
    expect(joinMs).toBeLessThan(5_000);
    expect([s, rcv, lateClient].every((c) => c.closeCodes.length === 0)).toBe(true);

    // A removal announced while Redis is down is caught up when it comes back.
    expect((await api(urlA, "DELETE", `/api/rooms/${room.id}/members/${receiver.id}`, sender.token)).status).toBe(204);
    r.redis = await startRedis(r.dir, r.redis.port);
    await Bun.sleep(2_500);
    s.sendReliably(room.id, "after the removal", "after-removal");
    await lateClient.until(() => lateClient.messageSeqs(room.id).length >= 11, 10_000);
    await Bun.sleep(300);
    expect(rcv.messageSeqs(room.id)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
  }, 60_000);
});

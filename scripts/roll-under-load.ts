// A rolling restart measured under traffic: WebSocket senders and receivers and
// HTTP readers all go through Caddy while the cluster replaces its instances one
// by one. Used by `bun run bench:roll` and by the system test (smaller).
import postgres from "postgres";
import { ChatClient } from "../test/support/ws-client.ts";
import type { Cluster } from "./cluster.ts";

export interface RollLoad {
  senders: number;
  receivers: number;
  /** Each sender sends one message every this many ms (no waiting for acks). */
  sendEveryMs: number;
  /** Concurrent HTTP readers, each looping GET /api/me and the room's newest page. */
  httpReaders: number;
  /** Traffic before the roll starts and after it ends. */
  marginMs: number;
}

export interface RollResult {
  rollMs: number;
  messages: number;
  /** Per receiver: messages in Postgres it never got, got twice, or got out of order. */
  lost: number;
  duplicated: number;
  outOfOrder: number;
  reconnects: number;
  closeCodes: Record<string, number>;
  http: { total: number; failed: number; failures: Record<string, number> };
}

async function signUp(base: string, tag: string) {
  const n = `${tag}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`;
  const res = await fetch(`${base}/api/auth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: `${n}@example.com`, username: n.slice(0, 32), password: "correct horse battery" }),
  });
  if (res.status !== 201) throw new Error(`register: ${res.status} ${await res.text()}`);
  return (await res.json()) as { user: { id: string }; token: string };
}

export async function rollUnderLoad(cluster: Cluster, load: RollLoad): Promise<RollResult> {
  const base = cluster.url;
  const owner = await signUp(base, "rollown");
  const roomRes = await fetch(`${base}/api/rooms`, {
    method: "POST",
    headers: { authorization: `Bearer ${owner.token}`, "content-type": "application/json" },
    body: JSON.stringify({ name: `roll ${Date.now()}` }),
  });
  const room = (await roomRes.json()) as { id: string };

  const connect = async (tag: string) => {
    const user = await signUp(base, tag);
    const c = await ChatClient.connect(base, user.token);
    c.autoResume([base]);
    await c.join(room.id);
    return { c, token: user.token };
  };
  const senders = await Promise.all(Array.from({ length: load.senders }, () => connect("rolls")));
  const receivers = await Promise.all(Array.from({ length: load.receivers }, () => connect("rollr")));
  const clients = [...senders, ...receivers].map((s) => s.c);

  let running = true;
  let sent = 0;
  const sending = Promise.all(
    senders.map(async ({ c }, i) => {
      for (let j = 0; running; j++) {
        c.sendReliably(room.id, `s${i} m${j}`, `s${i}-${j}`);
        sent++;
        await Bun.sleep(load.sendEveryMs);
      }
    }),
  );
  const http = { total: 0, failed: 0, failures: {} as Record<string, number> };
  const reading = Promise.all(
    Array.from({ length: load.httpReaders }, async (_, i) => {
      const token = receivers[i % receivers.length]!.token;
      for (let j = 0; running; j++) {
        const path = j % 2 ? "/api/me" : `/api/rooms/${room.id}/messages`;
        let outcome: string;
        try {
          const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) });
          await res.arrayBuffer();
          outcome = res.status === 200 ? "ok" : String(res.status);
        } catch (err) {
          outcome = (err as Error).name || "error";
        }
        http.total++;
        if (outcome !== "ok") {
          http.failed++;
          http.failures[outcome] = (http.failures[outcome] ?? 0) + 1;
        }
      }
    }),
  );

  await Bun.sleep(load.marginMs);
  const started = performance.now();
  await cluster.roll();
  const rollMs = Math.round(performance.now() - started);
  await Bun.sleep(load.marginMs);
  running = false;
  await Promise.all([sending, reading]);

  for (const { c } of senders) await c.until(() => c.unacked.size === 0, 30_000);
  const sql = postgres(cluster.databaseUrl, { max: 1, onnotice: () => {} });
  const rows = await sql`select seq::int as seq from messages where room_id = ${room.id} order by seq`;
  await sql.end();
  const expected = rows.map((r) => r.seq as number);
  let lost = 0;
  let duplicated = 0;
  let outOfOrder = 0;
  for (const { c } of receivers) {
    await c.until(() => c.messageSeqs(room.id).length >= expected.length, 20_000).catch(() => {});
    const got = c.messageSeqs(room.id);
    const unique = new Set(got);
    lost += expected.filter((s) => !unique.has(s)).length;
    duplicated += got.length - unique.size;
    outOfOrder += got.filter((s, i) => i > 0 && s < got[i - 1]!).length;
  }
  const closeCodes: Record<string, number> = {};
  for (const c of clients) for (const code of c.closeCodes) closeCodes[code] = (closeCodes[code] ?? 0) + 1;
  const reconnects = clients.reduce((n, c) => n + c.reconnects, 0);
  for (const c of clients) c.close();
  if (sent !== expected.length) throw new Error(`sent ${sent} messages, Postgres has ${expected.length}`);
  return { rollMs, messages: expected.length, lost, duplicated, outOfOrder, reconnects, closeCodes, http };
}

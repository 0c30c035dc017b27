// Presence at room scale across two instances: one first list per join, then
// diffs, with bytes per member that do not grow with the square of the room.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createSessions } from "../../src/auth/session.ts";
import { createUsers } from "../../src/auth/users.ts";
import { api, signUp, startInstances } from "../support/test-cluster.ts";
import { ChatClient } from "../support/ws-client.ts";

let cluster: Awaited<ReturnType<typeof startInstances>>;
let urls: string[];
const clients: ChatClient[] = [];

beforeAll(async () => {
  cluster = await startInstances(2, { PRESENCE_LIST_MAX: "250", RATE_LIMIT_MULTIPLIER: "1000" });
  urls = cluster.instances.map((i) => i.url);
});
afterAll(async () => {
  for (const c of clients) c.close();
  await cluster?.stop();
});

/** Many accounts at once: rows and sessions written directly (hashing 200 passwords is not what is tested). */
async function manyUsers(count: number) {
  const { db } = cluster.instances[0]!.stores.database;
  const users = createUsers(db);
  const sessions = createSessions(db, cluster.instances[0]!.stores.cache, 1);
  const tag = Math.random().toString(36).slice(2, 8);
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const { user: row } = await users.create({ email: `p${tag}${i}@example.com`, username: `p${tag}${i}`, passwordHash: "unused" });
      return { id: row.id, username: row.username, token: (await sessions.create(row.id)).token };
    }),
  );
}

const presenceBytes = (c: ChatClient) => (c.bytes.get("presence") ?? 0) + (c.bytes.get("presence_diff") ?? 0);

describe("presence in a room of 200 across two instances", () => {
  let room: { id: string; slug: string };
  let users: Awaited<ReturnType<typeof manyUsers>>;
  let socks: ChatClient[];

  test("200 users join within 10 s: every member ends with total 200 and the right names, one first list each, < 40 KB of presence", async () => {
    users = await manyUsers(200);
    room = (await api(urls[0]!, "POST", "/api/rooms", users[0]!.token, { name: `crowd ${Date.now()}` })).body;
    socks = await Promise.all(users.map((u, i) => ChatClient.connect(urls[i % 2]!, u.token)));
    clients.push(...socks);
    const started = Date.now();
    await Promise.all(
      socks.map(async (c, i) => {
        await Bun.sleep(i * 40);
        await c.join(room.id);
      }),
    );
    expect(Date.now() - started).toBeLessThan(10_000);
    const allIds = users.map((u) => u.id).sort();
    const settled = Date.now();
    for (const c of socks) await c.until(() => c.presence.get(room.id)?.total === 200 && c.onlineIds(room.id).length === 200, 5_000);
    const settleMs = Date.now() - settled;
    for (const c of socks) {
      expect(c.onlineIds(room.id)).toEqual(allIds);
      expect(c.frames.filter((f) => f.event === "presence").length).toBe(1);
      for (const f of c.frames.filter((f) => f.event === "presence_diff")) {
        const joined = new Set(f.data.joined.map((u: { id: string }) => u.id));
        expect(f.data.left.some((id: string) => joined.has(id))).toBe(false);
      }
      expect(presenceBytes(c)).toBeLessThan(40 * 1024);
    }
    expect(settleMs).toBeLessThan(2_000);
    const bytes = socks.map(presenceBytes).sort((a, b) => a - b);
    console.log(`presence bytes per member: median ${bytes[100]}, max ${bytes.at(-1)}; settled ${settleMs} ms after the last join`);
  }, 40_000);

  test("100 of them close their sockets: every remaining member has total 100 within 2 s", async () => {
    const gone = socks.slice(0, 100);
    const stay = socks.slice(100);
    const stayIds = users.slice(100).map((u) => u.id).sort();
    const closedAt = Date.now();
    for (const c of gone) c.close();
    for (const c of stay) await c.until(() => c.presence.get(room.id)?.total === 100, 2_500);
    expect(Date.now() - closedAt).toBeLessThan(2_000);
    for (const c of stay) await c.until(() => c.onlineIds(room.id).length === 100, 500);
    for (const c of stay) expect(c.onlineIds(room.id)).toEqual(stayIds);
    for (const c of stay) expect(c.frames.filter((f) => f.event === "presence").length).toBe(1);
  }, 20_000);

  test("GET /api/rooms/:room/presence pages the online names, with the room's visibility and validated input", async () => {
    const viewer = users[150]!;
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = cursor ? `?limit=30&cursor=${cursor}` : "?limit=30";
      const res = await api(urls[1]!, "GET", `/api/rooms/${room.slug}/presence${q}`, viewer.token);
      expect(res.status).toBe(200);
      expect(res.body.total).toBe(100);
      expect(res.body.data.length).toBeLessThanOrEqual(30);
      seen.push(...res.body.data.map((u: { id: string; username: string }) => u.id));
      cursor = res.body.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(4);
    expect(seen).toEqual(users.slice(100).map((u) => u.id).sort());

    const stranger = await signUp(urls[0]!);
    const secret = (await api(urls[0]!, "POST", "/api/rooms", stranger.token, { name: `secret ${Date.now()}`, isPrivate: true })).body;
    const hidden = await api(urls[0]!, "GET", `/api/rooms/${secret.id}/presence`, viewer.token);
    expect(hidden.status).toBe(404);
    expect(hidden.body.error.code).toBe("not_found");
    const missing = await api(urls[0]!, "GET", `/api/rooms/no-such-room/presence`, viewer.token);
    expect(missing.status).toBe(404);
    for (const bad of ["?limit=0", "?limit=501", "?limit=abc", "?cursor=nope", `?cursor=${"x".repeat(300)}`]) {
      const res = await api(urls[0]!, "GET", `/api/rooms/${room.id}/presence${bad}`, viewer.token);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe("invalid_request");
    }
    const anonymous = await fetch(`${urls[0]}/api/rooms/${room.id}/presence`);
    expect(anonymous.status).toBe(401);
    const doc = await (await fetch(`${urls[0]}/api/openapi.json`)).json();
    expect(doc.paths["/api/rooms/{room}/presence"]?.get).toBeDefined();
  }, 20_000);
});

/** Server frames from a raw WebSocket byte stream (unmasked, unfragmented, as Bun sends them). */
function parseServerFrames(bytes: Buffer): { opcode: number; text: string }[] {
  const out: { opcode: number; text: string }[] = [];
  for (let at = 0; at + 2 <= bytes.length; ) {
    const opcode = bytes[at]! & 0x0f;
    let len = bytes[at + 1]! & 0x7f;
    let head = 2;
    if (len === 126) (len = bytes.readUInt16BE(at + 2)), (head = 4);
    else if (len === 127) (len = Number(bytes.readBigUInt64BE(at + 2))), (head = 10);
    if (at + head + len > bytes.length) break;
    out.push({ opcode, text: bytes.subarray(at + head, at + head + len).toString() });
    at += head + len;
  }
  return out;
}

/** A client frame as a browser would send it (masked). */
function clientFrame(payload: unknown): Buffer {
  const data = Buffer.from(JSON.stringify(payload));
  const mask = Buffer.from([9, 8, 7, 6]);
  const head = data.length < 126 ? Buffer.from([0x81, 0x80 | data.length]) : Buffer.from([0x81, 0x80 | 126, data.length >> 8, data.length & 0xff]);
  return Buffer.concat([head, mask, Buffer.from(data.map((b, i) => b ^ mask[i % 4]!))]);
}

describe("a slow socket", () => {
  test("gets no typing while it has a backlog, but every presence diff once it drains", async () => {
    // A buffered limit far above what this test queues: the socket is slow, not cut off.
    const local = await startInstances(1, { WS_MAX_BUFFERED_BYTES: String(256 * 1024 * 1024), RATE_LIMIT_MULTIPLIER: "1000" });
    try {
      const url = local.instances[0]!.url;
      const [owner, slow, late, typist] = await Promise.all([signUp(url), signUp(url), signUp(url), signUp(url)]);
      const room = (await api(url, "POST", "/api/rooms", owner.token, { name: `slow ${Date.now()}` })).body as { id: string };
      const { connect: tcpConnect } = await import("node:net");
      const raw = await new Promise<import("node:net").Socket>((resolve, reject) => {
        const s = tcpConnect(Number(new URL(url).port), "127.0.0.1", () => resolve(s));
        s.on("error", reject);
      });
      const received: Buffer[] = [];
      raw.write(
        `GET /ws?token=${slow.token} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
      );
      await new Promise<void>((resolve) =>
        raw.once("data", (chunk: Buffer) => {
          const end = chunk.indexOf("\r\n\r\n");
          received.push(chunk.subarray(end + 4));
          resolve();
        }),
      );
      raw.on("data", (chunk: Buffer) => received.push(chunk));
      raw.write(clientFrame({ event: "join_room", data: { roomId: room.id }, ref: "j" }));
      await Bun.sleep(300);
      raw.pause(); // stops reading: what the server sends from now on queues up

      const sender = await ChatClient.connect(url, owner.token);
      await sender.join(room.id);
      const t = await ChatClient.connect(url, typist.token);
      await t.join(room.id);
      const content = "x".repeat(4000);
      for (let i = 0; i < 2000; i += 100) {
        await Promise.all(Array.from({ length: 100 }, (_, j) => sender.request("send_message", { roomId: room.id, content, clientMsgId: `b${i + j}` }, 15_000)));
      }
      const joiner = await ChatClient.connect(url, late.token);
      await joiner.join(room.id);
      await Bun.sleep(600); // the diff for `late` is published meanwhile
      t.send("typing", { roomId: room.id });
      await Bun.sleep(300);

      raw.resume();
      const deadline = Date.now() + 15_000;
      let frames = parseServerFrames(Buffer.concat(received));
      while (frames.filter((f) => f.text.includes('"new_message"')).length < 2000 && Date.now() < deadline) {
        await Bun.sleep(100);
        frames = parseServerFrames(Buffer.concat(received));
      }
      const events = frames.filter((f) => f.opcode === 1).map((f) => JSON.parse(f.text) as { event: string; data: any });
      expect(events.filter((e) => e.event === "new_message").length).toBe(2000);
      expect(events.some((e) => e.event === "presence_diff" && e.data.joined.some((u: { id: string }) => u.id === late.id))).toBe(true);
      expect(events.some((e) => e.event === "typing")).toBe(false);
      expect(frames.some((f) => f.opcode === 8)).toBe(false); // not closed
      raw.destroy();
      for (const c of [sender, t, joiner]) c.close();
    } finally {
      await local.stop();
    }
  }, 60_000);
});

// The real-time layer's bounds (issue: hardening): replay truncation, socket and
// room caps, error frames under the frame rate, buffered bytes checked on every
// send, and removals, revocations and expiries that reach every instance even
// when their one Redis message is lost.
import { afterAll, describe, expect, test } from "bun:test";
import { connect as tcpConnect, type Socket as TcpSocket } from "node:net";
import postgres from "postgres";
import { hashToken } from "../../src/auth/session.ts";
import { api, signUp, startInstances } from "../support/test-cluster.ts";
import { ChatClient } from "../support/ws-client.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function instances(count: number, env: Record<string, string>, hub?: Parameters<typeof startInstances>[2]) {
  const cluster = await startInstances(count, { RATE_LIMIT_MULTIPLIER: "100", ...env }, hub);
  cleanups.push(() => cluster.stop());
  return { cluster, urls: cluster.instances.map((i) => i.url) };
}

async function client(url: string, token: string) {
  const c = await ChatClient.connect(url, token);
  cleanups.push(() => c.close());
  return c;
}

async function newRoom(url: string, token: string, isPrivate = false) {
  const res = await api(url, "POST", "/api/rooms", token, { name: `r ${Math.random().toString(36).slice(2, 8)}`, isPrivate });
  expect(res.status).toBe(201);
  return res.body as { id: string; slug: string };
}

const metric = async (url: string, name: string) =>
  Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, "m").exec(await (await fetch(`${url}/metrics`)).text())?.[1] ?? 0);

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("bounded replay (WS_REPLAY_MAX)", () => {
  test("a join further behind gets truncated + fromSeq and the last WS_REPLAY_MAX events, then live ones", async () => {
    const { urls } = await instances(1, { WS_REPLAY_MAX: "10" });
    const [url] = urls as [string];
    const owner = await signUp(url);
    const room = await newRoom(url, owner.token);
    for (let i = 1; i <= 30; i++) await api(url, "POST", `/api/rooms/${room.id}/messages`, owner.token, { content: `m${i}`, clientMsgId: `m${i}` });

    const far = await client(url, (await signUp(url)).token);
    const joined = await far.join(room.id, 5);
    expect(joined.data).toMatchObject({ roomId: room.id, lastSeq: 30, truncated: true, fromSeq: 21 });
    await far.until(() => far.messageSeqs(room.id).length >= 10);
    await api(url, "POST", `/api/rooms/${room.id}/messages`, owner.token, { content: "live", clientMsgId: "live" });
    await far.until(() => far.messageSeqs(room.id).length >= 11);
    expect(far.messageSeqs(room.id)).toEqual(range(21, 31));
    // The client pages what it skipped over HTTP: after=5 up to fromSeq - 1.
    const older = await api(url, "GET", `/api/rooms/${room.id}/messages?after=5&limit=15`, owner.token);
    expect(older.body.data.map((m: { seq: number }) => m.seq)).toEqual(range(6, 20));

    const near = await client(url, (await signUp(url)).token);
    const close = await near.join(room.id, 25);
    expect(close.data.truncated).toBeUndefined();
    expect(close.data.fromSeq).toBeUndefined();
    await near.until(() => near.messageSeqs(room.id).length >= 6);
    expect(near.messageSeqs(room.id)).toEqual(range(26, 31));
  });
});

describe("caps on live subscriptions", () => {
  test("WS_MAX_SOCKETS_PER_USER: past it the upgrade gets 429 with the JSON error body; a closed socket frees its place", async () => {
    const { urls } = await instances(1, { WS_MAX_SOCKETS_PER_USER: "3" });
    const [url] = urls as [string];
    const user = await signUp(url);
    // Opened at once: the cap counts upgrades whose socket has not opened yet.
    const attempts = await Promise.allSettled(Array.from({ length: 6 }, () => ChatClient.connect(url, user.token)));
    const open = attempts.filter((a) => a.status === "fulfilled").map((a) => (a as PromiseFulfilledResult<ChatClient>).value);
    for (const c of open) cleanups.push(() => c.close());
    expect(open.length).toBe(3);
    const refused = await fetch(`${url}/ws?token=${user.token}`, {
      headers: { upgrade: "websocket", connection: "upgrade", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13" },
    });
    expect(refused.status).toBe(429);
    expect((await refused.json()).error.code).toBe("too_many_sockets");
    // Another user is not affected.
    await client(url, (await signUp(url)).token);
    open[0]!.close();
    await Bun.sleep(200);
    const again = await client(url, user.token);
    expect((await again.request("ping", {})).event).toBe("pong");
  });

  test("WS_MAX_ROOMS_PER_SOCKET and WS_MAX_ROOMS_PER_USER: join_room answers too_many_rooms, no subscription, no membership", async () => {
    const { urls } = await instances(1, { WS_MAX_ROOMS_PER_SOCKET: "3", WS_MAX_ROOMS_PER_USER: "5" });
    const [url] = urls as [string];
    const owner = await signUp(url);
    const rooms = await Promise.all(Array.from({ length: 7 }, () => newRoom(url, owner.token)));
    const user = await signUp(url);
    const a = await client(url, user.token);
    for (const r of rooms.slice(0, 3)) await a.join(r.id);
    const overSocket = await a.request("join_room", { roomId: rooms[3]!.id });
    expect(overSocket.event).toBe("error");
    expect(overSocket.data.code).toBe("too_many_rooms");
    // A rejoin of a joined room is not a new subscription.
    expect((await a.request("join_room", { roomId: rooms[0]!.slug, afterSeq: 0 })).event).toBe("joined");

    const b = await client(url, user.token);
    for (const r of rooms.slice(3, 5)) await b.join(r.id);
    const overUser = await b.request("join_room", { roomId: rooms[5]!.id });
    expect(overUser.data.code).toBe("too_many_rooms");
    const members = await api(url, "GET", `/api/rooms/${rooms[5]!.id}/members`, owner.token);
    expect(members.body.data.map((m: { id: string }) => m.id)).not.toContain(user.id);
    await api(url, "POST", `/api/rooms/${rooms[5]!.id}/messages`, owner.token, { content: "not for b", clientMsgId: "nb" });
    await Bun.sleep(200);
    expect(b.frames.some((f) => f.event === "new_message")).toBe(false);

    // Leaving frees a place for the user's other socket.
    a.send("leave_room", { roomId: rooms[1]!.id });
    await Bun.sleep(100);
    expect((await b.request("join_room", { roomId: rooms[5]!.id })).event).toBe("joined");
  });
});

describe("slow and abusive sockets", () => {
  test("error frames count against the frame rate: a flood of bad frames gets a handful of answers", async () => {
    const { urls } = await instances(1, { WS_FRAMES_PER_SECOND: "5", RATE_LIMIT_MULTIPLIER: "1" });
    const [url] = urls as [string];
    const c = await client(url, (await signUp(url)).token);
    for (let i = 0; i < 2_000; i++) c.sendRaw("not json");
    await Bun.sleep(500);
    const errors = c.frames.filter((f) => f.event === "error");
    expect(errors.filter((f) => f.data.code === "invalid_json").length).toBeLessThanOrEqual(13); // the burst (10) and refill
    expect(errors.filter((f) => f.data.code === "rate_limited").length).toBeGreaterThanOrEqual(1);
    expect(errors.length).toBeLessThan(30);
    await Bun.sleep(1_000);
    expect((await c.request("ping", {})).event).toBe("pong");
  });

  test("the buffered-bytes limit is checked on every send, not only by the periodic sweep", async () => {
    // The sweep is set to a minute: only the per-send check can close this socket in time.
    const { urls } = await instances(1, { WS_MAX_BUFFERED_BYTES: "65536", RATE_LIMIT_MULTIPLIER: "100000" }, { sweepMs: 60_000 });
    const [url] = urls as [string];
    const user = await signUp(url);
    const port = Number(new URL(url).port);
    const raw: TcpSocket = await new Promise((resolve, reject) => {
      const s = tcpConnect(port, "127.0.0.1", () => resolve(s));
      s.on("error", reject);
    });
    cleanups.push(() => void raw.destroy());
    raw.write(
      `GET /ws?token=${user.token} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    await new Promise((resolve) => raw.once("data", resolve)); // 101 Switching Protocols
    raw.pause(); // from here on this client reads nothing
    // A masked text frame "x": every one costs the server an error frame it cannot deliver.
    const frame = Buffer.from([0x81, 0x81, 1, 2, 3, 4, "x".charCodeAt(0) ^ 1]);
    const before = await metric(url, "ws_slow_consumer_closed_total");
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && (await metric(url, "ws_slow_consumer_closed_total")) === before) {
      raw.write(Buffer.concat(Array.from({ length: 5_000 }, () => frame)));
      await Bun.sleep(20);
    }
    expect(await metric(url, "ws_slow_consumer_closed_total")).toBe(before + 1);
  }, 20_000);
});

describe("memory", () => {
  test("once its sockets have closed, an instance holds no room, socket, session or presence state for them", async () => {
    const { cluster, urls } = await instances(1, {});
    const [url] = urls as [string];
    const hub = cluster.instances[0]!.chat.hub;
    const owner = await signUp(url);
    const rooms = await Promise.all(Array.from({ length: 5 }, () => newRoom(url, owner.token)));
    const users = await Promise.all(Array.from({ length: 10 }, () => signUp(url)));
    const socks = await Promise.all(users.flatMap((u) => [ChatClient.connect(url, u.token), ChatClient.connect(url, u.token)]));
    await Promise.all(socks.map(async (c) => {
      for (const r of rooms) await c.join(r.id);
    }));
    for (const r of rooms) await socks[0]!.request("send_message", { roomId: r.id, content: "hi" });
    socks[1]!.send("typing", { roomId: rooms[0]!.id });
    expect(hub.holding()).toMatchObject({ rooms: 5, sockets: 20, sessions: 10, presenceRooms: 5 });
    for (const c of socks) c.close();
    const closedAt = Date.now();
    while (hub.holding().sockets > 0 && Date.now() - closedAt < 2_000) await Bun.sleep(20);
    expect(hub.holding()).toEqual({ rooms: 0, sockets: 0, sessions: 0, presenceRooms: 0 });
  });
});

describe("lost Redis messages", () => {
  test("with the publishes dropped, a logout and a removal still reach the other instance within 2 s", async () => {
    const { cluster, urls } = await instances(2, {});
    const [A, B] = urls as [string, string];
    // Instance A's Redis publishes go nowhere from now on (what a Redis hiccup does).
    const busA = cluster.instances[0]!.stores.bus;
    busA.publish = async () => {};

    const leaving = await signUp(A);
    const onB = await client(B, leaving.token);
    const loggedOutAt = Date.now();
    expect((await api(A, "POST", "/api/auth/logout", leaving.token)).status).toBe(204);
    await onB.until(() => onB.closed, 2_500);
    expect(onB.closed?.code).toBe(4001);
    expect(Date.now() - loggedOutAt).toBeLessThan(2_000);

    const [owner, member, watcher] = await Promise.all([signUp(A), signUp(B), signUp(B)]);
    const room = await newRoom(A, owner.token, true);
    for (const u of [member, watcher]) await api(A, "POST", `/api/rooms/${room.id}/members`, owner.token, { userId: u.id });
    const m = await client(B, member.token);
    const w = await client(B, watcher.token);
    await m.join(room.id);
    await w.join(room.id);
    expect((await api(A, "DELETE", `/api/rooms/${room.id}/members/${member.id}`, owner.token)).status).toBe(204);
    await Bun.sleep(2_000);
    await api(A, "POST", `/api/rooms/${room.id}/messages`, owner.token, { content: "after the removal", clientMsgId: "after" });
    // The watcher gets it (through the reconcile, as nothing is published); the removed member does not.
    await w.until(() => w.messageSeqs(room.id).length === 1, 3_000);
    await Bun.sleep(300);
    expect(m.messageSeqs(room.id)).toEqual([]);
  }, 20_000);

  test("an open socket is closed (4001) within 2 s of its session expiring", async () => {
    const { cluster, urls } = await instances(1, {});
    const [url] = urls as [string];
    const user = await signUp(url);
    const c = await client(url, user.token);
    const sql = postgres(cluster.databaseUrl, { max: 1, onnotice: () => {} });
    try {
      await sql`update sessions set expires_at = now() - interval '1 second' where token_hash = ${hashToken(user.token)}`;
    } finally {
      await sql.end();
    }
    const expiredAt = Date.now();
    await c.until(() => c.closed, 2_500);
    expect(c.closed?.code).toBe(4001);
    expect(Date.now() - expiredAt).toBeLessThan(2_000);
  });
});

// The WebSocket protocol across two real instances sharing Postgres and Redis.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ChatClient } from "../support/ws-client.ts";
import { api, signUp, startInstances } from "../support/test-cluster.ts";

let cluster: Awaited<ReturnType<typeof startInstances>>;
let A: string;
let B: string;
const clients: ChatClient[] = [];

beforeAll(async () => {
  cluster = await startInstances(2, { RATE_LIMIT_MULTIPLIER: "50", ALLOWED_ORIGINS: "https://chat.example" });
  [A, B] = cluster.instances.map((i) => i.url) as [string, string];
});
afterAll(async () => {
  for (const c of clients) c.close();
  await cluster?.stop();
});

async function connect(url: string, token: string, headers?: Record<string, string>) {
  const c = await ChatClient.connect(url, token, headers);
  clients.push(c);
  return c;
}

async function newRoom(token: string, isPrivate = false) {
  const name = `room ${Math.random().toString(36).slice(2, 8)}`;
  const res = await api(A, "POST", "/api/rooms", token, { name, isPrivate });
  expect(res.status).toBe(201);
  return res.body as { id: string; slug: string };
}

/** Two users in a new public room, u1's socket on instance A and u2's on B, both joined (u1 first). */
async function pairInRoom() {
  const [u1, u2] = await Promise.all([signUp(A), signUp(B)]);
  const room = await newRoom(u1.token);
  const c1 = await connect(A, u1.token);
  await c1.join(room.id);
  const c2 = await connect(B, u2.token);
  await c2.join(room.id);
  return { u1, u2, room, c1, c2 };
}

describe("upgrade", () => {
  test("without a token, or with a revoked one, the upgrade is refused with 401", async () => {
    const res = await fetch(`${A}/ws`, { headers: { upgrade: "websocket", connection: "upgrade" } });
    expect(res.status).toBe(401);
    expect((await res.json()).error.code).toBe("unauthorized");
    const user = await signUp(A);
    expect((await api(A, "POST", "/api/auth/logout", user.token)).status).toBe(204);
    await expect(ChatClient.connect(B, user.token)).rejects.toThrow();
  });

  test("the session cookie authenticates the upgrade too", async () => {
    const user = await signUp(A);
    const ws = new WebSocket(`${B.replace("http", "ws")}/ws`, { headers: { cookie: `chat_session=${user.token}` } } as any);
    const pong = await new Promise<any>((resolve, reject) => {
      ws.onopen = () => ws.send(JSON.stringify({ event: "ping", data: {}, ref: "c" }));
      ws.onmessage = (e) => resolve(JSON.parse(String(e.data)));
      ws.onerror = () => reject(new Error("cookie upgrade refused"));
    });
    ws.close();
    expect(pong).toMatchObject({ event: "pong", ref: "c" });
  });

  test("a browser Origin must be allowed", async () => {
    const user = await signUp(A);
    await expect(ChatClient.connect(A, user.token, { origin: "https://evil.example" })).rejects.toThrow();
    const ok = await connect(A, user.token, { origin: "https://chat.example" });
    expect((await ok.request("ping", {})).event).toBe("pong");
  });
});

describe("delivery across instances", () => {
  test("every subscriber gets every message once, in seq order; the sender gets acks", async () => {
    const [u1, u2, u3] = await Promise.all([signUp(A), signUp(A), signUp(B)]);
    const room = await newRoom(u1.token);
    const sender = await connect(A, u1.token);
    const otherTab = await connect(B, u1.token);
    const onA = await connect(A, u2.token);
    const onB = await connect(B, u3.token);
    for (const c of [sender, otherTab, onA, onB]) await c.join(room.slug);

    const acks = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        sender.request("send_message", { roomId: room.id, content: `m${i}`, clientMsgId: `c${i}`, timestamp: Date.now() }),
      ),
    );
    expect(acks.every((a) => a.event === "message_ack")).toBe(true);
    const seqs = acks.map((a) => a.data.seq).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));

    // One more over HTTP: delivered like any other.
    const viaHttp = await api(B, "POST", `/api/rooms/${room.id}/messages`, u3.token, { content: "from http", clientMsgId: "h1" });
    expect(viaHttp.status).toBe(201);

    const all = Array.from({ length: 31 }, (_, i) => i + 1);
    for (const c of [otherTab, onA, onB]) {
      await c.until(() => c.messageSeqs(room.id).length >= 31);
      expect(c.messageSeqs(room.id)).toEqual(all);
    }
    // The sender's socket saw its own messages only as acks, and the HTTP one as an event.
    expect(sender.messageSeqs(room.id)).toEqual([31]);
    const echoed = onB.frames.find((f) => f.event === "new_message" && f.data.clientMsgId === "c0");
    expect(echoed?.data.sentAt).toBeNumber();
    expect(echoed?.seq).toBe(echoed?.data.seq);
  });

  test("concurrent senders on both instances: all receivers agree, no gap, no duplicate", async () => {
    const users = await Promise.all([signUp(A), signUp(B), signUp(A), signUp(B)]);
    const room = await newRoom(users[0]!.token);
    const socks = await Promise.all(users.map((u, i) => connect(i % 2 ? B : A, u.token)));
    for (const s of socks) await s.join(room.id);
    const perSender = 25;
    await Promise.all(
      socks.map((s, i) =>
        Promise.all(
          Array.from({ length: perSender }, (_, j) => s.request("send_message", { roomId: room.id, content: `s${i}-${j}` })),
        ),
      ),
    );
    const total = perSender * socks.length;
    for (const s of socks) {
      // Each socket gets everyone else's messages as events, its own as acks.
      await s.until(() => s.messageSeqs(room.id).length >= total - perSender, 10_000);
      const seen = s.messageSeqs(room.id);
      expect(new Set(seen).size).toBe(seen.length);
      expect([...seen].sort((a, b) => a - b)).toEqual(seen);
    }
    const history = await api(A, "GET", `/api/rooms/${room.id}/messages?limit=100`, users[0]!.token);
    expect(history.body.data.map((m: { seq: number }) => m.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
  });
});

describe("a lost bus message", () => {
  test("an event committed by an instance that never published it still reaches every socket", async () => {
    const { openDatabase } = await import("../../src/db/client.ts");
    const { createDomainEvents } = await import("../../src/events.ts");
    const { createRooms } = await import("../../src/rooms/store.ts");
    const { createMessages } = await import("../../src/messages/store.ts");
    const { u1, room, c1, c2 } = await pairInRoom();
    // A third "instance" whose events go nowhere: like one killed between commit and publish.
    const database = await openDatabase({ url: cluster.databaseUrl, dataDir: "unused", poolSize: 2 });
    try {
      const silent = createDomainEvents(() => {});
      const rooms = createRooms(database.db, silent);
      const messages = createMessages({ database, events: silent, rooms });
      const { message } = await messages.send({ roomId: room.id, userId: u1.id, content: "never published", clientMsgId: "lost-1" });
      for (const c of [c1, c2]) {
        const got = await c.waitFor((f) => f.event === "new_message" && f.data.id === message.id, 5_000);
        expect(got.seq).toBe(message.seq);
      }
    } finally {
      await database.close();
    }
  });
});

describe("join and replay", () => {
  test("afterSeq replays missed messages and changes in counter order, then live events, with no seam", async () => {
    const [owner, reader] = await Promise.all([signUp(A), signUp(B)]);
    const room = await newRoom(owner.token);
    const ids: string[] = [];
    for (let i = 1; i <= 5; i++) {
      const res = await api(A, "POST", `/api/rooms/${room.id}/messages`, owner.token, { content: `old ${i}`, clientMsgId: `o${i}` });
      ids.push(res.body.id);
    }
    expect((await api(A, "PATCH", `/api/messages/${ids[1]}`, owner.token, { content: "edited" })).status).toBe(200); // 6
    expect((await api(A, "DELETE", `/api/messages/${ids[2]}`, owner.token)).status).toBe(200); // 7

    const late = await connect(B, reader.token);
    const joinRef = late.send("join_room", { roomId: room.slug, afterSeq: 1 });
    // A live message races the replay.
    const live = await api(A, "POST", `/api/rooms/${room.id}/messages`, owner.token, { content: "live", clientMsgId: "live" }); // 8
    expect(live.status).toBe(201);
    await late.until(() => (late.roomEvents.get(room.id)?.length ?? 0) >= 7);
    const joined = late.frames.find((f) => f.ref === joinRef);
    expect(joined?.event).toBe("joined");
    expect(joined?.data).toMatchObject({ roomId: room.id, slug: room.slug });
    const presenceAt = late.frames.findIndex((f) => f.event === "presence");
    expect(presenceAt).toBe(late.frames.indexOf(joined!) + 1);
    const events = late.roomEvents.get(room.id)!;
    expect(events.map((e) => e.seq)).toEqual([2, 3, 4, 5, 6, 7, 8]);
    expect(events.map((e) => e.event)).toEqual([
      "new_message", "new_message", "new_message", "new_message", "message_updated", "message_deleted", "new_message",
    ]);
    // Replayed frames carry the message's current state.
    const replayed2 = late.frames.find((f) => f.event === "new_message" && f.seq === 2);
    expect(replayed2?.data.content).toBe("edited");
    await Bun.sleep(200);
    expect(late.roomEvents.get(room.id)!.length).toBe(7);
  });

  test("leave_room sent before the join finished wins: no subscription, no error", async () => {
    const [owner, switcher] = await Promise.all([signUp(A), signUp(B)]);
    const room = await newRoom(owner.token);
    const c = await connect(B, switcher.token);
    c.send("join_room", { roomId: room.slug, afterSeq: 0 });
    c.send("leave_room", { roomId: room.slug });
    await Bun.sleep(300);
    await api(A, "POST", `/api/rooms/${room.id}/messages`, owner.token, { content: "not for you", clientMsgId: "x1" });
    await Bun.sleep(300);
    expect(c.frames.some((f) => f.event === "new_message")).toBe(false);
    expect(c.frames.some((f) => f.event === "error")).toBe(false);
    expect((await c.request("ping", {})).event).toBe("pong");
  });

  test("a private room cannot be joined by a non-member: error frame, no subscription", async () => {
    const [owner, stranger] = await Promise.all([signUp(A), signUp(B)]);
    const room = await newRoom(owner.token, true);
    const c = await connect(B, stranger.token);
    const answer = await c.request("join_room", { roomId: room.id });
    expect(answer.event).toBe("error");
    expect(answer.data.code).toBe("not_found");
    await api(A, "POST", `/api/rooms/${room.id}/messages`, owner.token, { content: "secret", clientMsgId: "s1" });
    await Bun.sleep(200);
    expect(c.frames.some((f) => f.event === "new_message")).toBe(false);
    const send = await c.request("send_message", { roomId: room.id, content: "let me in" });
    expect(send.event).toBe("error");
  });
});

describe("bad frames", () => {
  test("each gets an error frame with its ref, and the socket stays open", async () => {
    const user = await signUp(A);
    const c = await connect(A, user.token);
    const cases: [string | Uint8Array, string][] = [
      ["not json", "invalid_json"],
      [JSON.stringify({ event: "nope", data: {}, ref: "r1" }), "unknown_event"],
      [JSON.stringify({ event: "send_message", data: { roomId: 5, content: "" }, ref: "r2" }), "invalid_data"],
      [JSON.stringify({ event: "join_room", data: { roomId: "general", afterSeq: -1 }, ref: "r3" }), "invalid_data"],
      [JSON.stringify({ event: "send_message", data: { roomId: "general", content: "x".repeat(4001) }, ref: "r4" }), "invalid_data"],
      [JSON.stringify({ event: "ping", data: {}, ref: "r5", extra: 1 }), "invalid_frame"],
      [JSON.stringify({ event: "send_message", data: { roomId: "general", content: "x".repeat(40_000) } }), "too_large"],
      [JSON.stringify({ event: "typing", data: { roomId: "general" }, ref: "r6" }), "not_joined"],
      [JSON.stringify({ event: "join_room", data: { roomId: "no-such-room" }, ref: "r7" }), "not_found"],
      [JSON.stringify({ event: "join_room", data: { roomId: "general", afterSeq: 1e9 }, ref: "r8" }), "invalid_data"],
      [JSON.stringify({ event: "leave_room", data: { roomId: "never-joined" }, ref: "r9" }), "not_joined"],
      [JSON.stringify({ event: "read", data: { roomId: "general", seq: 1e9 }, ref: "r10" }), "invalid_request"],
      [new Uint8Array([1, 2, 3]), "invalid_frame"],
    ];
    for (const [raw, code] of cases) {
      const from = c.frames.length;
      c.sendRaw(raw);
      const err = await c.waitFor((f) => f.event === "error", 3_000, from);
      expect(err.data.code).toBe(code);
      if (typeof raw === "string" && raw.includes('"ref":"r')) expect(err.ref).toBe(JSON.parse(raw).ref);
    }
    expect((await c.request("ping", {})).event).toBe("pong");
    expect(c.closed).toBeUndefined();
  });

  test("too many frames get rate_limited errors, and the socket stays open", async () => {
    const local = await startInstances(1, { WS_FRAMES_PER_SECOND: "5" });
    try {
      const url = local.instances[0]!.url;
      const c = await ChatClient.connect(url, (await signUp(url)).token);
      for (let i = 0; i < 30; i++) c.send("ping", {});
      const limited = await c.waitFor((f) => f.event === "error" && f.data.code === "rate_limited");
      expect(limited.ref).toBeDefined();
      expect(c.frames.filter((f) => f.event === "pong").length).toBeLessThan(30);
      await Bun.sleep(500);
      expect((await c.request("ping", {})).event).toBe("pong");
      c.close();
    } finally {
      await local.stop();
    }
  });
});

describe("presence, typing, membership, logout", () => {
  test("presence: one first list per join, then diffs across instances; a close leaves within 2 s", async () => {
    const { u1, u2, room, c1, c2 } = await pairInRoom();
    // c1 joined first: it learns of u2 by a diff; c2's first list has both.
    const diff = await c1.waitFor((f) => f.event === "presence_diff" && f.data.joined.some((u: { id: string }) => u.id === u2.id), 2_000);
    expect(diff.data).toEqual({ roomId: room.id, joined: [{ id: u2.id, username: u2.username }], left: [], total: 2 });
    await c2.waitFor((f) => f.event === "presence");
    const first = c2.frames.filter((f) => f.event === "presence");
    expect(first.length).toBe(1);
    expect(first[0]!.data.total).toBe(2);
    expect(c2.onlineIds(room.id)).toEqual([u1.id, u2.id].sort());
    expect(c1.frames.filter((f) => f.event === "presence").length).toBe(1);
    expect(c1.onlineIds(room.id)).toEqual([u1.id, u2.id].sort());

    // A second tab of u1 changes nothing for anyone; a rejoin gets a fresh first list.
    const tab = await connect(B, u1.token);
    const fromTab = c2.frames.length;
    await tab.join(room.id);
    await tab.waitFor((f) => f.event === "presence");
    expect(tab.frames.filter((f) => f.event === "presence").length).toBe(1);
    expect(tab.onlineIds(room.id)).toEqual([u1.id, u2.id].sort());
    tab.close();
    await Bun.sleep(500);
    expect(c2.frames.slice(fromTab).some((f) => f.event === "presence_diff")).toBe(false);

    const from = c1.frames.length;
    const closedAt = Date.now();
    c2.close();
    const left = await c1.waitFor((f) => f.event === "presence_diff" && f.data.left.includes(u2.id), 2_000, from);
    expect(Date.now() - closedAt).toBeLessThan(2_000);
    expect(left.data).toEqual({ roomId: room.id, joined: [], left: [u2.id], total: 1 });
    expect(c1.onlineIds(room.id)).toEqual([u1.id]);
  });

  test("presence: past PRESENCE_LIST_MAX the first list is cut and diffs carry the total alone", async () => {
    const local = await startInstances(1, { PRESENCE_LIST_MAX: "2", RATE_LIMIT_MULTIPLIER: "50" });
    try {
      const url = local.instances[0]!.url;
      const users = await Promise.all(Array.from({ length: 4 }, () => signUp(url)));
      const room = (await api(url, "POST", "/api/rooms", users[0]!.token, { name: `big ${Date.now()}` })).body as { id: string };
      const socks: ChatClient[] = [];
      for (const u of users) {
        const c = await ChatClient.connect(url, u.token);
        socks.push(c);
        await c.join(room.id);
      }
      const last = socks[3]!;
      // The first list may be one read old; the diffs bring the total up to date.
      const first = await last.waitFor((f) => f.event === "presence");
      expect(first.data.users.length).toBeLessThanOrEqual(2);
      await last.until(() => last.presence.get(room.id)?.total === 4, 2_000);
      await socks[0]!.until(() => socks[0]!.presence.get(room.id)?.total === 4, 2_000);
      const overCap = socks[0]!.frames.filter((f) => f.event === "presence_diff" && f.data.total > 2);
      expect(overCap.length).toBeGreaterThan(0);
      for (const f of overCap) expect([f.data.joined, f.data.left]).toEqual([[], []]);
      for (const c of socks) c.close();
    } finally {
      await local.stop();
    }
  });

  test("typing reaches the others, not the typist", async () => {
    const { u1, room, c1, c2 } = await pairInRoom();
    c1.send("typing", { roomId: room.slug });
    const seen = await c2.waitFor((f) => f.event === "typing");
    expect(seen.data).toEqual({ roomId: room.id, user: { id: u1.id, username: u1.username } });
    await Bun.sleep(100);
    expect(c1.frames.some((f) => f.event === "typing")).toBe(false);
  });

  test("a removed member stops receiving the room at once", async () => {
    const [owner, member] = await Promise.all([signUp(A), signUp(B)]);
    const room = await newRoom(owner.token, true);
    expect((await api(A, "POST", `/api/rooms/${room.id}/members`, owner.token, { userId: member.id })).status).toBeLessThan(300);
    const c = await connect(B, member.token);
    await c.join(room.id);
    await api(A, "POST", `/api/rooms/${room.id}/messages`, owner.token, { content: "before", clientMsgId: "b" });
    await c.until(() => c.messageSeqs(room.id).length === 1);
    expect((await api(A, "DELETE", `/api/rooms/${room.id}/members/${member.id}`, owner.token)).status).toBe(204);
    await Bun.sleep(300);
    await api(A, "POST", `/api/rooms/${room.id}/messages`, owner.token, { content: "after", clientMsgId: "a" });
    await Bun.sleep(300);
    expect(c.messageSeqs(room.id)).toEqual([1]);
  });

  test("logout closes that session's sockets on every instance with 4001 within 2 s", async () => {
    const user = await signUp(A);
    const onA = await connect(A, user.token);
    const onB = await connect(B, user.token);
    expect((await api(A, "POST", "/api/auth/logout", user.token)).status).toBe(204);
    await onB.until(() => onB.closed, 2_000);
    await onA.until(() => onA.closed, 2_000);
    expect(onA.closed?.code).toBe(4001);
    expect(onB.closed?.code).toBe(4001);
  });
});

describe("embedded single instance (PGlite, in-process bus)", () => {
  test("delivers, acks and reports presence without Postgres or Redis servers", async () => {
    const { loadEnv } = await import("../../src/env.ts");
    const { openStores } = await import("../../src/stores.ts");
    const { startChatServer } = await import("../../src/server.ts");
    const { createLogger } = await import("../../src/log.ts");
    const env = loadEnv({ DATABASE_URL: "", REDIS_URL: "", PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "silent" });
    const stores = await openStores(env, { inMemory: true, instanceId: "solo" });
    await stores.database.migrate();
    const chat = startChatServer({ env, instanceId: "solo", stores, log: createLogger("silent") });
    await chat.ready();
    const url = `http://127.0.0.1:${chat.server.port}`;
    try {
      const [u1, u2] = [await signUp(url), await signUp(url)];
      const c1 = await ChatClient.connect(url, u1.token);
      const c2 = await ChatClient.connect(url, u2.token);
      await c1.join("general");
      const joined = await c2.join("general");
      expect(joined.data.slug).toBe("general");
      const ack = await c1.request("send_message", { roomId: "general", content: "hello from pglite" });
      expect(ack.event).toBe("message_ack");
      expect(ack.data.clientMsgId).toStartWith("ws-");
      const got = await c2.waitFor((f) => f.event === "new_message");
      expect(got.data).toMatchObject({ content: "hello from pglite", seq: ack.data.seq, author: { id: u1.id } });
      expect(typeof got.data.id).toBe("string");
      await c1.until(() => c1.onlineIds(joined.data.roomId).length === 2);
      expect(c1.onlineIds(joined.data.roomId)).toEqual([u1.id, u2.id].sort());
      expect(c2.onlineIds(joined.data.roomId)).toEqual([u1.id, u2.id].sort());
      c1.close();
      c2.close();
    } finally {
      await chat.drain();
      await stores.close();
    }
  }, 60_000);
});

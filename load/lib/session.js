// What a VU does: SOCKETS_PER_VU users, each with its own WebSocket, join their room, send a
// message every SEND_EVERY_S with the sender's clock as `timestamp`, measure each delivery as
// receive time - the echoed `sentAt`, and at the end check that every message committed
// while they were joined reached them (room seq values from join to the room's lastSeq).
import http from "k6/http";
import { sleep } from "k6";
import exec from "k6/execution";
import { Counter, Rate, Trend } from "k6/metrics";
import { clearInterval, setInterval, setTimeout } from "k6/timers";
import { WebSocket } from "k6/websockets";
import { env, windowAt } from "./plan.js";
import { wireFor, wsUrl } from "./wire.js";

const deliveryLatency = new Trend("delivery_latency", true);
const ackLatency = new Trend("ack_latency", true);
const joinTime = new Trend("ws_join_time", true);
const sent = new Counter("messages_sent");
const acked = new Counter("messages_acked");
const unacked = new Counter("messages_unacked");
const received = new Counter("deliveries_received");
const expected = new Counter("deliveries_expected");
const missing = new Counter("deliveries_missing");
const duplicated = new Counter("deliveries_duplicated");
const outOfOrder = new Counter("deliveries_out_of_order");
const bytesIn = new Counter("ws_bytes_received");
const connectionErrors = new Rate("ws_connection_errors");
const unexpectedCloses = new Counter("ws_unexpected_closes");
const errorFrames = new Counter("ws_error_frames");

const JSON_HEADERS = { "content-type": "application/json" };

// Per-frame counters are summed in the VU and flushed once a second: a metric sample per
// frame would make k6's own pipeline the bottleneck long before the servers.
const pending = { received: 0, bytes: 0 };
function flushCounts() {
  if (pending.received) received.add(pending.received);
  if (pending.bytes) bytesIn.add(pending.bytes);
  pending.received = 0;
  pending.bytes = 0;
}
const auth = (token) => ({ authorization: `Bearer ${token}` });

// ---------------------------------------------------------------- setup: log in, make rooms

export function setupFor(plan) {
  return function setup() {
    const ready = http.get(`${env.baseUrl}/readyz`);
    if (ready.status !== 200) throw new Error(`${env.baseUrl}/readyz answered ${ready.status}: is the server up?`);
    const tokens = [];
    const BATCH = 20;
    for (let i = 0; i < plan.totalUsers; i += BATCH) {
      const batch = [];
      for (let u = i; u < Math.min(plan.totalUsers, i + BATCH); u++) {
        const n = env.firstUser + u;
        batch.push(["POST", `${env.baseUrl}/api/auth/login`, JSON.stringify({ email: `user${n}@example.com`, password: "password123" }), { headers: JSON_HEADERS, tags: { name: "setup login" } }]);
      }
      http.batch(batch).forEach((res, k) => {
        // 503 is the server saying "try again shortly" (a sign-in storm on a busy machine): a
        // client does, a few times, before giving up.
        for (let attempt = 1; res.status === 503 && attempt <= 3; attempt++) {
          sleep(attempt);
          res = http.request(...batch[k]);
        }
        if (res.status !== 200) throw new Error(`login failed (${res.status}): ${res.body}. Seed users first: bun run seed -- --users ${env.firstUser + plan.totalUsers}`);
        tokens.push(res.json("token"));
      });
    }
    const run = `${Date.now().toString(36)}`;
    const rooms = [];
    const roomCount = Math.ceil(plan.totalUsers / env.roomSize);
    for (let r = 0; r < roomCount; r++) {
      const res = http.post(`${env.baseUrl}/api/rooms`, JSON.stringify({ name: `load ${run} ${r}` }), {
        headers: { ...JSON_HEADERS, ...auth(tokens[0]) },
        tags: { name: "setup room" },
      });
      if (res.status !== 201) throw new Error(`creating a room failed (${res.status}): ${res.body}`);
      rooms.push(res.json("id"));
    }
    console.log("bench: chat phase starts"); // scripts/bench.ts counts CPU from here
    return { t0: Date.now(), tokens, rooms };
  };
}

// ---------------------------------------------------------------- one user's socket

function openUser({ token, roomId, userIndex, t0, plan, endAt, onGone }) {
  const wire = wireFor(env.target, token, env.protocol);
  const ws = wire.protocols ? new WebSocket(wsUrl(env.target, env.baseUrl, token), wire.protocols) : new WebSocket(wsUrl(env.target, env.baseUrl, token));
  const user = {
    token,
    userIndex,
    roomId,
    joined: false,
    failed: false,
    closedByUs: false,
    joinedSeq: 0,
    hw: 0, // every value up to hw seen (or own)
    maxSeen: 0,
    ahead: new Set(),
    // Latency is sampled on one receiver in LATENCY_EVERY (every sender's messages, receivers
    // spread over every room); a k6 metric sample per delivered frame would make k6's own
    // metrics pipeline the first thing to run out of CPU. Correctness counts every frame.
    measures: userIndex % env.latencyEvery === 0,
    early: [], // seq values that arrived before the join's answer
    pendingAcks: new Map(),
    sentCount: 0,
    ackedCount: 0,
    own: [], // seq values of this user's own messages (acked, not delivered back)
    ws,
  };
  const openedAt = Date.now();
  let ref = 1;
  let sendTimer = null;

  // own: an ack, which travels apart from deliveries, so it says nothing about delivery order.
  const count = (seq, own = false) => {
    if (seq <= user.hw || user.ahead.has(seq)) return duplicated.add(1);
    if (!own) {
      if (seq < user.maxSeen) outOfOrder.add(1);
      else user.maxSeen = seq;
    }
    if (seq === user.hw + 1) {
      user.hw = seq;
      while (user.ahead.delete(user.hw + 1)) user.hw++;
    } else user.ahead.add(seq);
  };
  const fail = () => {
    if (user.failed || user.joined) return;
    user.failed = true;
    connectionErrors.add(true);
  };
  const joinTimer = setTimeout(() => {
    if (!user.joined) {
      fail();
      ws.close();
    }
  }, 30_000);

  const sendOne = () => {
    if (Date.now() >= endAt || ws.readyState !== 1) return;
    const clientMsgId = `k6-${env.target}-${t0}-${userIndex}-${user.sentCount}`;
    const timestamp = Date.now();
    user.pendingAcks.set(clientMsgId, timestamp);
    wire.send(ws, { roomId, content: `load message ${user.sentCount} from user ${userIndex}: hello everyone in this room`, clientMsgId, timestamp }, ref++);
    user.sentCount++;
    sent.add(1);
  };

  const handle = (ev) => {
    if (ev.type === "message") {
      const now = Date.now();
      pending.received++;
      if (user.measures && typeof ev.sentAt === "number") deliveryLatency.add(now - ev.sentAt, { window: windowAt(plan, (now - t0) / 1000) });
      if (!user.joined) user.early.push(ev.seq);
      else if (ev.seq > user.joinedSeq) count(ev.seq);
    } else if (ev.type === "ack") {
      const at = user.pendingAcks.get(ev.clientMsgId);
      if (at !== undefined) {
        user.pendingAcks.delete(ev.clientMsgId);
        ackLatency.add(Date.now() - at);
        user.ackedCount++;
        acked.add(1);
      }
      if (ev.seq > user.joinedSeq) {
        user.own.push(ev.seq);
        count(ev.seq, true);
      }
    } else if (ev.type === "ready") {
      wire.join(ws, roomId, ref++);
    } else if (ev.type === "joined") {
      clearTimeout(joinTimer);
      user.joined = true;
      user.joinedSeq = ev.lastSeq;
      user.hw = ev.lastSeq;
      user.maxSeen = ev.lastSeq;
      for (const seq of user.early) if (seq > user.joinedSeq) count(seq);
      user.early = [];
      connectionErrors.add(false);
      joinTime.add(Date.now() - openedAt);
      // Spread the first sends over one period so the room's traffic is even.
      const first = Math.random() * env.sendEveryS * 1000;
      setTimeout(() => {
        sendOne();
        sendTimer = setInterval(sendOne, env.sendEveryS * 1000);
      }, first);
    } else if (ev.type === "error") {
      errorFrames.add(1, { code: String(ev.code) });
      if (!user.joined) {
        fail();
        ws.close();
      }
    }
  };

  ws.onopen = () => wire.onOpen().forEach(handle);
  ws.onmessage = (e) => {
    pending.bytes += e.data.length;
    const events = wire.parse(e.data, ws);
    for (let i = 0; i < events.length; i++) handle(events[i]); // not for-of: iterators are slow in k6
  };
  ws.onerror = () => fail();
  ws.onclose = () => {
    clearTimeout(joinTimer);
    if (sendTimer) clearInterval(sendTimer);
    if (!user.closedByUs) {
      // A socket lost after joining is a connection error too (not only one that never joined).
      if (user.joined) {
        unexpectedCloses.add(1);
        connectionErrors.add(true);
      } else fail();
    }
    onGone(user);
  };
  user.stopSending = () => {
    if (sendTimer) clearInterval(sendTimer);
    sendTimer = null;
  };
  return user;
}

// ---------------------------------------------------------------- the VU

const sleepMs = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function usersFor(plan) {
  return async function chatUsers(data) {
    const group = plan.groups.find((g) => g.name === exec.scenario.name);
    const slot = exec.scenario.iterationInTest; // 0 .. vus-1 within this group
    const vus = Math.ceil(group.users / env.socketsPerVu);
    const endAt = data.t0 + group.endS * 1000;
    const users = [];
    let gone = 0;
    const onGone = () => gone++;

    // Spread this group's connections over its connect time.
    await sleepMs((slot / vus) * group.connectS * 1000);
    for (let j = 0; j < env.socketsPerVu; j++) {
      const local = slot * env.socketsPerVu + j;
      if (local >= group.users) break;
      const userIndex = group.offset + local;
      users.push(
        openUser({
          token: data.tokens[userIndex],
          roomId: data.rooms[Math.floor(userIndex / env.roomSize)],
          userIndex,
          t0: data.t0,
          plan,
          endAt,
          onGone,
        }),
      );
      await sleepMs(20);
    }

    const httpTimer = setInterval(() => void httpMix(users), env.httpEveryS * 1000);
    const flushTimer = setInterval(flushCounts, 1000);
    await sleepMs(Math.max(0, endAt - Date.now()));
    clearInterval(httpTimer);
    for (const u of users) u.stopSending();

    // Every message committed before now must reach every member still joined.
    const lastSeq = {};
    for (const roomId of new Set(users.filter((u) => u.joined).map((u) => u.roomId))) {
      const member = users.find((u) => u.roomId === roomId);
      const res = await http.asyncRequest("GET", `${env.baseUrl}/api/rooms/${roomId}`, null, { headers: auth(member.token), tags: { name: "GET /api/rooms/:room", phase: "chat" } });
      if (res.status === 200) lastSeq[roomId] = res.json("lastSeq");
    }
    const complete = (u) => u.ws.readyState !== 1 || (u.hw >= (lastSeq[u.roomId] ?? 0) && u.pendingAcks.size === 0);
    const drainUntil = Date.now() + env.drainS * 1000;
    while (Date.now() < drainUntil && !users.every(complete)) await sleepMs(100);

    for (const u of users) {
      if (!u.joined) continue;
      const last = lastSeq[u.roomId];
      if (last !== undefined) {
        const want = Math.max(0, last - u.joinedSeq);
        let have = Math.min(u.hw, last) - u.joinedSeq;
        for (const seq of u.ahead) if (seq <= last) have++;
        expected.add(want - u.own.filter((seq) => seq <= last).length);
        if (want > have) missing.add(want - have);
      }
      if (u.pendingAcks.size) unacked.add(u.pendingAcks.size);
      u.closedByUs = true;
      u.ws.close();
    }
    while (gone < users.length && Date.now() < drainUntil + 5000) await sleepMs(50);
    clearInterval(flushTimer);
    flushCounts();
  };
}

/** The HTTP side of a chat client: room list, a history page and the one before it, a read marker. */
async function httpMix(users) {
  const joined = users.filter((u) => u.joined && u.ws.readyState === 1);
  if (!joined.length) return;
  const u = joined[Math.floor(Math.random() * joined.length)];
  const headers = auth(u.token);
  await http.asyncRequest("GET", `${env.baseUrl}/api/rooms?limit=20`, null, { headers, tags: { name: "GET /api/rooms", phase: "chat" } });
  const page = await http.asyncRequest("GET", `${env.baseUrl}/api/rooms/${u.roomId}/messages?limit=50`, null, { headers, tags: { name: "GET /api/rooms/:room/messages", phase: "chat" } });
  const cursor = page.status === 200 ? page.json("nextCursor") : null;
  if (cursor) {
    await http.asyncRequest("GET", `${env.baseUrl}/api/rooms/${u.roomId}/messages?limit=50&before=${cursor}`, null, { headers, tags: { name: "GET /api/rooms/:room/messages?before", phase: "chat" } });
  }
  if (u.hw > 0) {
    await http.asyncRequest("POST", `${env.baseUrl}/api/rooms/${u.roomId}/read`, JSON.stringify({ seq: u.hw }), { headers: { ...headers, ...JSON_HEADERS }, tags: { name: "POST /api/rooms/:room/read", phase: "chat" } });
  }
}

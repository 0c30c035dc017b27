// Benchmark peer: the seeds' design as a user would build it with the usual tools:
// Express for HTTP, Socket.IO (ws engine + bufferutil, websocket transport only) with
// @socket.io/redis-adapter across processes, pg against the product's own Postgres schema.
// Same delivery contract as the product where a load script can see it: a message is
// committed (room counter seq) before anyone is told, the sender gets an ack, every other
// socket in the room gets `new_message` with the same Message fields.
//   DATABASE_URL=… REDIS_URL=… PORT=3101 INSTANCE_ID=peer-1 node server.js
import { createServer } from "node:http";
import { createAdapter } from "@socket.io/redis-adapter";
import argon2 from "argon2";
import express from "express";
import pg from "pg";
import { createClient } from "redis";
import { Server } from "socket.io";
import { WebSocketServer } from "ws";
import { loadConfig } from "./config.js";
import { createStore, hashToken, toMessage, toRoom } from "./store.js";

const config = loadConfig();
const pool = new pg.Pool({ connectionString: config.databaseUrl, max: config.poolSize });
const store = createStore(pool, config);
const redis = createClient({ url: config.redisUrl });
const subscriber = redis.duplicate();
for (const client of [redis, subscriber]) client.on("error", (err) => console.error(`[${config.instanceId}] redis: ${err.message}`));
await Promise.all([redis.connect(), subscriber.connect()]);

const SESSION_CACHE_SECONDS = 60;
const RESPONSE_CACHE_SECONDS = 5;
const CONTENT_MAX = 4000;

class HttpError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Session lookup with the seeds' Redis cache in front of Postgres. */
async function authenticate(token) {
  if (typeof token !== "string" || !/^[A-Za-z0-9_-]{20,200}$/.test(token)) return null;
  const key = `peer:session:${hashToken(token)}`;
  const cached = await redis.get(key);
  if (cached) return JSON.parse(cached);
  const user = await store.userByToken(token);
  if (user) await redis.set(key, JSON.stringify(user), { EX: SESSION_CACHE_SECONDS });
  return user ?? null;
}

// ---------------------------------------------------------------- HTTP (Express)

const app = express();
app.disable("x-powered-by");
app.use(express.json({ limit: "1mb" }));
const wrap = (handler) => (req, res, next) => Promise.resolve(handler(req, res)).catch(next);

const auth = (req, _res, next) => {
  const header = req.get("authorization") ?? "";
  authenticate(header.startsWith("Bearer ") ? header.slice(7) : "")
    .then((user) => {
      if (!user) return next(new HttpError(401, "unauthorized", "sign in first"));
      req.user = user;
      next();
    })
    .catch(next);
};

/** The seeds' response cache: GET bodies kept in Redis for a few seconds (per user here, since bodies differ by user). */
const cached = (handler) =>
  wrap(async (req, res) => {
    const key = `peer:cache:${req.user.id}:${req.originalUrl}`;
    const hit = await redis.get(key);
    if (hit) return res.type("json").send(hit);
    const body = JSON.stringify(await handler(req));
    await redis.set(key, body, { EX: RESPONSE_CACHE_SECONDS });
    res.type("json").send(body);
  });

const limitParam = (raw, fallback, max) => {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new HttpError(400, "invalid_request", `limit must be 1..${max}`);
  return n;
};

async function readableRoom(key, userId) {
  const room = await store.roomFor(String(key), userId);
  if (!room) throw new HttpError(404, "not_found", "room not found");
  return room;
}

app.get("/healthz", (_req, res) => res.json({ ok: true }));
app.get("/readyz", wrap(async (_req, res) => {
  await pool.query("select 1");
  res.json({ ok: true, instance: config.instanceId });
}));

app.post("/api/auth/login", wrap(async (req, res) => {
  const { email, password } = req.body ?? {};
  if (typeof email !== "string" || typeof password !== "string") throw new HttpError(400, "invalid_request", "email and password are required");
  const user = await store.userByEmail(email);
  if (!user || !(await argon2.verify(user.password_hash, password))) throw new HttpError(401, "invalid_credentials", "wrong email or password");
  const token = await store.createSession(user.id);
  res.json({ user: { id: user.id, email: user.email, username: user.username }, token });
}));

app.get("/api/me", auth, (req, res) => res.json({ user: req.user }));

app.get("/api/rooms", auth, cached(async (req) => ({ data: await store.listRooms(req.user.id, limitParam(req.query.limit, 50, 100)), nextCursor: null })));

app.post("/api/rooms", auth, wrap(async (req, res) => {
  const name = req.body?.name;
  if (typeof name !== "string" || !name.trim() || name.length > 100) throw new HttpError(400, "invalid_request", "name must be 1..100 characters");
  res.status(201).json(await store.createRoom(name.trim(), req.user.id));
}));

app.get("/api/rooms/:room", auth, wrap(async (req, res) => {
  const { role, ...room } = await readableRoom(req.params.room, req.user.id);
  res.json(toRoom(room));
}));

app.get("/api/rooms/:room/messages", auth, wrap(async (req, res) => {
  const room = await readableRoom(req.params.room, req.user.id);
  const before = req.query.before === undefined ? undefined : Number(req.query.before);
  if (before !== undefined && (!Number.isInteger(before) || before < 0)) throw new HttpError(400, "invalid_request", "before must be a seq");
  const data = await store.history(room.id, before, limitParam(req.query.limit, 50, 100));
  res.json({ data, nextCursor: data.length && data[0].seq > 1 ? data[0].seq : null });
}));

app.post("/api/rooms/:room/read", auth, wrap(async (req, res) => {
  const room = await readableRoom(req.params.room, req.user.id);
  const seq = req.body?.seq;
  if (!Number.isInteger(seq) || seq < 0 || seq > Number(room.last_seq)) throw new HttpError(400, "invalid_request", "seq out of range");
  await store.markRead(room.id, req.user.id, seq);
  res.status(204).end();
}));

app.use((req, _res, next) => next(new HttpError(404, "not_found", `no route ${req.method} ${req.path}`)));
app.use((err, _req, res, _next) => {
  if (err instanceof HttpError) return res.status(err.status).json({ error: { code: err.code, message: err.message } });
  if (err?.type === "entity.parse.failed") return res.status(400).json({ error: { code: "invalid_json", message: "body is not JSON" } });
  if (err?.type === "entity.too.large") return res.status(413).json({ error: { code: "too_large", message: "body over 1 MiB" } });
  console.error(`[${config.instanceId}]`, err);
  res.status(500).json({ error: { code: "internal", message: "internal error" } });
});

// ---------------------------------------------------------------- Socket.IO

const httpServer = createServer(app);
// As Socket.IO's performance guide advises: the ws engine (bufferutil installed), websocket
// only (no long-polling, no sticky sessions needed), no compression, the handshake request
// dropped once connected to save memory per socket.
const io = new Server(httpServer, {
  wsEngine: WebSocketServer,
  transports: ["websocket"],
  perMessageDeflate: false,
  httpCompression: false,
  serveClient: false,
  cleanupEmptyChildNamespaces: true,
  adapter: createAdapter(redis, subscriber),
});
io.engine.on("connection", (rawSocket) => {
  rawSocket.request = null;
});

io.use((socket, next) => {
  authenticate(socket.handshake.auth?.token ?? socket.handshake.query?.token)
    .then((user) => {
      if (!user) return next(new Error("unauthorized"));
      socket.data.user = user;
      next();
    })
    .catch(next);
});

const fail = (ack, code, message) => typeof ack === "function" && ack({ error: { code, message } });

io.on("connection", (socket) => {
  const user = socket.data.user;

  socket.on("join_room", async (data, ack) => {
    try {
      if (typeof data?.roomId !== "string") return fail(ack, "invalid_data", "roomId is required");
      const room = await store.roomFor(data.roomId, user.id);
      if (!room) return fail(ack, "not_found", "room not found");
      if (!room.role) await store.join(room.id, user.id);
      socket.join(room.id);
      // Read after joining: a message committed before this value was emitted before the join
      // or is at most a repeat below lastSeq; every later one reaches this socket.
      const lastSeq = await store.lastSeq(room.id);
      if (typeof ack === "function") ack({ data: { roomId: room.id, slug: room.slug, lastSeq } });
    } catch (err) {
      console.error(`[${config.instanceId}] join_room`, err);
      fail(ack, "internal", "join failed");
    }
  });

  socket.on("leave_room", (data) => {
    if (typeof data?.roomId === "string") socket.leave(data.roomId);
  });

  socket.on("send_message", async (data, ack) => {
    try {
      const { roomId, content, clientMsgId, timestamp } = data ?? {};
      if (typeof roomId !== "string" || !socket.rooms.has(roomId)) return fail(ack, "not_joined", "join the room first");
      if (typeof content !== "string" || !content.trim() || content.length > CONTENT_MAX) return fail(ack, "invalid_data", "content must be 1..4000 characters");
      if (clientMsgId !== undefined && (typeof clientMsgId !== "string" || clientMsgId.length > 128)) return fail(ack, "invalid_data", "bad clientMsgId");
      const id = clientMsgId ?? `io-${crypto.randomUUID()}`;
      const sentAt = Number.isSafeInteger(timestamp) ? timestamp : null;
      const row = await store.send({ roomId, userId: user.id, clientMsgId: id, content, sentAt });
      if (!row) {
        const original = await store.existing(roomId, user.id, id);
        if (!original) return fail(ack, "forbidden", "join the room to post in it");
        const m = toMessage(original);
        if (typeof ack === "function") ack({ data: { roomId, clientMsgId: id, id: m.id, seq: m.seq } });
        return;
      }
      const message = toMessage({ ...row, username: user.username });
      // Committed: tell everyone else in the room (every process, through the Redis adapter), then ack.
      socket.to(roomId).emit("new_message", message);
      if (typeof ack === "function") ack({ data: { roomId, clientMsgId: id, id: message.id, seq: message.seq } });
    } catch (err) {
      console.error(`[${config.instanceId}] send_message`, err);
      fail(ack, "internal", "send failed");
    }
  });
});

httpServer.listen(config.port, config.host, () => {
  console.log(`[${config.instanceId}] listening on http://${config.host}:${config.port}`);
});

let stopping = false;
const shutdown = async () => {
  if (stopping) return;
  stopping = true;
  io.close();
  await Promise.allSettled([pool.end(), redis.quit(), subscriber.quit()]);
  process.exit(0);
};
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);

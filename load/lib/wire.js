// The wire formats the load scripts speak, behind one small interface, so the same
// scenario runs against the product (TARGET=bun: JSON envelopes on /ws, or with PROTOCOL=v2
// the lean arrays of subprotocol chat.v2, docs/protocol.md "Versions") and against the
// benchmark peer (TARGET=peer: Socket.IO v4 / Engine.IO v4 packets over a WebSocket).
// Each adapter turns a received frame into normalized events:
//   {type:"ready"}                                  the socket may send (peer: after CONNECT)
//   {type:"joined", ref, roomId, lastSeq}
//   {type:"message", roomId, seq, sentAt}
//   {type:"ack", ref, clientMsgId, seq}
//   {type:"error", ref, code, message}
// and frames the adapter must answer itself (Engine.IO ping) are answered here.

// A load generator that parses every delivered frame in full runs out of CPU before the
// servers do (k6 runs JSON.parse in its JS interpreter): a delivery is read by looking up the
// two numbers it needs. JSON keys stand in double quotes and quotes inside strings are escaped,
// so `"seq":` and `"sentAt":` cannot occur inside message content. Everything else is parsed.

/** The JSON integer (or null) that starts at `i`: parseInt is native in k6's interpreter, a loop is not. */
export function numberAt(text, i) {
  if (text.charCodeAt(i) === 110) return null; // n(ull)
  return parseInt(text.slice(i, i + 24), 10);
}

/** The value of the last (`last`) or first `"key":` in the text, or undefined. */
function fieldOf(text, key, last = false) {
  const at = last ? text.lastIndexOf(key) : text.indexOf(key);
  return at < 0 ? undefined : numberAt(text, at + key.length);
}

const BUN_NEW_MESSAGE = '{"event":"new_message",';

export const bunWire = {
  name: "bun",
  url: (base, token) => `${base.replace(/^http/, "ws")}/ws?token=${encodeURIComponent(token)}`,
  /** Our server accepts frames as soon as the socket opens. */
  onOpen: () => [{ type: "ready" }],
  join: (ws, roomId, ref) => ws.send(JSON.stringify({ event: "join_room", data: { roomId }, ref })),
  send: (ws, data, ref) => ws.send(JSON.stringify({ event: "send_message", data, ref })),
  parse(text) {
    // {"event":"new_message","data":{…"seq":N…"sentAt":T…},"seq":N,"timestamp":…}: the
    // envelope's seq is the last one.
    if (text.startsWith(BUN_NEW_MESSAGE)) {
      return [{ type: "message", seq: fieldOf(text, '"seq":', true), sentAt: fieldOf(text, '"sentAt":') ?? null }];
    }
    const f = JSON.parse(text);
    switch (f.event) {
      case "new_message":
        return [{ type: "message", roomId: f.data.roomId, seq: f.seq, sentAt: f.data.sentAt }];
      case "message_ack":
        return [{ type: "ack", ref: f.ref, clientMsgId: f.data.clientMsgId, seq: f.data.seq }];
      case "joined":
        return [{ type: "joined", ref: f.ref, roomId: f.data.roomId, lastSeq: f.data.lastSeq }];
      case "error":
        return [{ type: "error", ref: f.ref, code: f.data.code, message: f.data.message }];
      default:
        return []; // presence, typing, pong
    }
  },
};

// chat.v2 (docs/protocol.md "Versions"): every server frame is an array, its first element
// the frame type. Read straight from the array, as a phone would, without the full decoder
// (src/protocol-v2.ts imports zod, which k6 cannot load). Rooms are numbered by the socket's
// own aliases, learnt from `joined`; an id string stands where the socket has none.
function leanWire() {
  const rooms = new Map(); // alias -> room id
  const roomOf = (r) => (typeof r === "string" ? r : rooms.get(r));
  return {
    ...bunWire,
    name: "bun-v2",
    protocols: ["chat.v2"],
    parse(text) {
      const a = JSON.parse(text);
      switch (a[0]) {
        case 0: // [0, alias, roomId, slug, lastSeq, fromSeq?, ref?]
          rooms.set(a[1], a[2]);
          return [{ type: "joined", ref: a[6] ?? undefined, roomId: a[2], lastSeq: a[4] }];
        case 1: // [1, room, seq, id, authorId, username, content, clientMsgId, createdAt, sentAt - createdAt, ...]
          return [{ type: "message", roomId: roomOf(a[1]), seq: a[2], sentAt: typeof a[9] === "number" ? a[8] + a[9] : null }];
        case 4: // [4, room, seq, id, clientMsgId, ref?]
          return [{ type: "ack", ref: a[5] ?? undefined, clientMsgId: a[4], seq: a[2] }];
        case 9: // [9, code, message, ref?]
          return [{ type: "error", ref: a[3] ?? undefined, code: a[1], message: a[2] }];
        default:
          return []; // presence, typing, pong, per-user frames
      }
    },
  };
}

// Engine.IO packet types: 0 open, 2 ping, 3 pong, 4 message. Socket.IO packet types (after
// the 4): 0 CONNECT, 2 EVENT, 3 ACK, 4 CONNECT_ERROR. "42" + [name, data] is an event,
// "42<id>[...]" one that asks for an ack, answered as "43<id>[...]".
const PEER_NEW_MESSAGE = '42["new_message",';

function socketIoWire(token) {
  const pending = new Map(); // ack id -> "join" | "send"
  return {
    name: "peer",
    onOpen: () => [],
    join(ws, roomId, ref) {
      pending.set(ref, "join");
      ws.send(`42${ref}${JSON.stringify(["join_room", { roomId }])}`);
    },
    send(ws, data, ref) {
      pending.set(ref, "send");
      ws.send(`42${ref}${JSON.stringify(["send_message", data])}`);
    },
    parse(text, ws) {
      const engine = text[0];
      if (engine === "2") {
        ws.send("3");
        return [];
      }
      if (engine === "0") {
        ws.send(`40${JSON.stringify({ token })}`);
        return [];
      }
      if (engine !== "4") return [];
      const kind = text[1];
      if (kind === "0") return [{ type: "ready" }];
      // 42["new_message",{…Message}]: the Message has one "seq" ("updatedSeq" is another key).
      if (text.startsWith(PEER_NEW_MESSAGE)) {
        return [{ type: "message", seq: fieldOf(text, '"seq":'), sentAt: fieldOf(text, '"sentAt":') ?? null }];
      }
      if (kind === "4") return [{ type: "error", ref: undefined, code: "connect_error", message: text.slice(2) }];
      const bracket = text.indexOf("[");
      const payload = JSON.parse(text.slice(bracket));
      if (kind === "2") {
        if (payload[0] === "new_message") {
          const m = payload[1];
          return [{ type: "message", roomId: m.roomId, seq: m.seq, sentAt: m.sentAt }];
        }
        return [];
      }
      if (kind === "3") {
        const ref = Number(text.slice(2, bracket));
        const what = pending.get(ref);
        pending.delete(ref);
        const reply = payload[0] ?? {};
        if (reply.error) return [{ type: "error", ref, code: reply.error.code, message: reply.error.message }];
        if (what === "join") return [{ type: "joined", ref, roomId: reply.data.roomId, lastSeq: reply.data.lastSeq }];
        if (what === "send") return [{ type: "ack", ref, clientMsgId: reply.data.clientMsgId, seq: reply.data.seq }];
      }
      return [];
    },
  };
}

export const peerWire = {
  name: "peer",
  url: (base) => `${base.replace(/^http/, "ws")}/socket.io/?EIO=4&transport=websocket`,
  forSocket: socketIoWire,
};

/**
 * The adapter for one socket of the chosen target; `protocol` ("v1" unless asked) is ours
 * only. An adapter with `protocols` asks for them as the socket's subprotocols.
 */
export function wireFor(target, token, protocol = "v1") {
  if (protocol !== "v1" && protocol !== "v2") throw new Error(`PROTOCOL must be v1 or v2, got ${protocol}`);
  if (target === "bun") return protocol === "v2" ? leanWire() : bunWire;
  if (target !== "peer") throw new Error(`TARGET must be bun or peer, got ${target}`);
  if (protocol !== "v1") throw new Error("PROTOCOL=v2 is ours only (the peer speaks Socket.IO)");
  return peerWire.forSocket(token);
}

export const wsUrl = (target, base, token) => (target === "peer" ? peerWire.url(base) : bunWire.url(base, token));

// Bad frames from the server: the client validates every chat.v2 frame (src/protocol-v2.ts,
// zod/mini), drops one that does not decode with a clear error, and loses nothing: the hole a
// dropped room event leaves is seen at the next one and filled over HTTP. A real chat server
// never sends these, so a small Bun server that speaks chat.v2 badly stands in for a broken one.
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Message } from "../../../src/protocol.ts";
import { encodeFrameV2 } from "../../../src/protocol-v2.ts";
import { applyEvent, initialState, type ChatState } from "../apply-event.ts";
import { createConnection } from "./connection.ts";

const ROOM = "0b6f2a52-2a7e-4d2c-9a43-2b8f6e0f1c11";
const message = (seq: number): Message => ({
  id: `7d1c6f0e-5b7a-4c7e-8f49-9e0c1a2b3c${String(seq).padStart(2, "0")}`,
  roomId: ROOM,
  seq,
  updatedSeq: null,
  author: { id: "a3e5c7d9-1b2f-4a6c-8e0d-f1a2b3c4d5e6", username: "alice" },
  content: `message ${seq}`,
  clientMsgId: `c-${seq}`,
  sentAt: null,
  createdAt: "2026-12-01T08:00:00.000Z",
  editedAt: null,
  deletedAt: null,
  reactions: [],
});

/** What the broken server sends after `joined`, then a good message 2 (message 1 arrives only in a bad form). */
const BAD = [
  "not json",
  '{"event":"new_message","data":{}}',
  "[99]",
  '[1,1,"short"]',
  JSON.stringify([1, 1, "1", ...JSON.parse(encodeFrameV2("new_message", message(1), { room: 1 })).slice(3)]),
  '[7,4,"u1","bob"]',
];

let server: ReturnType<typeof Bun.serve>;
beforeAll(() => {
  server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch(req, srv) {
      const url = new URL(req.url);
      if (url.pathname === "/ws") return srv.upgrade(req, { headers: { "Sec-WebSocket-Protocol": "chat.v2" }, data: undefined }) ? undefined : new Response("no", { status: 400 });
      if (url.pathname === `/api/rooms/${ROOM}/messages`) {
        const after = Number(url.searchParams.get("after"));
        return Response.json({ data: [message(1), message(2)].filter((m) => m.seq > after), nextCursor: null });
      }
      return new Response("not found", { status: 404 });
    },
    websocket: {
      message(ws, text) {
        const frame = JSON.parse(String(text));
        if (frame.event !== "join_room") return;
        ws.send(encodeFrameV2("joined", { roomId: ROOM, slug: "bad", lastSeq: 2 }, { alias: 1 }));
        for (const bad of BAD) ws.send(bad);
        ws.send(encodeFrameV2("new_message", message(2), { room: 1 }));
      },
    },
  });
});
afterAll(() => server?.stop(true));

test("every bad frame is dropped with a clear error; the socket stays up and the message it carried comes over HTTP, once, in order", async () => {
  let state: ChatState = applyEvent(initialState, { type: "signed_in", me: { id: "me", username: "me", email: "me@example.com" } });
  state = applyEvent(state, { type: "page_newest", roomId: ROOM, messages: [], reachedStart: true });
  const errors: string[] = [];
  const states: string[] = [];
  const base = `http://127.0.0.1:${server.port}`;
  const connection = createConnection({
    url: () => `${base.replace("http", "ws")}/ws`,
    resumePoint: (id) => state.views[id],
    fetchAfter: async (id, after) => (await fetch(`${base}/api/rooms/${id}/messages?after=${after}`)).json() as Promise<{ data: Message[]; nextCursor: null }>,
    dispatch: (event) => {
      state = applyEvent(state, event);
      if (event.type === "connection") states.push(event.state);
    },
    onBadFrame: (error) => errors.push(error.message),
  });
  connection.start();
  connection.openRoom(ROOM);
  const deadline = Date.now() + 5_000;
  while ((state.views[ROOM]?.messages.length ?? 0) < 2 && Date.now() < deadline) await Bun.sleep(20);
  connection.stop();

  expect(errors).toHaveLength(BAD.length);
  expect(errors[0]).toBe("not JSON");
  expect(errors[1]).toMatch(/not a v2 frame/);
  expect(errors[2]).toMatch(/not a v2 frame/);
  expect(errors[3]).toMatch(/^bad chat\.v2 message: \[\d\] invalid_type/);
  expect(errors[4]).toBe("bad chat.v2 message: [0] invalid_type (expected number)");
  expect(errors[5]).toBe("unknown room alias 4");
  expect(states).toEqual(["connected"]);
  expect(state.views[ROOM]!.messages.map((m) => [m.seq, m.content])).toEqual([
    [1, "message 1"],
    [2, "message 2"],
  ]);
  expect(state.views[ROOM]!.lastSeq).toBe(2);
});

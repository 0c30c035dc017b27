// joined {truncated: true, fromSeq}: the client pages the older missed events over HTTP (after=),
// against a real instance whose replay limit is small.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { api, signUp, startInstances } from "../../../test/support/test-cluster.ts";
import { applyEvent, initialState, type ChatState } from "../apply-event.ts";
import { createConnection } from "./connection.ts";

let cluster: Awaited<ReturnType<typeof startInstances>>;
beforeAll(async () => {
  cluster = await startInstances(1, { RATE_LIMIT_MULTIPLIER: "100", WS_REPLAY_MAX: "5" });
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

test("a resume past the replay limit is truncated; the client fills the older part over HTTP: every message once, in order", async () => {
  const base = cluster.instances[0]!.url;
  const user = await signUp(base, "trunc");
  const roomId = (await api(base, "POST", "/api/rooms", user.token, { name: `t ${Date.now()}` })).body.id as string;
  const post = (i: number) => api(base, "POST", `/api/rooms/${roomId}/messages`, user.token, { content: `m${i}`, clientMsgId: `t-${i}` });
  await post(1);
  let state: ChatState = applyEvent(initialState, { type: "signed_in", me: { id: user.id, username: user.username, email: user.email } });
  const first = await api(base, "GET", `/api/rooms/${roomId}/messages`, user.token);
  state = applyEvent(state, { type: "page_newest", roomId, messages: first.body.data, reachedStart: true });
  for (let i = 2; i <= 30; i++) await post(i);

  const joined: unknown[] = [];
  const connection = createConnection({
    url: () => `${base.replace("http", "ws")}/ws?token=${user.token}`,
    resumePoint: (id) => state.views[id],
    fetchAfter: async (id, after) => (await api(base, "GET", `/api/rooms/${id}/messages?after=${after}&limit=10`, user.token)).body,
    dispatch: (event) => {
      if (event.type === "frame" && event.frame.event === "joined") joined.push(event.frame.data);
      state = applyEvent(state, event);
    },
  });
  connection.start();
  connection.openRoom(roomId);
  const deadline = Date.now() + 10_000;
  while (state.views[roomId]!.messages.length < 30 || state.views[roomId]!.ahead.length > 0) {
    if (Date.now() > deadline) throw new Error(`timed out: ${state.views[roomId]!.messages.length} messages`);
    await Bun.sleep(20);
  }
  expect(connection.protocol).toBe("chat.v2"); // the default socket asks for v2; its `joined` came decoded
  connection.stop();
  expect(joined).toEqual([expect.objectContaining({ roomId, truncated: true, fromSeq: 26 })]);
  expect(state.views[roomId]!.messages.map((m) => m.content)).toEqual(Array.from({ length: 30 }, (_, i) => `m${i + 1}`));
  expect(state.views[roomId]!).toMatchObject({ lastSeq: 30, ahead: [] });
}, 30_000);

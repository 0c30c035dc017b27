// The connection against two real chat instances (real Postgres and Redis from the
// test runner): resume after the instance goes away, gap fill over HTTP, backoff.
// The client asks for chat.v2; every test checks the frames it got were v2 (or v1 where
// the socket offers only chat.v1, as when a server answers v1).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { api, signUp, startInstances } from "../../../test/support/test-cluster.ts";
import { applyEvent, initialState, type ChatState } from "../apply-event.ts";
import { createConnection } from "./connection.ts";
import { backoffDelay, leavesGap, resumeFrames } from "./resume.ts";

describe("resume logic", () => {
  test("backoff grows, is capped, and is jittered between half and all of the cap", () => {
    expect(backoffDelay(0, () => 0)).toBe(200);
    expect(backoffDelay(0, () => 1)).toBe(400);
    expect(backoffDelay(3, () => 0.5)).toBe(2400);
    expect(backoffDelay(50, () => 1)).toBe(8000);
    const spread = new Set(Array.from({ length: 50 }, () => backoffDelay(4, Math.random)));
    expect(spread.size).toBeGreaterThan(10);
  });

  test("every open room resumes after its last applied value; an unloaded room joins without one", () => {
    const points = { a: { lastSeq: 7, ahead: [], loaded: true }, b: { lastSeq: 0, ahead: [], loaded: false } };
    expect(resumeFrames(["a", "b"], (id) => points[id as "a" | "b"])).toEqual([{ roomId: "a", afterSeq: 7 }, { roomId: "b" }]);
  });

  test("a value more than one above the resume point is a gap", () => {
    const point = { lastSeq: 4, ahead: [], loaded: true };
    expect(leavesGap(point, 5)).toBe(false);
    expect(leavesGap(point, 4)).toBe(false);
    expect(leavesGap(point, 6)).toBe(true);
    expect(leavesGap({ ...point, loaded: false }, 9)).toBe(false);
  });
});

describe("connection against real instances", () => {
  let cluster: Awaited<ReturnType<typeof startInstances>>;
  let user: Awaited<ReturnType<typeof signUp>>;
  let roomId: string;

  beforeAll(async () => {
    cluster = await startInstances(2, { RATE_LIMIT_MULTIPLIER: "100" });
    user = await signUp(cluster.instances[0]!.url, "conn");
    const room = await api(cluster.instances[0]!.url, "POST", "/api/rooms", user.token, { name: `conn ${Date.now()}` });
    roomId = room.body.id;
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  function client(urls: string[], who = user, protocols?: string[]) {
    let state: ChatState = applyEvent(initialState, { type: "signed_in", me: { id: who.id, username: who.username, email: who.email } });
    const states: string[] = [];
    /** Every server frame's text as it came off the wire. */
    const raw: string[] = [];
    let attempt = 0;
    const base = () => urls[Math.min(attempt, urls.length - 1)]!;
    const connection = createConnection({
      url: () => `${base().replace("http", "ws")}/ws?token=${who.token}`,
      // The default socket (chat.v2), or one offering other names; either way the text is recorded.
      createSocket: (url) => {
        const ws = protocols ? new WebSocket(url, protocols) : new WebSocket(url, ["chat.v2"]);
        ws.addEventListener("message", (e) => raw.push(String(e.data)));
        return ws;
      },
      resumePoint: (id) => state.views[id],
      fetchAfter: async (id, after) => (await api(base(), "GET", `/api/rooms/${id}/messages?after=${after}&limit=100`, who.token)).body,
      dispatch: (event) => {
        state = applyEvent(state, event);
        if (event.type === "connection") {
          states.push(event.state);
          if (event.state !== "connected") attempt++;
        }
      },
      random: () => 0,
    });
    return { connection, states, raw, get state() { return state; }, set state(s) { state = s; } };
  }

  const post = (base: string, content: string, room = roomId) =>
    api(base, "POST", `/api/rooms/${room}/messages`, user.token, { content, clientMsgId: `k-${content.replaceAll(" ", "-")}` });
  /** Every frame was a v2 array (joined, new_message, … all decoded by the client). */
  const allV2 = (raw: string[]) => raw.length > 0 && raw.every((t) => Array.isArray(JSON.parse(t)));

  async function until(check: () => boolean, ms = 10_000) {
    const deadline = Date.now() + ms;
    while (!check()) {
      if (Date.now() > deadline) throw new Error("timed out");
      await Bun.sleep(20);
    }
  }

  test("after its instance goes away, the client reconnects elsewhere and resumes: nothing lost, nothing twice", async () => {
    const [one, two] = cluster.instances;
    const c = client([one!.url, two!.url]);
    await post(one!.url, "before 1");
    const page = await api(one!.url, "GET", `/api/rooms/${roomId}/messages`, user.token);
    c.state = applyEvent(c.state, { type: "page_newest", roomId, messages: page.body.data, reachedStart: true });
    c.connection.start();
    c.connection.openRoom(roomId);
    await until(() => c.states.includes("connected"));
    expect(c.connection.protocol).toBe("chat.v2");
    await Bun.sleep(200);
    await post(two!.url, "live 1");
    await until(() => c.state.views[roomId]!.messages.length === 2);

    await one!.stop(); // drains: sockets closed with 1012
    for (let i = 0; i < 5; i++) await post(two!.url, `while away ${i}`);
    await until(() => c.state.views[roomId]!.messages.length === 7);
    expect(c.states).toContain("reconnecting");
    expect(c.states.at(-1)).toBe("connected");
    await post(two!.url, "live 2");
    await until(() => c.state.views[roomId]!.messages.length === 8);

    const truth = await api(two!.url, "GET", `/api/rooms/${roomId}/messages?limit=100`, user.token);
    expect(c.state.views[roomId]!.messages.map((m) => m.id)).toEqual(truth.body.data.map((m: { id: string }) => m.id));
    expect(c.state.views[roomId]!.lastSeq).toBe(truth.body.data.at(-1).seq);
    // The resume's replay came as v2 frames (new_message arrays with a room alias) on the new socket too.
    expect(c.connection.protocol).toBe("chat.v2");
    expect(allV2(c.raw)).toBe(true);
    expect(c.raw.filter((t) => t.startsWith("[0,")).length).toBeGreaterThanOrEqual(2);
    c.connection.stop();
  }, 30_000);

  test("a hole in the live stream is filled over HTTP", async () => {
    const two = cluster.instances[1]!;
    const c = client([two.url]);
    const all = (await api(two.url, "GET", `/api/rooms/${roomId}/messages?limit=100`, user.token)).body.data;
    // This client only saw the first message, but believes it is up to date (a lost frame).
    c.state = applyEvent(c.state, { type: "page_newest", roomId, messages: all.slice(0, 1), reachedStart: true });
    c.state = { ...c.state, views: { ...c.state.views, [roomId]: { ...c.state.views[roomId]!, lastSeq: all[0].seq } } };
    c.connection.start();
    // Joined without afterSeq's replay, as if the client had resumed from a later value.
    await until(() => c.states.includes("connected"));
    const joinAfter = { ...c.state.views[roomId]!, loaded: false };
    c.state = { ...c.state, views: { ...c.state.views, [roomId]: joinAfter } };
    c.connection.openRoom(roomId);
    c.state = { ...c.state, views: { ...c.state.views, [roomId]: { ...joinAfter, loaded: true } } };
    await Bun.sleep(300);
    await post(two.url, "after the hole");
    await until(() => c.state.views[roomId]!.messages.length === all.length + 1);
    expect(c.state.views[roomId]!.messages.map((m) => m.seq)).toEqual([...all.map((m: { seq: number }) => m.seq), all.at(-1).seq + 1]);
    expect(c.state.views[roomId]!.ahead).toEqual([]);
    expect(allV2(c.raw)).toBe(true);
    c.connection.stop();
  }, 30_000);

  test("presence and presence_diff in v2: who is online, as others join and leave the room", async () => {
    const one = cluster.instances[1]!; // the first was stopped above
    const other = await signUp(one.url, "conn-p");
    expect((await api(one.url, "POST", `/api/rooms/${roomId}/join`, other.token)).status).toBe(200);
    const watcher = client([one.url]);
    watcher.connection.start();
    watcher.connection.openRoom(roomId);
    await until(() => watcher.state.views[roomId]?.online.users.some((u) => u.id === user.id) ?? false);
    expect(watcher.state.views[roomId]!.online.total).toBe(1);

    const visitor = client([cluster.instances[1]!.url], other);
    visitor.connection.start();
    visitor.connection.openRoom(roomId);
    await until(() => watcher.state.views[roomId]!.online.users.some((u) => u.id === other.id));
    expect(watcher.state.views[roomId]!.online).toEqual({
      users: expect.arrayContaining([{ id: user.id, username: user.username }, { id: other.id, username: other.username }]),
      total: 2,
    });
    visitor.connection.closeRoom(roomId);
    await until(() => !watcher.state.views[roomId]!.online.users.some((u) => u.id === other.id));
    expect(watcher.state.views[roomId]!.online.total).toBe(1);
    expect(watcher.raw.some((t) => t.startsWith("[5,"))).toBe(true);
    expect(watcher.raw.filter((t) => t.startsWith("[6,")).length).toBeGreaterThanOrEqual(2);
    expect(allV2(watcher.raw)).toBe(true);
    watcher.connection.stop();
    visitor.connection.stop();
  }, 30_000);

  test("per-user frames in v2: membership_added, room_activity and membership_removed change the room list", async () => {
    const one = cluster.instances[1]!; // the first was stopped above
    const guest = await signUp(one.url, "conn-g");
    const room = (await api(one.url, "POST", "/api/rooms", user.token, { name: `per-user ${Date.now()}` })).body;
    const c = client([cluster.instances[1]!.url], guest);
    c.connection.start();
    await until(() => c.states.includes("connected"));
    await Bun.sleep(300); // the instance reads the user's memberships on connect
    expect((await api(one.url, "POST", `/api/rooms/${room.id}/join`, guest.token)).status).toBe(200);
    await until(() => c.state.rooms[room.id] !== undefined);
    expect(c.state.rooms[room.id]).toMatchObject({ id: room.id, slug: room.slug });

    await post(one.url, "activity", room.id);
    await until(() => c.state.rooms[room.id]!.lastSeq === 1);
    expect(c.state.rooms[room.id]!.lastActivityAt).toEqual(expect.any(String));

    expect((await api(one.url, "POST", `/api/rooms/${room.id}/leave`, guest.token)).status).toBe(204);
    await until(() => c.state.rooms[room.id] === undefined);
    for (const code of ["[10,", "[11,", "[12,"]) expect(c.raw.some((t) => t.startsWith(code))).toBe(true);
    expect(allV2(c.raw)).toBe(true);
    c.connection.stop();
  }, 30_000);

  test("a socket the server answers with v1 is read as v1 JSON", async () => {
    const one = cluster.instances[1]!; // the first was stopped above
    const c = client([one.url], user, ["chat.v1"]);
    const page = await api(one.url, "GET", `/api/rooms/${roomId}/messages`, user.token);
    c.state = applyEvent(c.state, { type: "page_newest", roomId, messages: page.body.data, reachedStart: false });
    c.connection.start();
    c.connection.openRoom(roomId);
    await until(() => c.raw.some((t) => JSON.parse(t).event === "joined"));
    expect(c.connection.protocol).toBe("chat.v1");
    const before = c.state.views[roomId]!.lastSeq;
    await post(one.url, "plain v1");
    await until(() => c.state.views[roomId]!.messages.some((m) => m.content === "plain v1"));
    expect(c.state.views[roomId]!.messages.find((m) => m.content === "plain v1")).toMatchObject({ roomId, seq: before + 1, author: { id: user.id } });
    expect(c.raw.every((t) => JSON.parse(t).event !== undefined)).toBe(true);
    c.connection.stop();
  }, 30_000);
});

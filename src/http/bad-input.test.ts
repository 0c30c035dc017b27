// Inputs Postgres would refuse (NUL bytes) are refused at validation: 400, never 500.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createTestApp, registerUser, type TestApp } from "../../test/support/test-app.ts";

describe("NUL bytes", () => {
  let t: TestApp;
  let user: Awaited<ReturnType<typeof registerUser>>;
  let room: { id: string; slug: string };
  let messageId: string;
  beforeAll(async () => {
    t = await createTestApp("postgres");
    user = await registerUser(t);
    room = (await t.call("POST", "/api/rooms", { token: user.token, body: { name: "nul room" } })).body;
    messageId = (await t.call("POST", `/api/rooms/${room.id}/messages`, { token: user.token, body: { content: "hi", clientMsgId: "m1" } })).body.id;
  });
  afterAll(async () => {
    await t?.close();
  });

  const cases: [string, string, string, unknown?][] = [
    ["send content", "POST", "/api/rooms/ROOM/messages", { content: "a\u0000b", clientMsgId: "nul-1" }],
    ["edit content", "PATCH", "/api/messages/MSG", { content: "\u0000" }],
    ["room name", "POST", "/api/rooms", { name: "bad\u0000name" }],
    ["reaction emoji", "POST", "/api/messages/MSG/reactions", { emoji: "👍\u0000" }],
    ["path room key", "GET", "/api/rooms/%00", undefined],
    ["path room key (history)", "GET", "/api/rooms/general%00/messages", undefined],
    ["path room key (join)", "POST", "/api/rooms/%00x/join", undefined],
    ["path room key (presence)", "GET", "/api/rooms/%00/presence", undefined],
    ["search q", "GET", "/api/search?q=a%00b", undefined],
    ["search room", "GET", "/api/search?q=hi&room=%00", undefined],
  ];
  for (const [name, method, path, body] of cases) {
    test(`${name}: 400 naming the field, nothing written`, async () => {
      const res = await t.call(method, path.replace("ROOM", room.id).replace("MSG", messageId), { token: user.token, body });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe("invalid_request");
      expect(res.body.error.details[0].message).toContain("NUL");
    });
  }

  for (const [name, method, path, body] of [
    ["send content", "POST", "/api/rooms/ROOM/messages", '{"content":"a\\ud800b","clientMsgId":"sur-1"}'],
    ["room name", "POST", "/api/rooms", '{"name":"\\udc00"}'],
    ["reaction emoji", "POST", "/api/messages/MSG/reactions", '{"emoji":"\\ud83d"}'],
  ] as const) {
    test(`${name} with a lone surrogate: 400, not stored as U+FFFD`, async () => {
      const res = await t.call(method, path.replace("ROOM", room.id).replace("MSG", messageId), { token: user.token, body });
      expect(res.status).toBe(400);
      expect(res.body.error.details[0].message).toContain("surrogate");
    });
  }

  test("the room and message are untouched", async () => {
    const history = await t.call("GET", `/api/rooms/${room.id}/messages`, { token: user.token });
    expect(history.body.data.map((m: { content: string; reactions: unknown[] }) => [m.content, m.reactions.length])).toEqual([["hi", 0]]);
  });
});

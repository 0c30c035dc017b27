import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Message, type Room } from "../protocol.ts";
import { addMember, createRoom, joinRoom, post, type TestUser } from "../../test/support/chat.ts";
import { createTestApp, registerUser, type TestApp } from "../../test/support/test-app.ts";

const fields = (body: any) => (body.error.details as { field: string }[]).map((d) => d.field).sort();

describe("messages over HTTP", () => {
  let t: TestApp;
  let alice: TestUser; // owner of both rooms
  let bob: TestUser; // member of both
  let carol: TestUser; // member of the public room only
  let mallory: TestUser; // member of nothing
  let open: Room;
  let secret: Room;

  beforeAll(async () => {
    t = await createTestApp("postgres", { RATE_LIMIT_MULTIPLIER: "100" });
    [alice, bob, carol, mallory] = await Promise.all([registerUser(t, "ali"), registerUser(t, "bob"), registerUser(t, "car"), registerUser(t, "mal")]);
    open = await createRoom(t, alice);
    secret = await createRoom(t, alice, { isPrivate: true });
    await Promise.all([joinRoom(t, bob, open), joinRoom(t, carol, open), addMember(t, alice, secret, bob)]);
  }, 30_000);
  afterAll(async () => {
    await t?.close();
  });

  test("send: 201 with the contract's Message, by id or slug; the same clientMsgId again is 200 with the original", async () => {
    const res = await t.call("POST", `/api/rooms/${open.slug}/messages`, { token: bob.token, body: { content: "  hello <b>world</b>  ", clientMsgId: "c-1" } });
    expect(res.status).toBe(201);
    const message = Message.strict().parse(res.body);
    expect(message).toMatchObject({
      roomId: open.id,
      author: { id: bob.id, username: bob.username },
      content: "  hello <b>world</b>  ",
      clientMsgId: "c-1",
      sentAt: null,
      updatedSeq: null,
      editedAt: null,
      deletedAt: null,
      reactions: [],
    });
    expect(typeof message.seq).toBe("number");
    expect(new Date(message.createdAt).toISOString()).toBe(message.createdAt);

    const again = await t.call("POST", `/api/rooms/${open.id}/messages`, { token: bob.token, body: { content: "different", clientMsgId: "c-1" } });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(res.body);
    // Same clientMsgId from someone else is their own message.
    const carols = await t.call("POST", `/api/rooms/${open.id}/messages`, { token: carol.token, body: { content: "mine", clientMsgId: "c-1" } });
    expect(carols.status).toBe(201);
    expect(carols.body.seq).toBe(message.seq + 1);
  });

  const badSends: [string, unknown, string[]][] = [
    ["empty content", { content: "", clientMsgId: "x" }, ["content"]],
    ["blank content", { content: " \n\t ", clientMsgId: "x" }, ["content"]],
    ["4001 characters", { content: "a".repeat(4001), clientMsgId: "x" }, ["content"]],
    ["missing clientMsgId", { content: "hi" }, ["clientMsgId"]],
    ["clientMsgId with a space", { content: "hi", clientMsgId: "a b" }, ["clientMsgId"]],
    ["wrong types", { content: 42, clientMsgId: ["x"] }, ["clientMsgId", "content"]],
    ["unknown field", { content: "hi", clientMsgId: "x", seq: 1 }, ["(body)"]],
  ];
  for (const [label, body, named] of badSends) {
    test(`send: ${label} is 400 naming ${named.join(", ")}`, async () => {
      const res = await t.call("POST", `/api/rooms/${open.id}/messages`, { token: bob.token, body });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe("invalid_request");
      expect(fields(res.body)).toEqual(named);
    });
  }

  test("send: exactly 4000 characters is fine", async () => {
    const res = await t.call("POST", `/api/rooms/${open.id}/messages`, { token: bob.token, body: { content: "é".repeat(4000), clientMsgId: "long" } });
    expect(res.status).toBe(201);
    expect(res.body.content).toHaveLength(4000);
  });

  const badHistory: [string, string[]][] = [
    ["limit=0", ["limit"]],
    ["limit=1000", ["limit"]],
    ["limit=101", ["limit"]],
    ["limit=1.5", ["limit"]],
    ["limit=", ["limit"]],
    ["before=-1", ["before"]],
    ["after=abc", ["after"]],
    ["before=5&after=2", ["after"]],
  ];
  for (const [query, named] of badHistory) {
    test(`history: ${query} is 400 naming ${named.join(", ")}`, async () => {
      const res = await t.call("GET", `/api/rooms/${open.id}/messages?${query}`, { token: bob.token });
      expect(res.status).toBe(400);
      expect(fields(res.body)).toEqual(named);
    });
  }

  test("unknown rooms and messages are 404, whatever the id looks like", async () => {
    for (const room of [crypto.randomUUID(), "no-such-room", "%27%3B--", "x".repeat(300)]) {
      expect((await t.call("GET", `/api/rooms/${room}/messages`, { token: bob.token })).status).toBe(404);
      expect((await t.call("POST", `/api/rooms/${room}/messages`, { token: bob.token, body: { content: "x", clientMsgId: "x" } })).status).toBe(404);
    }
    for (const id of [crypto.randomUUID(), "42", "not-a-uuid", "x".repeat(300)]) {
      expect((await t.call("PATCH", `/api/messages/${id}`, { token: bob.token, body: { content: "x" } })).status).toBe(404);
      expect((await t.call("DELETE", `/api/messages/${id}`, { token: bob.token })).status).toBe(404);
      const react = await t.call("POST", `/api/messages/${id}/reactions`, { token: bob.token, body: { emoji: "👍" } });
      expect(react.status).toBe(404);
      expect(react.body).toEqual({ error: { code: "not_found", message: "message not found" } });
    }
  });

  test("a private room of others: no reading, posting, searching or member list; the same 404 as a missing room", async () => {
    const missing = (await t.call("GET", `/api/rooms/${crypto.randomUUID()}/messages`, { token: mallory.token })).body;
    await post(t, bob, secret, "classified plans");
    const attempts = [
      await t.call("GET", `/api/rooms/${secret.id}/messages`, { token: mallory.token }),
      await t.call("GET", `/api/rooms/${secret.slug}/messages?after=0`, { token: mallory.token }),
      await t.call("POST", `/api/rooms/${secret.id}/messages`, { token: mallory.token, body: { content: "hi", clientMsgId: "m" } }),
      await t.call("GET", `/api/rooms/${secret.id}/members`, { token: mallory.token }),
      await t.call("GET", `/api/search?q=classified&room=${secret.id}`, { token: mallory.token }),
      await t.call("POST", `/api/rooms/${secret.id}/read`, { token: mallory.token, body: { seq: 0 } }),
    ];
    for (const res of attempts) {
      expect(res.status).toBe(404);
      expect(res.body).toEqual(missing);
    }
    const everywhere = await t.call("GET", "/api/search?q=classified", { token: mallory.token });
    expect(everywhere.body.data).toEqual([]);
    const carolToo = await t.call("GET", "/api/search?q=classified", { token: carol.token });
    expect(carolToo.body.data).toEqual([]);
  });

  test("guessing the id of a message in someone else's private room gets 404 for every verb", async () => {
    const hidden = await post(t, alice, secret, "not for mallory");
    const missing = { error: { code: "not_found", message: "message not found" } };
    const attempts = [
      await t.call("PATCH", `/api/messages/${hidden.id}`, { token: mallory.token, body: { content: "pwned" } }),
      await t.call("DELETE", `/api/messages/${hidden.id}`, { token: mallory.token }),
      await t.call("POST", `/api/messages/${hidden.id}/reactions`, { token: mallory.token, body: { emoji: "😈" } }),
      await t.call("PATCH", `/api/messages/${hidden.id}`, { token: carol.token, body: { content: "pwned" } }),
    ];
    for (const res of attempts) {
      expect(res.status).toBe(404);
      expect(res.body).toEqual(missing);
    }
    const still = await t.call("GET", `/api/rooms/${secret.id}/messages?limit=100`, { token: alice.token });
    expect(still.body.data.find((m: Message) => m.id === hidden.id)).toMatchObject({ content: "not for mallory", reactions: [], updatedSeq: null });
  });

  test("a public room can be read by anyone signed in, but posting and reacting need membership", async () => {
    const message = await post(t, carol, open, "public words");
    const read = await t.call("GET", `/api/rooms/${open.id}/messages`, { token: mallory.token });
    expect(read.status).toBe(200);
    expect(read.body.data.map((m: Message) => m.id)).toContain(message.id);
    const posting = await t.call("POST", `/api/rooms/${open.id}/messages`, { token: mallory.token, body: { content: "hi", clientMsgId: "m1" } });
    expect(posting.status).toBe(403);
    expect(posting.body.error.code).toBe("forbidden");
    expect((await t.call("POST", `/api/messages/${message.id}/reactions`, { token: mallory.token, body: { emoji: "👍" } })).status).toBe(403);
  });

  test("only the author edits; the author or the room's owner or admins delete; members cannot delete others'", async () => {
    const message = await post(t, bob, open, "original");
    const byOther = await t.call("PATCH", `/api/messages/${message.id}`, { token: carol.token, body: { content: "hacked" } });
    expect(byOther.status).toBe(403);
    expect((await t.call("PATCH", `/api/messages/${message.id}`, { token: alice.token, body: { content: "owner edit" } })).status).toBe(403);
    expect((await t.call("DELETE", `/api/messages/${message.id}`, { token: carol.token })).status).toBe(403);
    expect((await t.call("DELETE", `/api/messages/${message.id}`, { token: mallory.token })).status).toBe(403);

    const edited = await t.call("PATCH", `/api/messages/${message.id}`, { token: bob.token, body: { content: "fixed" } });
    expect(edited.status).toBe(200);
    expect(edited.body).toMatchObject({ id: message.id, content: "fixed", seq: message.seq, editedAt: expect.any(String), deletedAt: null });
    expect(edited.body.updatedSeq).toBeGreaterThan(message.seq);

    const deleted = await t.call("DELETE", `/api/messages/${message.id}`, { token: alice.token });
    const tombstone = structuredClone(deleted.body);
    expect(deleted.status).toBe(200);
    expect(deleted.body).toMatchObject({ id: message.id, content: "", deletedAt: expect.any(String), reactions: [] });
    expect(deleted.body.updatedSeq).toBe(edited.body.updatedSeq + 1);
    // Deleting again changes nothing; editing or reacting to a tombstone is a conflict.
    const twice = await t.call("DELETE", `/api/messages/${message.id}`, { token: bob.token });
    expect(twice.status).toBe(200);
    expect(twice.body).toEqual(tombstone);
    expect((await t.call("PATCH", `/api/messages/${message.id}`, { token: bob.token, body: { content: "back" } })).status).toBe(409);
    expect((await t.call("POST", `/api/messages/${message.id}/reactions`, { token: bob.token, body: { emoji: "👍" } })).status).toBe(409);

    const own = await post(t, carol, open, "mine to delete");
    expect((await t.call("DELETE", `/api/messages/${own.id}`, { token: carol.token })).status).toBe(200);
  });

  test("the room's owner may delete others' messages, but not edit them", async () => {
    const room = await createRoom(t, alice);
    await joinRoom(t, bob, room);
    const message = await post(t, bob, room, "moderate me");
    expect((await t.call("PATCH", `/api/messages/${message.id}`, { token: alice.token, body: { content: "x" } })).status).toBe(403);
    expect((await t.call("DELETE", `/api/messages/${message.id}`, { token: alice.token })).status).toBe(200);
  });

  test("edit and reaction inputs are validated", async () => {
    const message = await post(t, bob, open, "validate me");
    for (const body of [{ content: "" }, { content: "   " }, { content: "a".repeat(4001) }, {}, { content: 1 }]) {
      const res = await t.call("PATCH", `/api/messages/${message.id}`, { token: bob.token, body });
      expect(res.status).toBe(400);
      expect(fields(res.body)).toEqual(["content"]);
    }
    for (const body of [{ emoji: "" }, { emoji: "a b" }, { emoji: "x".repeat(33) }, {}, { emoji: 1 }]) {
      const res = await t.call("POST", `/api/messages/${message.id}/reactions`, { token: bob.token, body });
      expect(res.status).toBe(400);
      expect(fields(res.body)).toEqual(["emoji"]);
    }
  });

  test("reactions toggle per user and are grouped by emoji", async () => {
    const message = await post(t, bob, open, "react to me");
    const path = `/api/messages/${message.id}/reactions`;
    await t.call("POST", path, { token: bob.token, body: { emoji: "👍" } });
    await t.call("POST", path, { token: carol.token, body: { emoji: "👍" } });
    const third = await t.call("POST", path, { token: carol.token, body: { emoji: "🎉" } });
    expect(third.status).toBe(200);
    expect(third.body.reactions).toEqual([
      { emoji: "👍", count: 2, userIds: [bob.id, carol.id] },
      { emoji: "🎉", count: 1, userIds: [carol.id] },
    ]);
    const off = await t.call("POST", path, { token: bob.token, body: { emoji: "👍" } });
    expect(off.body.reactions).toEqual([
      { emoji: "👍", count: 1, userIds: [carol.id] },
      { emoji: "🎉", count: 1, userIds: [carol.id] },
    ]);
    expect(off.body.updatedSeq).toBe(third.body.updatedSeq + 1);
  });

  test("search: words in my rooms, newest first, deleted ones left out, scoped by room on request", async () => {
    const word = `zebra${crypto.randomUUID().slice(0, 6)}`;
    const first = await post(t, bob, open, `the ${word} runs`);
    const second = await post(t, bob, secret, `a ${word} sleeps`);
    const gone = await post(t, bob, open, `${word} deleted`);
    await t.call("DELETE", `/api/messages/${gone.id}`, { token: bob.token });

    const all = await t.call("GET", `/api/search?q=${word}`, { token: bob.token });
    expect(all.status).toBe(200);
    expect(all.body.data.map((m: Message) => m.id)).toEqual([second.id, first.id]);
    Message.strict().parse(all.body.data[0]);
    const scoped = await t.call("GET", `/api/search?q=${encodeURIComponent(`${word} runs`)}&room=${open.slug}`, { token: bob.token });
    expect(scoped.body.data.map((m: Message) => m.id)).toEqual([first.id]);
    expect((await t.call("GET", `/api/search?q=${word}`, { token: carol.token })).body.data.map((m: Message) => m.id)).toEqual([first.id]);
    // Query syntax characters are just text, never a database error.
    expect((await t.call("GET", `/api/search?q=${encodeURIComponent("!(&|:*'\"")}`, { token: bob.token })).status).toBe(200);
  });

  test("search: q must be 1..200 characters and not blank", async () => {
    for (const query of ["", "q=", "q=%20%20", `q=${"a".repeat(201)}`]) {
      const res = await t.call("GET", `/api/search?${query}`, { token: bob.token });
      expect(res.status).toBe(400);
      expect(fields(res.body)).toEqual(["q"]);
    }
  });

  test("every message route needs a session", async () => {
    const message = await post(t, bob, open, "auth");
    for (const [method, path] of [
      ["GET", `/api/rooms/${open.id}/messages`],
      ["POST", `/api/rooms/${open.id}/messages`],
      ["PATCH", `/api/messages/${message.id}`],
      ["DELETE", `/api/messages/${message.id}`],
      ["POST", `/api/messages/${message.id}/reactions`],
      ["GET", "/api/search?q=x"],
    ]) {
      expect((await t.call(method!, path!, { body: method === "GET" ? undefined : {} })).status).toBe(401);
    }
  });
});

describe("send rate limit", () => {
  test("sends per user are limited (scaled by RATE_LIMIT_MULTIPLIER) with 429 and Retry-After", async () => {
    const t = await createTestApp("postgres", { RATE_LIMIT_MULTIPLIER: "0.1" });
    try {
      const user = await registerUser(t);
      const room = await createRoom(t, user);
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        const res = await t.call("POST", `/api/rooms/${room.id}/messages`, { token: user.token, body: { content: "x", clientMsgId: `r${i}` } });
        statuses.push(res.status);
        if (res.status === 429) {
          expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
          expect(res.body.error.code).toBe("rate_limited");
        }
      }
      // 30 per 10 s x 0.1 = 3.
      expect(statuses).toEqual([201, 201, 201, 429]);
    } finally {
      await t.close();
    }
  });
});

describe("reaction cap", () => {
  test("a new emoji past MAX_REACTIONS_PER_MESSAGE is 409 too_many_reactions; existing ones still toggle", async () => {
    const t = await createTestApp("postgres", { MAX_REACTIONS_PER_MESSAGE: "3" });
    try {
      const [alice, bob] = [await registerUser(t), await registerUser(t)];
      const room = await createRoom(t, alice);
      expect((await t.call("POST", `/api/rooms/${room.id}/join`, { token: bob.token })).status).toBe(200);
      const sent = await t.call("POST", `/api/rooms/${room.id}/messages`, { token: alice.token, body: { content: "react", clientMsgId: "c" } });
      const react = (who: { token: string }, emoji: string) =>
        t.call("POST", `/api/messages/${sent.body.id}/reactions`, { token: who.token, body: { emoji } });
      for (const emoji of ["a", "b", "c"]) expect((await react(alice, emoji)).status).toBe(200);
      const over = await react(alice, "d");
      expect(over.status).toBe(409);
      expect(over.body.error.code).toBe("too_many_reactions");
      expect((await react(bob, "d")).status).toBe(409);
      // One more user on an emoji already there is fine, and so is taking one away.
      const same = await react(bob, "a");
      expect(same.status).toBe(200);
      expect(same.body.reactions.find((r: { emoji: string }) => r.emoji === "a").count).toBe(2);
      expect((await react(alice, "c")).status).toBe(200);
      const after = await react(bob, "d");
      expect(after.status).toBe(200);
      expect(after.body.reactions.map((r: { emoji: string }) => r.emoji).sort()).toEqual(["a", "b", "d"]);
    } finally {
      await t.close();
    }
  });
});

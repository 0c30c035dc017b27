import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { DomainEvent } from "../events.ts";
import { Room } from "../protocol.ts";
import { createTestApp, registerUser, type TestApp } from "../../test/support/test-app.ts";

type User = Awaited<ReturnType<typeof registerUser>>;

const unique = () => Math.random().toString(36).slice(2, 10);

describe("rooms over HTTP", () => {
  let t: TestApp;
  let owner: User;
  let other: User;
  let outsider: User;
  const seen: DomainEvent[] = [];

  beforeAll(async () => {
    t = await createTestApp("postgres");
    [owner, other, outsider] = await Promise.all([registerUser(t, "own"), registerUser(t, "oth"), registerUser(t, "out")]);
    t.events.on((e) => seen.push(e));
  }, 30_000);
  afterAll(async () => {
    await t?.close();
  });

  const createRoom = async (user: User, body: Record<string, unknown>) => {
    const res = await t.call("POST", "/api/rooms", { token: user.token, body });
    expect(res.status).toBe(201);
    return res.body as Room;
  };

  test("create: the creator owns it, the slug comes from the name, numbers are numbers", async () => {
    const name = `Team Chat ${unique()}!`;
    const room = await createRoom(owner, { name });
    expect(Room.strict().parse(room)).toEqual(room);
    expect(room.slug).toBe(name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/-$/, ""));
    expect(room).toMatchObject({ name, isPrivate: false, memberCount: 1, lastSeq: 0, unreadCount: 0 });
    const members = await t.call("GET", `/api/rooms/${room.slug}/members`, { token: owner.token });
    expect(members.body.data).toEqual([{ id: owner.id, username: owner.username, role: "owner", joinedAt: expect.any(String) }]);
  });

  test("create: a chosen slug that is taken is 409; a derived one is made unique", async () => {
    const slug = `taken-${unique()}`;
    await createRoom(owner, { name: "First", slug });
    const again = await t.call("POST", "/api/rooms", { token: other.token, body: { name: "Second", slug } });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: "conflict", details: [{ field: "slug", message: expect.any(String) }] });
    const derived = await createRoom(other, { name: slug });
    expect(derived.slug).toStartWith(`${slug}-`);
    expect(derived.slug).not.toBe(slug);
  });

  const badCreates: [string, unknown, string[]][] = [
    ["missing name", {}, ["name"]],
    ["blank name", { name: "   " }, ["name"]],
    ["upper-case slug", { name: "x", slug: "Bad" }, ["slug"]],
    ["slug with a space", { name: "x", slug: "a b" }, ["slug"]],
    ["slug of 65 characters", { name: "x", slug: "a".repeat(65) }, ["slug"]],
    ["uuid-shaped slug", { name: "x", slug: crypto.randomUUID() }, ["slug"]],
    ["wrong types", { name: 5, isPrivate: "yes" }, ["name", "isPrivate"]],
  ];
  for (const [label, body, fields] of badCreates) {
    test(`create: ${label} is 400 naming ${fields.join(", ")}`, async () => {
      const res = await t.call("POST", "/api/rooms", { token: owner.token, body });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe("invalid_request");
      expect(res.body.error.details.map((d: { field: string }) => d.field).sort()).toEqual([...fields].sort());
    });
  }

  test("get by id or slug; a private room of others answers exactly like a missing one", async () => {
    const secret = await createRoom(owner, { name: "Secret", slug: `secret-${unique()}`, isPrivate: true });
    expect((await t.call("GET", `/api/rooms/${secret.id}`, { token: owner.token })).body).toEqual(secret);
    expect((await t.call("GET", `/api/rooms/${secret.slug.toUpperCase()}`, { token: owner.token })).body).toEqual(secret);

    const missingById = await t.call("GET", `/api/rooms/${crypto.randomUUID()}`, { token: outsider.token });
    const missingBySlug = await t.call("GET", `/api/rooms/no-such-room-${unique()}`, { token: outsider.token });
    const hiddenById = await t.call("GET", `/api/rooms/${secret.id}`, { token: outsider.token });
    const hiddenBySlug = await t.call("GET", `/api/rooms/${secret.slug}`, { token: outsider.token });
    for (const res of [missingById, missingBySlug, hiddenById, hiddenBySlug]) {
      expect(res.status).toBe(404);
      expect(res.body).toEqual(missingById.body);
    }
    expect(missingById.body).toEqual({ error: { code: "not_found", message: "room not found" } });
    // Not a uuid: looked up as a slug, never a database error.
    expect((await t.call("GET", "/api/rooms/not-a-uuid'--", { token: outsider.token })).status).toBe(404);
  });

  test("a public room shows no unreadCount to a non-member", async () => {
    const room = await createRoom(owner, { name: "Open" });
    const res = await t.call("GET", `/api/rooms/${room.id}`, { token: outsider.token });
    expect(res.status).toBe(200);
    expect(res.body.unreadCount).toBeUndefined();
    expect(res.body.memberCount).toBe(1);
  });

  test("list: public rooms and my private ones, walked page by page with an opaque cursor", async () => {
    const viewer = await registerUser(t, "lst");
    const mine = await createRoom(viewer, { name: "Mine", isPrivate: true });
    const theirs = await createRoom(owner, { name: "Theirs", isPrivate: true });
    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor ? `?limit=2&cursor=${cursor}` : "?limit=2";
      const res = await t.call("GET", `/api/rooms${query}`, { token: viewer.token });
      expect(res.status).toBe(200);
      expect(res.body.data.length).toBeLessThanOrEqual(2);
      for (const room of res.body.data) Room.strict().parse(room);
      ids.push(...res.body.data.map((r: Room) => r.id));
      cursor = res.body.nextCursor;
      if (cursor) expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    } while (cursor);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toContain(mine.id);
    expect(ids).not.toContain(theirs.id);
    const everything = await t.call("GET", "/api/rooms?limit=100", { token: viewer.token });
    expect(everything.body.data.map((r: Room) => r.id)).toEqual(ids);
    expect(everything.body.data.find((r: Room) => r.slug === "general")).toBeDefined();
  });

  test("list: a bad cursor or limit is 400 naming the parameter", async () => {
    for (const [query, field] of [
      ["cursor=garbage", "cursor"],
      [`cursor=${Buffer.from("not-a-uuid").toString("base64url")}`, "cursor"],
      ["cursor=%2F%2F%2F", "cursor"],
      ["limit=0", "limit"],
      ["limit=1000", "limit"],
      ["limit=-1", "limit"],
      ["limit=2.5", "limit"],
      ["limit=abc", "limit"],
    ]) {
      const res = await t.call("GET", `/api/rooms?${query}`, { token: owner.token });
      expect(res.status).toBe(400);
      expect(res.body.error.details[0].field).toBe(field);
    }
  });

  test("memberCount follows joins (racing ones too), leaves and removals", async () => {
    const room = await createRoom(other, { name: "Counted" });
    const joiners = await Promise.all(Array.from({ length: 12 }, (_, i) => registerUser(t, `cnt${i}`)));
    // Each joins twice at once: a repeated join adds nobody.
    await Promise.all(joiners.flatMap((u) => [1, 2].map(() => t.call("POST", `/api/rooms/${room.id}/join`, { token: u.token }))));
    const count = async () => (await t.call("GET", `/api/rooms/${room.id}`, { token: other.token })).body.memberCount;
    expect(await count()).toBe(13);
    expect((await t.call("POST", `/api/rooms/${room.id}/leave`, { token: joiners[0]!.token })).status).toBe(204);
    expect((await t.call("POST", `/api/rooms/${room.id}/leave`, { token: joiners[0]!.token })).status).toBe(204);
    expect((await t.call("DELETE", `/api/rooms/${room.id}/members/${joiners[1]!.id}`, { token: other.token })).status).toBe(204);
    expect(await count()).toBe(11);
    const listed = (await t.call("GET", "/api/rooms?limit=100", { token: outsider.token })).body.data.find((r: Room) => r.id === room.id);
    expect(listed?.memberCount).toBe(11);
  }, 30_000);

  test("join a public room once (one event), leave it (one event); private rooms stay closed", async () => {
    const room = await createRoom(owner, { name: "Joinable" });
    seen.length = 0;
    const joined = await t.call("POST", `/api/rooms/${room.slug}/join`, { token: other.token });
    expect(joined.status).toBe(200);
    expect(joined.body).toMatchObject({ id: room.id, memberCount: 2, unreadCount: 0 });
    expect((await t.call("POST", `/api/rooms/${room.id}/join`, { token: other.token })).body.memberCount).toBe(2);
    expect(seen).toEqual([{ type: "room.member_joined", roomId: room.id, userId: other.id }]);

    expect((await t.call("POST", `/api/rooms/${room.id}/leave`, { token: other.token })).status).toBe(204);
    expect((await t.call("POST", `/api/rooms/${room.id}/leave`, { token: other.token })).status).toBe(204);
    expect(seen.slice(1)).toEqual([{ type: "room.member_left", roomId: room.id, userId: other.id }]);

    const secret = await createRoom(owner, { name: "Closed", isPrivate: true });
    const denied = await t.call("POST", `/api/rooms/${secret.id}/join`, { token: other.token });
    expect(denied.status).toBe(404);
    expect(denied.body).toEqual({ error: { code: "not_found", message: "room not found" } });
    expect((await t.call("POST", `/api/rooms/${secret.id}/join`, { token: owner.token })).status).toBe(200);
    expect((await t.call("POST", `/api/rooms/${secret.id}/leave`, { token: other.token })).status).toBe(404);
  });

  test("members: owners invite to private rooms; members cannot invite or remove others; anyone may leave", async () => {
    const secret = await createRoom(owner, { name: "Invite only", isPrivate: true });
    const path = `/api/rooms/${secret.id}/members`;
    expect((await t.call("GET", path, { token: other.token })).status).toBe(404);
    expect((await t.call("POST", path, { token: other.token, body: { userId: other.id } })).status).toBe(404);

    const invited = await t.call("POST", path, { token: owner.token, body: { userId: other.id } });
    expect(invited.status).toBe(201);
    expect(invited.body).toMatchObject({ id: other.id, username: other.username, role: "member" });
    expect((await t.call("POST", path, { token: owner.token, body: { userId: other.id } })).status).toBe(200);
    expect((await t.call("GET", `/api/rooms/${secret.id}`, { token: other.token })).status).toBe(200);

    const byMember = await t.call("POST", path, { token: other.token, body: { userId: outsider.id } });
    expect(byMember.status).toBe(403);
    expect(byMember.body.error.code).toBe("forbidden");
    expect((await t.call("DELETE", `${path}/${owner.id}`, { token: other.token })).status).toBe(403);
    expect((await t.call("POST", path, { token: owner.token, body: { userId: crypto.randomUUID() } })).status).toBe(404);
    expect((await t.call("POST", path, { token: owner.token, body: { userId: "nope" } })).status).toBe(404);
    expect((await t.call("POST", path, { token: owner.token, body: {} })).body.error.details[0].field).toBe("userId");
    expect((await t.call("DELETE", `${path}/not-a-uuid`, { token: owner.token })).status).toBe(404);
    expect((await t.call("DELETE", `${path}/${outsider.id}`, { token: owner.token })).status).toBe(404);

    const list = await t.call("GET", path, { token: other.token });
    expect(list.body.data.map((m: { id: string }) => m.id).sort()).toEqual([owner.id, other.id].sort());

    // Yourself, or the owner removing someone: both fine.
    expect((await t.call("DELETE", `${path}/${other.id}`, { token: other.token })).status).toBe(204);
    expect((await t.call("GET", path, { token: other.token })).status).toBe(404);
    await t.call("POST", path, { token: owner.token, body: { userId: other.id } });
    expect((await t.call("DELETE", `${path}/${other.id}`, { token: owner.token })).status).toBe(204);
    expect((await t.call("GET", `/api/rooms/${secret.id}`, { token: other.token })).status).toBe(404);
  });

  test("members: pages with a cursor", async () => {
    const room = await createRoom(owner, { name: "Crowd" });
    await t.call("POST", `/api/rooms/${room.id}/join`, { token: other.token });
    await t.call("POST", `/api/rooms/${room.id}/join`, { token: outsider.token });
    const first = await t.call("GET", `/api/rooms/${room.id}/members?limit=2`, { token: owner.token });
    expect(first.body.data).toHaveLength(2);
    const second = await t.call("GET", `/api/rooms/${room.id}/members?limit=2&cursor=${first.body.nextCursor}`, { token: owner.token });
    expect(second.body.data).toHaveLength(1);
    expect(second.body.nextCursor).toBeNull();
    expect([...first.body.data, ...second.body.data].map((m: { id: string }) => m.id).sort()).toEqual([owner.id, other.id, outsider.id].sort());
  });

  test("read markers: never past lastSeq, never backwards, and they drive unreadCount", async () => {
    const room = await createRoom(owner, { name: "Unread" });
    await t.call("POST", `/api/rooms/${room.id}/join`, { token: other.token });
    for (let i = 0; i < 3; i++) {
      await t.call("POST", `/api/rooms/${room.id}/messages`, { token: owner.token, body: { content: `m${i}`, clientMsgId: `u${i}` } });
    }
    const before = await t.call("GET", `/api/rooms/${room.id}`, { token: other.token });
    expect(before.body).toMatchObject({ lastSeq: 3, unreadCount: 3 });
    expect((await t.call("GET", `/api/rooms/${room.id}`, { token: owner.token })).body.unreadCount).toBe(0);

    const tooFar = await t.call("POST", `/api/rooms/${room.id}/read`, { token: other.token, body: { seq: 4 } });
    expect(tooFar.status).toBe(400);
    expect(tooFar.body.error.details[0].field).toBe("seq");
    for (const body of [{ seq: -1 }, { seq: 1.5 }, { seq: "2" }, {}]) {
      const res = await t.call("POST", `/api/rooms/${room.id}/read`, { token: other.token, body });
      expect(res.status).toBe(400);
      expect(res.body.error.details[0].field).toBe("seq");
    }
    expect((await t.call("POST", `/api/rooms/${room.id}/read`, { token: other.token, body: { seq: 2 } })).status).toBe(204);
    expect((await t.call("POST", `/api/rooms/${room.id}/read`, { token: other.token, body: { seq: 1 } })).status).toBe(204);
    expect((await t.call("GET", `/api/rooms/${room.id}`, { token: other.token })).body.unreadCount).toBe(1);
    expect((await t.call("POST", `/api/rooms/${room.id}/read`, { token: outsider.token, body: { seq: 1 } })).status).toBe(403);
  });

  test("direct rooms: one per pair, created once even when racing, private to the pair", async () => {
    const [a, b] = await Promise.all([registerUser(t, "dma"), registerUser(t, "dmb")]);
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => t.call("POST", "/api/dms", { token: i % 2 ? a.token : b.token, body: { userId: i % 2 ? b.id : a.id } })),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
    const ids = new Set(results.map((r) => r.body.id));
    expect(ids.size).toBe(1);
    const room = results[0]!.body as Room;
    expect(room).toMatchObject({ isPrivate: true, memberCount: 2 });
    expect((await t.call("GET", `/api/rooms/${room.id}`, { token: outsider.token })).status).toBe(404);
    expect((await t.call("POST", "/api/dms", { token: a.token, body: { userId: a.id } })).status).toBe(400);
    expect((await t.call("POST", "/api/dms", { token: a.token, body: { userId: crypto.randomUUID() } })).status).toBe(404);
    expect((await t.call("POST", "/api/dms", { token: a.token, body: { userId: "x" } })).status).toBe(404);
  });

  test("direct rooms' slugs are reserved: nobody can take a pair's dm- slug and break their DMs", async () => {
    const [a, b] = await Promise.all([registerUser(t, "dmx"), registerUser(t, "dmy")]);
    const pair = [a.id, b.id].sort().join(":");
    const slug = `dm-${new Bun.CryptoHasher("sha256").update(pair).digest("hex").slice(0, 32)}`;
    const squat = await t.call("POST", "/api/rooms", { token: outsider.token, body: { name: "squat", slug } });
    expect(squat.status).toBe(400);
    expect(squat.body.error.details[0].field).toBe("slug");
    expect((await t.call("POST", "/api/rooms", { token: outsider.token, body: { name: "x", slug: "dm" } })).status).toBe(400);
    // A name that derives a dm- slug gets another one.
    const derived = await createRoom(outsider, { name: `DM ${slug.slice(3)}` });
    expect(derived.slug).toBe(`room-${slug}`);
    for (const [from, to] of [[a, b], [b, a]] as const) {
      const dm = await t.call("POST", "/api/dms", { token: from.token, body: { userId: to.id } });
      expect([200, 201]).toContain(dm.status);
      expect(dm.body.slug).toBe(slug);
    }
  });

  test("private rooms' slugs cannot be confirmed: creating a public room with one succeeds, and each caller sees their own", async () => {
    const slug = `hidden-${unique()}`;
    const secret = await createRoom(owner, { name: "secret", slug, isPrivate: true });
    // Another user learns nothing: the slug is free for a public room of theirs.
    const pub = await createRoom(other, { name: "public one", slug });
    expect(pub.id).not.toBe(secret.id);
    // Whoever may see the private room gets it first; everyone else the public one.
    expect((await t.call("GET", `/api/rooms/${slug}`, { token: owner.token })).body.id).toBe(secret.id);
    expect((await t.call("GET", `/api/rooms/${slug}`, { token: other.token })).body.id).toBe(pub.id);
    expect((await t.call("GET", `/api/rooms/${slug}`, { token: outsider.token })).body.id).toBe(pub.id);
    expect((await t.call("GET", `/api/rooms/${slug}/messages`, { token: owner.token })).status).toBe(200);
    // 409 only for a slug held by a room the caller can see.
    expect((await t.call("POST", "/api/rooms", { token: owner.token, body: { name: "again", slug, isPrivate: true } })).status).toBe(409);
    expect((await t.call("POST", "/api/rooms", { token: outsider.token, body: { name: "again", slug } })).status).toBe(409);
    expect((await t.call("POST", "/api/rooms", { token: outsider.token, body: { name: "again", slug, isPrivate: true } })).status).toBe(409);
  });

  test("a slug naming several private rooms of mine resolves to the oldest", async () => {
    const slug = `twin-${unique()}`;
    const mine = await createRoom(owner, { name: "mine", slug, isPrivate: true });
    const theirs = await createRoom(other, { name: "theirs", slug, isPrivate: true });
    expect((await t.call("POST", `/api/rooms/${theirs.id}/members`, { token: other.token, body: { userId: owner.id } })).status).toBe(201);
    expect((await t.call("GET", `/api/rooms/${slug}`, { token: owner.token })).body.id).toBe(mine.id);
    expect((await t.call("GET", `/api/rooms/${slug}`, { token: other.token })).body.id).toBe(theirs.id);
    expect((await t.call("GET", `/api/rooms/${slug}`, { token: outsider.token })).status).toBe(404);
  });

  test("every room route needs a session", async () => {
    for (const [method, path] of [
      ["GET", "/api/rooms"],
      ["POST", "/api/rooms"],
      ["GET", "/api/rooms/general"],
      ["POST", "/api/rooms/general/join"],
      ["GET", "/api/rooms/general/members"],
      ["POST", "/api/dms"],
    ]) {
      expect((await t.call(method!, path!, { body: {} })).status).toBe(401);
    }
  });

  test("the openapi document lists the room paths in full", async () => {
    const res = await t.call("GET", "/api/openapi.json");
    expect(Object.keys(res.body.paths)).toEqual(
      expect.arrayContaining(["/api/rooms", "/api/rooms/{room}", "/api/rooms/{room}/members/{userId}", "/api/dms", "/api/rooms/{room}/messages", "/api/search"]),
    );
  });
});

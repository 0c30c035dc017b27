// GET /api/users: people lookup for invites and direct messages.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { api, signUp, startInstances } from "../../test/support/test-cluster.ts";

let cluster: Awaited<ReturnType<typeof startInstances>>;
let A: string;

beforeAll(async () => {
  cluster = await startInstances(1, { RATE_LIMIT_MULTIPLIER: "100" });
  A = cluster.instances[0]!.url;
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

describe("GET /api/users", () => {
  test("username prefix lookup, case-insensitive, limited; bad parameters are 400", async () => {
    const tag = `zq${Date.now().toString(36)}`;
    const me = await signUp(A, tag);
    await signUp(A, tag);
    await signUp(A, tag);
    const found = await api(A, "GET", `/api/users?q=${tag.toUpperCase()}&limit=2`, me.token);
    expect(found.status).toBe(200);
    expect(found.body.data).toHaveLength(2);
    for (const u of found.body.data) expect(Object.keys(u).sort()).toEqual(["id", "username"]);
    expect((await api(A, "GET", `/api/users?q=${tag}`, me.token)).body.data).toHaveLength(3);
    expect((await api(A, "GET", `/api/users?q=%25`, me.token)).body.data).toEqual([]); // % is literal
    for (const bad of ["", "?q=", `?q=${"a".repeat(51)}`, "?q=a&limit=0", "?q=a&limit=51", "?q=a&limit=x", "?q=a%00b"]) {
      const res = await api(A, "GET", `/api/users${bad}`, me.token);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBeString();
    }
    expect((await fetch(`${A}/api/users?q=a`)).status).toBe(401);
  });
});

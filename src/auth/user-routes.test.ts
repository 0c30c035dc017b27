// GET /api/users: people lookup for invites and direct messages.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { api, signUp, startInstances } from "../../test/support/test-cluster.ts";

let cluster: Awaited<ReturnType<typeof startInstances>>;
let A: string;
let B: string;

beforeAll(async () => {
  cluster = await startInstances(2, { RATE_LIMIT_MULTIPLIER: "100" });
  A = cluster.instances[0]!.url;
  B = cluster.instances[1]!.url;
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

describe("GET /api/users through the response cache", () => {
  const get = (base: string, path: string, token: string, etag?: string) =>
    fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}`, ...(etag ? { "if-none-match": etag } : {}) } });

  test("MISS, then HIT and 304 on the other instance; a sign-up through either shows at once", async () => {
    const tag = `zc${Date.now().toString(36)}`;
    const me = await signUp(A, tag);
    const path = `/api/users?q=${tag}`;
    const first = await get(A, path, me.token);
    expect(first.headers.get("x-cache")).toBe("MISS");
    expect(first.headers.get("cache-control")).toBe("private, no-cache");
    const etag = first.headers.get("etag")!;
    expect(etag).toMatch(/^"[0-9a-z]+"$/);
    const body = await first.json();
    expect(body.data).toHaveLength(1);
    // Case does not make another entry: the lookup is case-insensitive.
    const other = await get(B, `/api/users?q=${tag.toUpperCase()}`, me.token);
    expect(other.headers.get("x-cache")).toBe("HIT");
    expect(await other.json()).toEqual(body);
    expect((await get(B, path, me.token, etag)).status).toBe(304);

    const joined = await signUp(B, tag);
    const fresh = await get(A, path, me.token, etag);
    expect(fresh.status).toBe(200);
    expect(fresh.headers.get("x-cache")).toBe("MISS");
    expect((await fresh.json()).data.map((u: { id: string }) => u.id)).toContain(joined.id);
  });
});

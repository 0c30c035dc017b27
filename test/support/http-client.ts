// JSON over real HTTP to a running instance or Caddy, for the system tests.
import { expect } from "bun:test";
import { newAccount } from "./test-app.ts";

export async function call(
  base: string,
  method: string,
  path: string,
  opts: { body?: unknown; token?: string; headers?: Record<string, string> } = {},
) {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

/** A new account, registered through `base`: its credentials, id and token. */
export async function register(base: string, prefix = "http") {
  const account = newAccount(prefix);
  const res = await call(base, "POST", "/api/auth/register", { body: account });
  expect(res.status).toBe(201);
  return { ...account, id: res.body.user.id as string, token: res.body.token as string };
}

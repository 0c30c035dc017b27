// Several real chat instances in this process (each its own Bun.serve, stores and
// hub) sharing one fresh Postgres database and one Redis key prefix.
import { loadEnv } from "../../src/env.ts";
import { createLogger } from "../../src/log.ts";
import { startChatServer, type ChatServer, type ChatServerOptions } from "../../src/server.ts";
import { openStores, type Stores } from "../../src/stores.ts";
import { createDatabase, serverEnv } from "./test-app.ts";

export interface TestInstance {
  id: string;
  url: string;
  chat: ChatServer;
  stores: Stores;
  stop(): Promise<void>;
}

export async function startInstances(count: number, overrides: Record<string, string> = {}, hub?: ChatServerOptions["hub"]) {
  const { REDIS_URL } = serverEnv();
  const databaseUrl = await createDatabase();
  const prefix = `c:${Math.random().toString(36).slice(2, 10)}:`;
  const instances: TestInstance[] = [];
  for (let i = 0; i < count; i++) {
    const id = `inst-${i}`;
    const env = loadEnv({
      DATABASE_URL: databaseUrl,
      REDIS_URL: REDIS_URL!,
      PORT: "0",
      HOST: "127.0.0.1",
      LOG_LEVEL: "silent",
      INSTANCE_ID: id,
      ...overrides,
    });
    const stores = await openStores(env, { redisPrefix: prefix, instanceId: id });
    await stores.database.migrate();
    const chat = startChatServer({ env, instanceId: id, stores, log: createLogger(env.LOG_LEVEL, { instance: id }), hub });
    await chat.ready();
    let stopped = false;
    instances.push({
      id,
      url: `http://127.0.0.1:${chat.server.port}`,
      chat,
      stores,
      async stop() {
        if (stopped) return;
        stopped = true;
        await chat.drain({ announceMs: 0 });
        await stores.close();
      },
    });
  }
  return {
    instances,
    databaseUrl,
    async stop() {
      await Promise.allSettled(instances.map((i) => i.stop()));
    },
  };
}

/** Registers a user over HTTP against an instance. */
export async function signUp(baseUrl: string, tag = "rt") {
  const n = `${tag}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`;
  const body = { email: `${n}@example.com`, username: n.slice(0, 32), password: "correct horse battery" };
  const res = await fetch(`${baseUrl}/api/auth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (res.status !== 201) throw new Error(`register: ${res.status} ${await res.text()}`);
  const json = (await res.json()) as { user: { id: string; username: string }; token: string };
  return { ...json.user, token: json.token, email: body.email };
}

export async function api(baseUrl: string, method: string, path: string, token: string, body?: unknown) {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

// A throwaway Redis of its own (the suite's shared one must not be frozen): commands answer
// within the timeout whether Redis is frozen or gone, and a frozen Redis gets no backlog that
// lands when it wakes (the rate-limit counters that tripped after a 10 s stall).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Redis from "ioredis";
import { startRedis, type RestartableService } from "../../scripts/services.ts";
import { isRedisUnavailable, openRedis, untilReady, type RedisConnections } from "./connections.ts";

const TIMEOUT_MS = 100;
let dir: string;
let server: RestartableService;
let redis: RedisConnections;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "chat-redis-"));
  server = await startRedis(dir);
  redis = openRedis(server.url, { commandTimeoutMs: TIMEOUT_MS });
  await untilReady(redis.commands, 3_000);
  await untilReady(redis.subscriber, 3_000);
});

afterAll(async () => {
  await server.thaw().catch(() => {});
  await redis.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs `command` and returns how long it took to settle and whether it succeeded. */
async function timed(command: () => Promise<unknown>) {
  const started = performance.now();
  const ok = await command().then(
    () => true,
    () => false,
  );
  return { ok, ms: performance.now() - started };
}

const waitFor = async (check: () => boolean, timeoutMs = 5_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await Bun.sleep(50);
  }
};

describe("Redis connections", () => {
  test("frozen: every command fails within the timeout, and only about a second of them lands when Redis wakes", async () => {
    const key = `backlog:${Date.now()}`;
    await redis.commands.del(key);
    await server.freeze();
    expect(isRedisUnavailable(await redis.commands.get(key).catch((err) => err))).toBe(true);
    const results: { ok: boolean; ms: number }[] = [];
    // 3 s of a client incrementing a counter every 30 ms (100 commands), as rate limiting does.
    for (let i = 0; i < 100; i++) {
      results.push(await timed(() => redis.commands.incr(key)));
      await Bun.sleep(30);
    }
    await waitFor(() => redis.states().commands !== "up");
    expect(redis.states().commands).not.toBe("up");
    await server.thaw();
    expect(results.every((r) => !r.ok)).toBe(true);
    expect(Math.max(...results.map((r) => r.ms))).toBeLessThan(TIMEOUT_MS + 150);
    await untilReady(redis.commands, 5_000);
    await waitFor(() => redis.commands.status === "ready");
    // Before the stalled socket was dropped (1 s without an answer) some were written; none after.
    const landed = Number(await redis.commands.get(key));
    console.log(`[redis] ${landed} of 100 commands sent to a frozen Redis ran when it woke`);
    expect(landed).toBeLessThan(50);
    await waitFor(() => redis.states().commands === "up" && redis.states().subscriber === "up", 5_000);
  }, 20_000);

  test("down: commands fail at once, states say down, and both connections come back", async () => {
    await server.stop();
    await waitFor(() => redis.commands.status !== "ready");
    const result = await timed(() => redis.commands.get("anything"));
    expect(result.ok).toBe(false);
    expect(result.ms).toBeLessThan(50);
    expect(redis.states()).toEqual({ commands: "down", subscriber: "down" });
    expect(isRedisUnavailable(await redis.commands.get("anything").catch((err) => err))).toBe(true);
    server = await startRedis(dir, server.port);
    await waitFor(() => redis.states().commands === "up" && redis.states().subscriber === "up", 5_000);
    expect(await redis.commands.set("back", "1")).toBe("OK");
  }, 20_000);

  test("a subscription made while Redis is frozen completes when it wakes", async () => {
    const received: string[] = [];
    redis.subscriber.on("message", (_channel, message) => received.push(message));
    await server.freeze();
    const subscribed = redis.subscriber.subscribe("late-channel");
    await Bun.sleep(300);
    await server.thaw();
    await subscribed;
    const publisher = new Redis(server.url);
    try {
      await publisher.publish("late-channel", "hello");
      await waitFor(() => received.includes("hello"));
    } finally {
      publisher.disconnect();
    }
  }, 20_000);
});

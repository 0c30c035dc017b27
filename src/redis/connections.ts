import Redis, { type RedisOptions } from "ioredis";

/** up: answers; stalled: connected but silent past the timeout (e.g. SIGSTOP); down: not connected. */
export type RedisState = "up" | "stalled" | "down";

export interface RedisStates {
  commands: RedisState;
  subscriber: RedisState;
}

export interface RedisConnections {
  /** Cache, rate limits, presence and publishes. */
  commands: Redis;
  /** Pub/Sub only. */
  subscriber: Redis;
  /** What the last probe (once a second) found, or "down" while a connection is not ready. */
  states(): RedisStates;
  close(): Promise<void>;
}

const PROBE_EVERY_MS = 1_000;
/** Reconnect quickly after an outage: the delay is the longest a recovered Redis waits for us. */
const retryStrategy = (attempt: number) => Math.min(attempt * 100, 1_000);

/**
 * The instance's two Redis connections, built so a stalled or absent Redis never holds a request
 * longer than `commandTimeoutMs` and leaves no backlog that turns into errors later:
 * - every command has `commandTimeout`;
 * - no offline queue (zero length): while the connection is not ready, a command fails at once;
 * - a connection that receives nothing for `stallMs` while commands wait is dropped and redialled,
 *   so a frozen Redis holds at most `stallMs` of commands in its socket (replayed when it wakes:
 *   harmless, being publishes, presence writes and that short window's rate-limit hits);
 * - what was in flight when a connection dropped is not re-sent (`autoResendUnfulfilledCommands`).
 * The subscriber keeps ioredis's queue: a SUBSCRIBE waits for Redis and is redone after a reconnect.
 */
export function openRedis(url: string, opts: { commandTimeoutMs: number }): RedisConnections {
  const stallMs = Math.max(1_000, opts.commandTimeoutMs * 4);
  const common: RedisOptions = { connectTimeout: 2_000, socketTimeout: stallMs, retryStrategy, lazyConnect: false };
  const commands = new Redis(url, {
    ...common,
    commandTimeout: opts.commandTimeoutMs,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    // Commands issued in one tick (a burst of sends: rate-limit hits, bus publishes) go out in one
    // socket write instead of one each: under bench:delivery the writes were the hottest frames.
    // Order on the connection is unchanged.
    enableAutoPipelining: true,
  });
  const subscriber = new Redis(url, { ...common, maxRetriesPerRequest: null });
  // Errors surface through failed commands and states(); ioredis reconnects by itself.
  commands.on("error", () => {});
  subscriber.on("error", () => {});

  const probed: RedisStates = { commands: "down", subscriber: "down" };
  const probe = async (name: keyof RedisStates, conn: Redis) => {
    if (conn.status !== "ready") return void (probed[name] = "down");
    const answered = await Promise.race([
      conn.ping().then(
        () => true,
        () => false,
      ),
      Bun.sleep(opts.commandTimeoutMs).then(() => false),
    ]);
    probed[name] = answered ? "up" : conn.status === "ready" ? "stalled" : "down";
  };
  commands.on("ready", () => (probed.commands = "up"));
  subscriber.on("ready", () => (probed.subscriber = "up"));
  const timer = setInterval(() => {
    void probe("commands", commands);
    void probe("subscriber", subscriber);
  }, PROBE_EVERY_MS);
  timer.unref?.();

  return {
    commands,
    subscriber,
    states: () => ({
      commands: commands.status === "ready" ? probed.commands : "down",
      subscriber: subscriber.status === "ready" ? probed.subscriber : "down",
    }),
    async close() {
      clearInterval(timer);
      subscriber.disconnect();
      await commands.quit().catch(() => commands.disconnect());
    },
  };
}

/** Resolves once the command connection is ready, or after `timeoutMs` (a missing Redis does not stop start-up). */
export async function untilReady(redis: Redis, timeoutMs: number): Promise<void> {
  if (redis.status === "ready") return;
  await Promise.race([new Promise((resolve) => redis.once("ready", resolve)), Bun.sleep(timeoutMs)]);
}

// What ioredis throws when Redis is away or silent (timeout, no offline queue, closed, retries spent).
const UNAVAILABLE = /^(Command timed out|Stream isn't writeable|Connection is closed|Reached the max retries per request limit)/;

/** A Redis error that means "try again soon" (the caller answers 503), not a bug. */
export function isRedisUnavailable(err: unknown): boolean {
  return err instanceof Error && UNAVAILABLE.test(err.message);
}

// Local Postgres and Redis for development, data kept under .data/services/.
//   bun run services [--pg-port 5432] [--redis-port 6379] [--dir .data/services]
// Ports: the given ones, else 5432 / 6379 when free, else any free port. Prints the
// DATABASE_URL and REDIS_URL to use; Ctrl-C (or SIGTERM) stops both cleanly.
import { chmodSync, mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { freePort, startPostgres, startRedis, type Service } from "./services.ts";

const ROOT = resolve(import.meta.dir, "..");

function portFree(port: number): boolean {
  try {
    Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } }).stop(true);
    return true;
  } catch {
    return false;
  }
}

function choosePort(given: string | undefined, preferred: number, name: string): number {
  if (given !== undefined) {
    const port = Number(given);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`--${name} must be 1-65535, got ${given}`);
    if (!portFree(port)) throw new Error(`--${name} ${port} is in use`);
    return port;
  }
  return portFree(preferred) ? preferred : freePort();
}

async function main() {
  const { values } = parseArgs({
    options: {
      "pg-port": { type: "string" },
      "redis-port": { type: "string" },
      dir: { type: "string", default: ".data/services" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log("bun run services [--pg-port 5432] [--redis-port 6379] [--dir .data/services]");
    return;
  }
  const dir = resolve(ROOT, values.dir!);
  mkdirSync(`${dir}/redis`, { recursive: true });
  mkdirSync(`${dir}/pg`, { recursive: true });
  // Postgres runs as its own user when we are root: it must be able to reach its directory.
  chmodSync(dir, 0o711);
  const pgPort = choosePort(values["pg-port"], 5432, "pg-port");
  const redisPort = choosePort(values["redis-port"], 6379, "redis-port");

  const started: Service[] = [];
  const stop = async () => {
    await Promise.allSettled(started.map((s) => s.stop()));
  };
  let stopping = false;
  const onSignal = (code: number) => () => {
    if (stopping) return;
    stopping = true;
    console.error("[services] stopping");
    void stop().then(() => {
      console.error("[services] stopped");
      process.exit(code);
    });
  };
  process.on("SIGINT", onSignal(0));
  process.on("SIGTERM", onSignal(0));

  try {
    const [pg, redis] = await Promise.all([
      startPostgres(`${dir}/pg`, { port: pgPort, durable: true }).then((s) => (started.push(s), s)),
      startRedis(`${dir}/redis`, redisPort, { persist: true }).then((s) => (started.push(s), s)),
    ]);
    console.error(`[services] data under ${dir}`);
    console.log(`DATABASE_URL=${pg.url}`);
    console.log(`REDIS_URL=${redis.url}`);
    console.error("[services] running (Ctrl-C to stop). For example:");
    console.error(`  DATABASE_URL=${pg.url} REDIS_URL=${redis.url} bun run cluster`);
    // Either server dying on its own ends this command, with the other stopped too.
    await Promise.race([pg.process.exited, redis.process.exited]);
    if (!stopping) {
      console.error("[services] a server exited on its own; stopping the other");
      await stop();
      process.exit(1);
    }
  } catch (err) {
    console.error(`[services] ${(err as Error).message}`);
    await stop();
    process.exit(1);
  }
}

await main();

// Runs the whole suite against throwaway PostgreSQL and Redis servers and ends
// with the line CI reads: "N passed, N failed".
//   bun run test                 every test
//   bun run test src/auth        only files matching a filter (passed to bun test)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { childEnv, loadEnv } from "../src/env.ts";
import { readLines } from "./lib/process.ts";
import { startPostgres, startRedis, type Service } from "./services.ts";

const dir = mkdtempSync(join(tmpdir(), "chat-test-"));
const services: Service[] = [];
let exitCode = 1;
let passed = 0;
let failed = 0;

const cleanup = async () => {
  await Promise.allSettled(services.map((s) => s.stop()));
  rmSync(dir, { recursive: true, force: true });
};
process.on("SIGINT", () => void cleanup().then(() => process.exit(130)));
process.on("SIGTERM", () => void cleanup().then(() => process.exit(143)));

try {
  // The end-to-end tests and every server process serve the built PWA (dist/web).
  const build = Bun.spawnSync(["bun", "scripts/build-web.ts"], { stdout: "ignore", stderr: "inherit" });
  if (build.exitCode !== 0) throw new Error("web build failed");
  const [pg, redis] = await Promise.all([startPostgres(dir), startRedis(dir)]);
  services.push(pg, redis);
  console.log(`[test] postgres ${pg.url}  redis ${redis.url}`);

  const proc = Bun.spawn(["bun", "test", ...process.argv.slice(2)], {
    env: childEnv({
      DATABASE_URL: pg.url,
      REDIS_URL: redis.url,
      NODE_ENV: "test",
      LOG_LEVEL: loadEnv().LOG_LEVEL === "info" ? "silent" : loadEnv().LOG_LEVEL,
    }),
    stdout: "pipe",
    stderr: "pipe",
  });

  // bun test prints its summary (" N pass", " N fail") on stderr; echo everything and count.
  const pump = (stream: ReadableStream<Uint8Array>, sink: NodeJS.WriteStream) =>
    readLines(stream, (line) => {
      sink.write(`${line}\n`);
      count(line);
    });
  const count = (line: string) => {
    const pass = /^\s*(\d+) pass\s*$/.exec(line);
    const fail = /^\s*(\d+) fail\s*$/.exec(line);
    if (pass) passed += Number(pass[1]);
    if (fail) failed += Number(fail[1]);
  };
  await Promise.all([pump(proc.stdout, process.stdout), pump(proc.stderr, process.stderr)]);
  exitCode = await proc.exited;
  // A crash before the summary must not read as green.
  if (exitCode !== 0 && failed === 0) failed = 1;
  if (passed === 0 && failed === 0) {
    console.error("[test] no test ran");
    exitCode = 1;
  }
} catch (err) {
  console.error(`[test] ${(err as Error).stack ?? err}`);
  failed = Math.max(failed, 1);
} finally {
  await cleanup();
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(exitCode);

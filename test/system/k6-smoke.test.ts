// The k6 smoke scenario (load/smoke.js) against two real instances behind real Caddy:
// about 50 seeded users in rooms of 10 for 20 s, each sending every 2 s, with the HTTP mix.
// k6's own thresholds enforce correctness (no connection error, every message to every
// member, every send acknowledged) and a generous latency ceiling; this test also reads the
// JSON that handleSummary wrote, so a scenario that silently measured nothing fails too.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startCluster, type Cluster } from "../../scripts/cluster.ts";
import { childEnv } from "../../src/env.ts";
import { createDatabase, serverEnv } from "../support/test-app.ts";

const ROOT = resolve(import.meta.dir, "../..");
const USERS = 50;
let cluster: Cluster;
let k6 = "";
const dir = mkdtempSync(join(tmpdir(), "k6-smoke-"));

beforeAll(async () => {
  const install = Bun.spawnSync(["bash", "scripts/ensure-k6.sh"], { cwd: ROOT, stdout: "pipe", stderr: "inherit" });
  if (install.exitCode !== 0) throw new Error("scripts/ensure-k6.sh failed");
  k6 = install.stdout.toString().trim();
  const databaseUrl = await createDatabase();
  const seed = Bun.spawnSync(["bun", "scripts/seed.ts", "--users", String(USERS), "--rooms", "0"], {
    cwd: ROOT,
    env: childEnv({ DATABASE_URL: databaseUrl, LOG_LEVEL: "warn" }),
    stdout: "pipe",
    stderr: "pipe",
  });
  if (seed.exitCode !== 0) throw new Error(`seed failed: ${seed.stderr.toString()}`);
  cluster = await startCluster({
    instances: 2,
    databaseUrl,
    redisUrl: serverEnv().REDIS_URL,
    env: { RATE_LIMIT_MULTIPLIER: "100", LOG_LEVEL: "warn" },
  });
}, 600_000);

afterAll(async () => {
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** load/smoke.js against the cluster; the summary handleSummary wrote. */
async function runSmoke(extraEnv: Record<string, string>, name: string) {
  const summaryFile = join(dir, `${name}.json`);
  const proc = Bun.spawn([k6, "run", "--no-usage-report", "-q", "load/smoke.js"], {
    cwd: ROOT,
    env: childEnv({
      TARGET: "bun",
      BASE_URL: cluster.url,
      USERS: String(USERS),
      ROOM_SIZE: "10",
      SEND_EVERY_S: "2",
      HTTP_EVERY_S: "5",
      SUMMARY_FILE: summaryFile,
      ...extraEnv,
    }),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) console.error(out, err.slice(-4000));
  expect(code).toBe(0);
  return Bun.file(summaryFile).json();
}

function expectComplete(r: any) {
  expect(r.passed).toBe(true);
  // 50 users for 20 s at one message per 2 s: about 500 messages, each to 9 others.
  expect(r.counts.sent).toBeGreaterThan(300);
  expect(r.counts.acked).toBe(r.counts.sent);
  expect(r.counts.deliveriesExpected).toBeGreaterThan(2500);
  expect(r.counts.deliveriesMissing).toBe(0);
  expect(r.counts.duplicated).toBe(0);
  expect(r.counts.outOfOrder).toBe(0);
  expect(r.counts.connectionErrorRate).toBe(0);
  expect(r.windows.every((w: { deliveries: number }) => w.deliveries > 0)).toBe(true);
  expect(r.deliveryLatencyMs.p95).toBeLessThan(1000);
}

let v1BytesPerDelivery = 0;

test(
  "k6 smoke: 50 users on two instances behind Caddy, every message reaches every member",
  async () => {
    const r = await runSmoke({}, "smoke-v1");
    expectComplete(r);
    v1BytesPerDelivery = r.counts.wsBytesReceived / r.counts.deliveriesReceived;
  },
  120_000,
);

test(
  "k6 smoke with PROTOCOL=v2: the chat.v2 arrays, every message to every member, fewer bytes per delivery than v1",
  async () => {
    const r = await runSmoke({ PROTOCOL: "v2" }, "smoke-v2");
    expectComplete(r);
    const v2 = r.counts.wsBytesReceived / r.counts.deliveriesReceived;
    expect(v1BytesPerDelivery).toBeGreaterThan(0);
    // A v2 new_message is about a third of v1's (docs/protocol.md "Versions").
    expect(v2).toBeLessThan(v1BytesPerDelivery * 0.6);
  },
  120_000,
);

test("bun run bench rejects an unknown --protocol before starting anything", () => {
  const run = Bun.spawnSync(["bun", "scripts/bench.ts", "--scenario", "smoke", "--protocol", "v3"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  expect(run.exitCode).not.toBe(0);
  expect(run.stderr.toString()).toContain("--protocol must be v1 or v2, got v3");
});

test("bun run bench rejects a --server-env that is not KEY=VALUE before starting anything", () => {
  const run = Bun.spawnSync(["bun", "scripts/bench.ts", "--scenario", "smoke", "--server-env", "db_pool_size=20"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  expect(run.exitCode).not.toBe(0);
  expect(run.stderr.toString()).toContain("--server-env takes KEY=VALUE with an upper-case key, got db_pool_size=20");
});

// Runs load/http-smoke.js with k6 (installed by scripts/ensure-k6.sh into .tools/bin).
//   bun run load:smoke                     one throwaway instance (Postgres + Redis), then k6
//   bun run load:smoke --base-url URL      k6 against a running server or cluster
// Exits with k6's exit code (non-zero when a threshold fails).
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { childEnv } from "../src/env.ts";
import { startCluster, type Cluster } from "./cluster.ts";

const ROOT = resolve(import.meta.dir, "..");
const { values } = parseArgs({ options: { "base-url": { type: "string" } } });

const install = Bun.spawnSync(["bash", "scripts/ensure-k6.sh"], { cwd: ROOT, stdout: "pipe", stderr: "inherit" });
if (install.exitCode !== 0) {
  console.error("[load] k6 is not available (scripts/ensure-k6.sh failed)");
  process.exit(1);
}
const k6 = install.stdout.toString().trim();

let cluster: Cluster | undefined;
let baseUrl = values["base-url"];
if (!baseUrl) {
  console.error("[load] starting one throwaway instance");
  cluster = await startCluster({ instances: 1, caddy: false, env: { RATE_LIMIT_MULTIPLIER: "100", LOG_LEVEL: "warn" } });
  baseUrl = cluster.url;
}
const stop = async () => {
  await cluster?.stop();
};
process.on("SIGINT", () => void stop().then(() => process.exit(130)));
process.on("SIGTERM", () => void stop().then(() => process.exit(143)));

console.error(`[load] k6 run load/http-smoke.js against ${baseUrl}`);
const proc = Bun.spawn([k6, "run", "--no-usage-report", "load/http-smoke.js"], {
  cwd: ROOT,
  env: childEnv({ BASE_URL: baseUrl }),
  stdout: "inherit",
  stderr: "inherit",
});
const code = await proc.exited;
await stop();
process.exit(code);

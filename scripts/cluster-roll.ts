// Rolling restart of the running `bun run cluster`: sends it SIGHUP; it replaces
// its instances one by one (SIGTERM drain, start, wait for /readyz) and logs each step.
import { existsSync, readFileSync } from "node:fs";
import { PID_FILE } from "./cluster.ts";

if (!existsSync(PID_FILE)) {
  console.error(`[cluster:roll] no running cluster (${PID_FILE} not found): start one with bun run cluster`);
  process.exit(1);
}
const pid = Number(readFileSync(PID_FILE, "utf8").trim());
try {
  process.kill(pid, "SIGHUP");
} catch (err) {
  console.error(`[cluster:roll] cluster process ${pid} is gone (${(err as Error).message}); remove ${PID_FILE}`);
  process.exit(1);
}
console.log(`[cluster:roll] rolling restart requested (pid ${pid}); progress is in the cluster's log`);

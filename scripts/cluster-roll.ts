// Rolling restart of the running `bun run cluster`: sends it SIGHUP; it replaces
// its instances one by one (SIGTERM drain, start, wait for /readyz) and logs each step.
//   bun run cluster:roll [--pid-file .data/cluster.pid]
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { PID_FILE as DEFAULT_PID_FILE } from "./cluster.ts";

const { values } = parseArgs({ options: { "pid-file": { type: "string", default: DEFAULT_PID_FILE } } });
const PID_FILE = resolve(values["pid-file"]!);
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

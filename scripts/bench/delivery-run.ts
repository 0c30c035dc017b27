// One run of the lighter load generator (scripts/bench-delivery.ts --json) as a child process,
// for the reports that put it beside k6 (bench.ts --delivery) or step it up (bench-ladder.ts).
import { resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");

export interface DeliveryRun {
  target: "bun" | "peer";
  protocol: "v1" | "v2" | null;
  exitCode: number;
  command: string;
  /** scripts/bench-delivery.ts --json; null when the run failed (see error). */
  result: any;
  error?: string;
}

/** `args` are bench-delivery's own flags; `--json` is added. A run that prints no report throws. */
export async function runDelivery(target: "bun" | "peer", protocol: "v1" | "v2", args: string[], log: (msg: string) => void): Promise<DeliveryRun> {
  const all = ["--target", target, ...(target === "bun" ? ["--protocol", protocol] : []), ...args, "--json"];
  const command = `bun run bench:delivery -- ${all.join(" ")}`;
  log(command);
  const proc = Bun.spawn(["bun", "scripts/bench-delivery.ts", ...all], { cwd: ROOT, stdout: "pipe", stderr: "inherit" });
  const [out, exitCode] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  const start = out.indexOf("{");
  const result = start >= 0 ? JSON.parse(out.slice(start)) : null;
  if (!result) throw new Error(`bench-delivery (${target}) printed no report (exit ${exitCode})`);
  return { target, protocol: target === "bun" ? protocol : null, exitCode, command, result };
}

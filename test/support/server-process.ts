// Real server processes (`bun src/main.ts`) for system tests.
import { resolve } from "node:path";
import type { Subprocess } from "bun";
import { captureOutput, stopProcess, waitReady } from "../../scripts/lib/process.ts";
import { freePort } from "../../scripts/services.ts";
import { childEnv } from "../../src/env.ts";

const ROOT = resolve(import.meta.dir, "../..");

export interface ServerProcess {
  port: number;
  url: string;
  proc: Subprocess<"ignore", "pipe", "pipe">;
  /** What the process wrote to stdout and stderr so far (the last MiB). */
  output(): string;
  waitReady(timeoutMs?: number): Promise<void>;
  stop(signal?: NodeJS.Signals): Promise<number>;
}

export function startServer(env: Record<string, string>): ServerProcess {
  const port = env.PORT ? Number(env.PORT) : freePort();
  const proc = Bun.spawn(["bun", "--max-http-header-size=1048576", "src/main.ts"], {
    cwd: ROOT,
    env: childEnv({ LOG_LEVEL: "info", NODE_ENV: "production", PORT: String(port), ...env }),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const out = captureOutput(proc, { keepBytes: 1024 * 1024 });
  const url = `http://127.0.0.1:${port}`;
  return {
    port,
    url,
    proc,
    output: out.text,
    waitReady: (timeoutMs = 30_000) => waitReady(url, { timeoutMs, proc, output: out.text, what: "server" }),
    stop: (signal = "SIGTERM") => stopProcess(proc, signal),
  };
}

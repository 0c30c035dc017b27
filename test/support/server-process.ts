// Real server processes (`bun src/main.ts`) for system tests.
import { resolve } from "node:path";
import type { Subprocess } from "bun";
import { freePort } from "../../scripts/services.ts";
import { childEnv } from "../../src/env.ts";

const ROOT = resolve(import.meta.dir, "../..");

export interface ServerProcess {
  port: number;
  url: string;
  proc: Subprocess<"ignore", "pipe", "pipe">;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  waitReady(timeoutMs?: number): Promise<void>;
  stop(signal?: NodeJS.Signals): Promise<number>;
}

export function startServer(env: Record<string, string>): ServerProcess {
  const port = env.PORT ? Number(env.PORT) : freePort();
  const proc = Bun.spawn(["bun", "--max-http-header-size=65536", "src/main.ts"], {
    cwd: ROOT,
    env: childEnv({ LOG_LEVEL: "info", NODE_ENV: "production", PORT: String(port), ...env }),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let text = "";
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) text += decoder.decode(chunk, { stream: true });
  };
  void drain(proc.stdout);
  void drain(proc.stderr);
  const url = `http://127.0.0.1:${port}`;
  return {
    port,
    url,
    proc,
    output: () => text,
    async waitReady(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}:\n${text}`);
        const res = await fetch(`${url}/readyz`).catch(() => null);
        if (res?.status === 200) return;
        await Bun.sleep(100);
      }
      throw new Error(`server not ready after ${timeoutMs} ms:\n${text}`);
    },
    async stop(signal = "SIGTERM") {
      if (proc.exitCode === null) proc.kill(signal);
      const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      const code = await proc.exited;
      clearTimeout(timer);
      return code;
    },
  };
}

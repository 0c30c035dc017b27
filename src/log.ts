import type { Env } from "./env.ts";

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
export type Logger = Record<"debug" | "info" | "warn" | "error", (msg: string, fields?: Record<string, unknown>) => void>;

/** One JSON line per event on stderr. Never log tokens or passwords. */
export function createLogger(level: Env["LOG_LEVEL"], base: Record<string, unknown> = {}): Logger {
  const min = LEVELS[level];
  const at = (name: keyof Logger) => (msg: string, fields?: Record<string, unknown>) => {
    if (LEVELS[name] < min) return;
    process.stderr.write(`${JSON.stringify({ t: new Date().toISOString(), level: name, msg, ...base, ...fields })}\n`);
  };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

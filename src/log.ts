import type { Env } from "./env.ts";

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
export type Logger = Record<"debug" | "info" | "warn" | "error", (msg: string, fields?: Record<string, unknown>) => void>;

/** One JSON line per event on stderr. Never log tokens, passwords or message content: pass errors through describeError. */
export function createLogger(level: Env["LOG_LEVEL"], base: Record<string, unknown> = {}): Logger {
  const min = LEVELS[level];
  const at = (name: keyof Logger) => (msg: string, fields?: Record<string, unknown>) => {
    if (LEVELS[name] < min) return;
    process.stderr.write(`${JSON.stringify({ t: new Date().toISOString(), level: name, msg, ...base, ...fields })}\n`);
  };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

const SQLSTATE = /^[0-9A-Z]{5}$/;

/**
 * Log fields for an error, without what it may carry of the request: a failed
 * query's message lists its parameters (message content, token hashes) and
 * Postgres quotes offending values, so database errors keep only their SQLSTATE,
 * routine and constraint, and every stack keeps only its frames.
 */
export function describeError(err: unknown): { error: string; stack?: string } {
  const frames = err instanceof Error && err.stack ? err.stack.split("\n").filter((l) => /^\s+at /.test(l)).join("\n") : undefined;
  let query = false;
  for (let e = err as Record<string, unknown> | undefined, depth = 0; e && typeof e === "object" && depth < 5; depth++) {
    if (typeof e.code === "string" && SQLSTATE.test(e.code)) {
      const where = [e.routine, e.constraint_name ?? e.constraint].filter((v) => typeof v === "string").join(" ");
      return { error: `database error ${e.code}${where ? ` (${where})` : ""}`, stack: frames };
    }
    query ||= "params" in e || "query" in e;
    e = e.cause as Record<string, unknown> | undefined;
  }
  if (query) return { error: "database query failed", stack: frames };
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return { error: text.slice(0, 300), stack: frames };
}

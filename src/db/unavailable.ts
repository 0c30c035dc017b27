/** The database did not answer in time or could not be reached: the caller answers 503 `unavailable`. */
export class DatabaseUnavailableError extends Error {}

// postgres.js connection errors, and SQLSTATE classes 08 (connection exception) and 57P (operator
// intervention: the server is shutting down or starting) mean "try again soon", not a bug.
const CONNECTION_CODES = new Set(["CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED", "CONNECT_TIMEOUT", "ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT"]);

/** Postgres cancelled a statement that ran past statement_timeout. */
const STATEMENT_TIMEOUT = "57014";

export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e = err as Record<string, unknown> | undefined, depth = 0; e && depth < 5; depth++) {
    if (e instanceof DatabaseUnavailableError) return true;
    const code = typeof e.code === "string" ? e.code : "";
    if (CONNECTION_CODES.has(code) || code.startsWith("08") || code.startsWith("57P") || code === STATEMENT_TIMEOUT) return true;
    e = e.cause as Record<string, unknown> | undefined;
  }
  return false;
}

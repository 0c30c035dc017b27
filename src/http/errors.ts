import type { ContentfulStatusCode } from "hono/utils/http-status";

export type ErrorCode =
  | "invalid_request"
  | "invalid_json"
  | "invalid_data"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "not_joined"
  | "conflict"
  | "payload_too_large"
  | "unsupported_media_type"
  | "method_not_allowed"
  | "too_many_reactions"
  | "headers_too_large"
  | "rate_limited"
  | "too_many_sockets"
  | "too_many_rooms"
  | "unavailable"
  | "internal";

export interface FieldIssue {
  field: string;
  message: string;
}

/** Thrown anywhere inside; turned into the contract's error body once, in app.onError. */
export class AppError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: ErrorCode,
    message: string,
    readonly details?: FieldIssue[],
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

export const notFound = (what = "resource") => new AppError(404, "not_found", `${what} not found`);
export const unauthorized = (message = "authentication required") => new AppError(401, "unauthorized", message);
export const forbidden = (message = "not allowed") => new AppError(403, "forbidden", message);
export const conflict = (message: string, details?: FieldIssue[]) => new AppError(409, "conflict", message, details);
export const invalid = (details: FieldIssue[], message = "invalid request") =>
  new AppError(400, "invalid_request", message, details);

export function errorBody(code: ErrorCode, message: string, details?: FieldIssue[]) {
  return { error: details?.length ? { code, message, details } : { code, message } };
}

/** Postgres SQLSTATE of an error from either driver (drizzle wraps it in `cause`). */
export function pgError(err: unknown): { code?: string; constraint?: string } {
  for (let e = err as Record<string, unknown> | undefined, depth = 0; e && depth < 5; depth++) {
    if (typeof e.code === "string" && /^[0-9A-Z]{5}$/.test(e.code)) {
      const constraint = (e.constraint_name ?? e.constraint) as string | undefined;
      return { code: e.code, constraint };
    }
    e = e.cause as Record<string, unknown> | undefined;
  }
  return {};
}

export const UNIQUE_VIOLATION = "23505";

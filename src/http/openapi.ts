import { z } from "@hono/zod-openapi";

export const ErrorBody = z
  .object({
    error: z.object({
      code: z.string(),
      message: z.string(),
      details: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
    }),
  })
  .openapi("Error");

export const ErrorResponse = {
  content: { "application/json": { schema: ErrorBody } },
  description: "Error: { error: { code, message, details? } }",
};

/** Answers any operation may give, added to each one in the served document (see app.ts). */
const COMMON_ERRORS: Record<string, string> = {
  429: "Rate limited; Retry-After says when to try again",
  503: "Unavailable (code unavailable, Retry-After: 1): the instance is starting or draining, or a store did not answer in time (DB_STATEMENT_TIMEOUT_MS)",
};
const BODY_ERRORS: Record<string, string> = {
  400: "Invalid body (details lists every invalid field) or malformed JSON",
  413: "Request body over MAX_BODY_BYTES",
  415: "A request body that is not application/json",
};

type Operation = { requestBody?: unknown; responses?: Record<string, unknown>; security?: unknown[] };

export function withCommonErrors<T extends { paths?: object }>(doc: T): T {
  for (const item of Object.values(doc.paths ?? {}) as object[]) {
    for (const op of Object.values(item) as Operation[]) {
      if (!op || typeof op !== "object" || !("responses" in op)) continue;
      const add = { ...COMMON_ERRORS, ...(op.requestBody ? BODY_ERRORS : {}), ...(op.security?.length ? { 401: "Not signed in", 403: "Forbidden (a cookie-authenticated write from a foreign Origin)" } : {}) };
      for (const [status, description] of Object.entries(add)) {
        op.responses![status] ??= { ...ErrorResponse, description };
      }
    }
  }
  return doc;
}

export const jsonBody = <T extends z.ZodType>(schema: T) => ({
  content: { "application/json": { schema } },
  required: true,
});

export const jsonResponse = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { "application/json": { schema } },
  description,
});

import { OpenAPIHono } from "@hono/zod-openapi";
import type { z } from "zod";
import { invalid, type FieldIssue } from "./errors.ts";
import type { AppEnv } from "./context.ts";

/** One entry per invalid field, its messages joined. */
export function zodIssues(error: z.ZodError): FieldIssue[] {
  const byField = new Map<string, string[]>();
  for (const issue of error.issues) {
    const field = issue.path.length ? issue.path.join(".") : "(body)";
    byField.set(field, [...(byField.get(field) ?? []), issue.message]);
  }
  return [...byField].map(([field, messages]) => ({ field, message: messages.join("; ") }));
}

/** A Hono router whose request validation failures become the contract's 400 body. */
export function createRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw invalid(zodIssues(result.error));
    },
  });
}

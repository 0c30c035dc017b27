import { OpenAPIHono } from "@hono/zod-openapi";
import type { z } from "zod";
import { invalid, type FieldIssue } from "./errors.ts";
import type { AppEnv } from "./context.ts";

export function zodIssues(error: z.ZodError): FieldIssue[] {
  return error.issues.map((issue) => ({
    field: issue.path.length ? issue.path.join(".") : "(body)",
    message: issue.message,
  }));
}

/** A Hono router whose request validation failures become the contract's 400 body. */
export function createRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw invalid(zodIssues(result.error));
    },
  });
}

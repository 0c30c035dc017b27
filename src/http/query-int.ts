import { z } from "@hono/zod-openapi";

/**
 * An integer query parameter within [min, max]. Digits only: "1.5", "-1", "1e3"
 * and values out of range are rejected (400), never rounded or clamped.
 */
export const queryInt = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,16}$/, "must be a non-negative integer")
    .transform(Number)
    .pipe(z.number().int().min(min).max(max))
    .openapi({ type: "integer", minimum: min, maximum: max });

import { z } from "@hono/zod-openapi";
import { isUuid } from "../db/uuid.ts";

const SLUG_MAX = 64;

/** Direct rooms' slugs (`dm-` + a hash of the pair): no room made by hand may take one. */
export const DM_PREFIX = "dm-";
const reserved = (slug: string) => slug === "dm" || slug.startsWith(DM_PREFIX);

/** Lowercase letters, digits and dashes; never uuid-shaped, because a uuid-shaped room key means an id. */
export const Slug = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,63}$/, "lowercase letters, digits and dashes, starting with a letter or digit, at most 64")
  .refine((s) => !isUuid(s), "must not look like a room id")
  .refine((s) => !reserved(s), `must not start with "${DM_PREFIX}" (direct rooms' namespace)`);

export function deriveSlug(name: string): string {
  const slug = name
    .normalize("NFKD")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+/, "")
    .slice(0, SLUG_MAX)
    .replace(/-+$/, "");
  if (!slug) return "room";
  return isUuid(slug) || reserved(slug) ? `room-${slug}`.slice(0, SLUG_MAX).replace(/-+$/, "") : slug;
}

/** Another candidate when a derived slug is taken. */
export const slugWithSuffix = (base: string) =>
  `${base.slice(0, SLUG_MAX - 7).replace(/-+$/, "")}-${Math.random().toString(36).slice(2, 8).padEnd(6, "0")}`;

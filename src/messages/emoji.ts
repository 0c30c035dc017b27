import { z } from "zod";

/** A reaction: any short token without whitespace (an emoji, or a :shortcode:). */
export const Emoji = z
  .string()
  .min(1)
  .max(32)
  .regex(/^\S+$/u, "no whitespace");

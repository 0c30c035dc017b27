import { Text } from "../protocol.ts";

/** A reaction: any short token without whitespace (an emoji, or a :shortcode:). */
export const Emoji = Text()
  .min(1)
  .max(32)
  .regex(/^\S+$/u, "no whitespace");

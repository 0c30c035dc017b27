import { isUuid } from "../db/uuid.ts";
import { invalid } from "./errors.ts";

// Opaque keyset cursors: the last row's id, base64url-encoded so clients do not
// build them by hand and we may change what is inside.

export const encodeIdCursor = (id: string) => Buffer.from(id, "utf8").toString("base64url");

/** The id inside a cursor from the client; a cursor we did not make is a 400 naming `field`. */
export function decodeIdCursor(cursor: string, field = "cursor"): string {
  const id = /^[A-Za-z0-9_-]{1,100}$/.test(cursor) ? Buffer.from(cursor, "base64url").toString("utf8") : "";
  if (!isUuid(id)) throw invalid([{ field, message: "not a cursor this server gave out" }]);
  return id.toLowerCase();
}

import { z } from "zod";

/**
 * Every mutation kind has a bucket of its own, per user (per IP before login).
 * `max` requests may come at once; after that the bucket refills evenly, one
 * request every `windowSeconds / max` (a token bucket: the window slides).
 * All are multiplied by RATE_LIMIT_MULTIPLIER.
 */
export const DEFAULT_LIMITS = {
  register: { max: 20, windowSeconds: 600 }, // per IP
  login: { max: 30, windowSeconds: 60 }, // per IP
  // Per account, failed logins only; exact: at most 10 in any 15 minutes, so a locked account
  // stays locked until the oldest of its failures is 15 minutes old.
  login_failure: { max: 10, windowSeconds: 900, exact: true },
  room_create: { max: 20, windowSeconds: 600 },
  room_join: { max: 60, windowSeconds: 60 },
  member_change: { max: 60, windowSeconds: 60 }, // add, remove, leave
  dm_open: { max: 30, windowSeconds: 60 },
  send: { max: 30, windowSeconds: 10 }, // HTTP and WebSocket sends
  edit: { max: 30, windowSeconds: 60 },
  delete: { max: 30, windowSeconds: 60 },
  reaction: { max: 120, windowSeconds: 60 },
  read: { max: 300, windowSeconds: 60 },
  search: { max: 30, windowSeconds: 60 },
} as const satisfies Record<string, Limit>;

export type LimitKind = keyof typeof DEFAULT_LIMITS;

export interface Limit {
  max: number;
  windowSeconds: number;
  /**
   * true: a sliding log, at most `max` in any `windowSeconds` (memory grows with max, so
   * only for small limits such as the account lock). Default: the token bucket.
   */
  exact?: boolean;
}

export type LimitTable = Record<LimitKind, Limit>;

const KINDS = Object.keys(DEFAULT_LIMITS) as LimitKind[];

/**
 * RATE_LIMITS overrides some rows of the table: "send=60/10,reaction=300/60"
 * (kind=max/windowSeconds, before the multiplier).
 */
export const RateLimitsOverride = z
  .string()
  .default("")
  .transform((value, ctx): Partial<LimitTable> => {
    const table: Partial<LimitTable> = {};
    for (const entry of value.split(",").map((s) => s.trim()).filter(Boolean)) {
      const match = /^([a-z_]+)=(\d+)\/(\d+)$/.exec(entry);
      const kind = match?.[1] as LimitKind | undefined;
      if (!match || !kind || !KINDS.includes(kind)) {
        ctx.addIssue({ code: "custom", message: `"${entry}": want kind=max/windowSeconds, kind one of ${KINDS.join(", ")}` });
        continue;
      }
      const max = Number(match[2]);
      const windowSeconds = Number(match[3]);
      if (max < 1 || windowSeconds < 1 || windowSeconds > 86_400) {
        ctx.addIssue({ code: "custom", message: `"${entry}": max >= 1, windowSeconds 1..86400` });
        continue;
      }
      table[kind] = { max, windowSeconds };
    }
    return table;
  });

export function limitTable(override: Partial<LimitTable>, multiplier: number): LimitTable {
  const table = {} as LimitTable;
  for (const kind of KINDS) {
    const base = override[kind] ?? DEFAULT_LIMITS[kind];
    const exact = (DEFAULT_LIMITS[kind] as Limit).exact;
    table[kind] = { max: Math.max(1, Math.ceil(base.max * multiplier)), windowSeconds: base.windowSeconds, ...(exact ? { exact } : {}) };
  }
  return table;
}

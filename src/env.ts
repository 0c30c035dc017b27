import { isIP } from "node:net";
import { z } from "zod";
import { RateLimitsOverride } from "./rate-limit/limits.ts";

// The one reader of process.env. Everything else receives an `Env` value.

const optionalUrl = (protocols: string[]) =>
  z
    .string()
    .trim()
    .transform((v) => (v === "" ? undefined : v))
    .pipe(
      z
        .string()
        .refine((v) => protocols.some((p) => v.startsWith(`${p}://`)), {
          message: `must start with ${protocols.map((p) => `${p}://`).join(" or ")}`,
        })
        .optional(),
    )
    .optional();

/** An address or a CIDR block, IPv4 or IPv6: what TRUSTED_PROXIES lists. */
function isAddressOrCidr(entry: string): boolean {
  const [address, prefix, ...rest] = entry.split("/");
  const family = isIP(address ?? "");
  if (!family || rest.length) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

const int = (def: number, min: number, max: number) =>
  z.coerce.number().int().min(min).max(max).default(def);

/** "a, b,,c" -> ["a", "b", "c"] (each entry trimmed and normalized), then checked by `items`. */
const commaList = <T extends z.ZodType<string[], string[]>>(items: T, normalize: (entry: string) => string = (e) => e) =>
  z
    .string()
    .default("")
    .transform((v) =>
      v
        .split(",")
        .map((entry) => normalize(entry.trim()))
        .filter(Boolean),
    )
    .pipe(items);

const envSchema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  PORT: int(3000, 0, 65535),
  HOST: z.string().default("0.0.0.0"),
  DATABASE_URL: optionalUrl(["postgres", "postgresql"]),
  REDIS_URL: optionalUrl(["redis", "rediss"]),
  DATA_DIR: z.string().min(1).default("./.data"),
  INSTANCE_ID: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, "letters, digits, _ . - only (1-64)")
    .optional(),
  ALLOWED_ORIGINS: commaList(z.array(z.string().regex(/^(\*|https?:\/\/[^\s/,]+)$/, "each entry is * or an origin like https://chat.example"))),
  // Peers whose X-Forwarded-For is believed (Caddy's address); empty: nobody's, the peer is the client.
  TRUSTED_PROXIES: commaList(z.array(z.string().refine(isAddressOrCidr, "each entry is an IP address or a CIDR block like 10.0.0.0/8"))),
  // Accounts that may open the operator's page (/ops); for everyone else its endpoint is 404.
  OPERATOR_EMAILS: commaList(z.array(z.email("each entry is an email address, comma-separated")), (e) => e.toLowerCase()),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
  RATE_LIMIT_MULTIPLIER: z.coerce.number().positive().max(1_000_000).default(1),
  // "kind=max/windowSeconds,…": rows of the limit table in src/rate-limit/limits.ts to change.
  RATE_LIMITS: RateLimitsOverride,
  // A Redis bucket that does not answer within this is replaced by this process's own.
  RATE_LIMIT_REDIS_TIMEOUT_MS: int(250, 10, 10_000),
  DB_POOL_SIZE: int(20, 1, 500),
  // Response cache (Redis, or in-process without REDIS_URL): entry lifetime, and how long
  // a cache read may take before the request goes straight to Postgres.
  RESPONSE_CACHE: z.enum(["on", "off"]).default("on"),
  CACHE_TTL_SECONDS: int(60, 1, 86_400),
  CACHE_TIMEOUT_MS: int(100, 5, 10_000),
  // A new Postgres connection must be ready within this (postgres.js connect_timeout).
  DB_CONNECT_TIMEOUT_MS: int(2_000, 100, 60_000),
  // Every statement (and transaction) must answer within this, or the request gets 503 unavailable;
  // also Postgres's own statement_timeout. Migrations are not bound by it.
  DB_STATEMENT_TIMEOUT_MS: int(2_000, 100, 600_000),
  // Every Redis command must answer within this; a Redis that stays silent is treated as down.
  REDIS_COMMAND_TIMEOUT_MS: int(250, 10, 60_000),
  // Caddy's active health-check interval (the Caddyfile reads the same variable). A draining
  // instance answers /readyz 503 for twice this long before it refuses requests.
  HEALTH_CHECK_INTERVAL_MS: int(1_000, 100, 60_000),
  // OWASP's floor for argon2id: 19 MiB of memory, 2 iterations.
  PASSWORD_MEMORY_KIB: int(19_456, 19_456, 1_048_576),
  PASSWORD_TIME_COST: int(2, 2, 20),
  SESSION_TTL_DAYS: int(30, 1, 365),
  COOKIE_SECURE: z.enum(["true", "false", "auto"]).default("auto"),
  // Distinct emoji on one message; a new one past it is 409 too_many_reactions.
  MAX_REACTIONS_PER_MESSAGE: int(20, 1, 1000),
  MAX_BODY_BYTES: int(1_048_576, 1024, 16 * 1_048_576),
  // Client frames per second per connection (burst twice that), before RATE_LIMIT_MULTIPLIER.
  WS_FRAMES_PER_SECOND: int(20, 1, 100_000),
  WS_MAX_FRAME_BYTES: int(32_768, 1024, 1_048_576),
  // A socket with more than this queued is closed with 4008 and resumes with afterSeq.
  WS_MAX_BUFFERED_BYTES: int(4 * 1_048_576, 65_536, 256 * 1_048_576),
  // A join whose afterSeq is further behind gets `truncated` and the last this-many events (page older ones over HTTP).
  WS_REPLAY_MAX: int(500, 1, 100_000),
  // Live sockets per user on one instance; past it the upgrade is refused with 429.
  WS_MAX_SOCKETS_PER_USER: int(20, 1, 10_000),
  // Rooms one socket, and one user's sockets together on one instance, may be joined to.
  WS_MAX_ROOMS_PER_SOCKET: int(500, 1, 100_000),
  WS_MAX_ROOMS_PER_USER: int(2_000, 1, 1_000_000),
  // Names in a room's first presence list and in presence diffs; past it diffs carry the total alone.
  PRESENCE_LIST_MAX: int(100, 1, 10_000),
  // Off by default: see README, "permessage-deflate" (measured with bun run bench:deflate).
  WS_PER_MESSAGE_DEFLATE: z.enum(["true", "false"]).default("false").transform((v) => v === "true"),
  // The PWA build served outside development (relative to the repo); `bun run build` writes it.
  WEB_DIR: z.string().min(1).default("dist/web"),
});

export type Env = z.infer<typeof envSchema>;

export class EnvError extends Error {}

export function parseEnv(source: Record<string, string | undefined>): Env {
  const result = envSchema.safeParse(source);
  if (!result.success) {
    const lines = result.error.issues.map(
      (i) => `  ${i.path.join(".") || "(env)"}: ${i.message}`,
    );
    throw new EnvError(`Invalid environment:\n${lines.join("\n")}`);
  }
  return result.data;
}

/** Reads the process environment; `overrides` win (tests and scripts use them). */
export function loadEnv(overrides: Record<string, string | undefined> = {}): Env {
  return parseEnv({ ...process.env, ...overrides });
}

/** The environment for a child process (scripts and system tests), with `overrides` applied. */
export function childEnv(overrides: Record<string, string | undefined> = {}): Record<string, string> {
  const merged: Record<string, string> = {};
  for (const [key, value] of Object.entries({ ...process.env, ...overrides })) {
    if (value !== undefined) merged[key] = value;
  }
  return merged;
}

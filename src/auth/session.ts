import { randomBytes } from "node:crypto";
import { and, eq, gt, isNull } from "drizzle-orm";
import type { Cache } from "../cache/cache.ts";
import type { Db } from "../db/client.ts";
import { sessions, users } from "../db/schema.ts";
import type { AuthContext } from "../http/context.ts";

export type { AuthContext };

const CACHE_TTL_SECONDS = 60;
const REVOKED = "revoked";
const cacheKey = (tokenHash: string) => `session:${tokenHash}`;

export const newToken = () => randomBytes(32).toString("base64url");
export const hashToken = (token: string) => new Bun.CryptoHasher("sha256").update(token).digest("hex");
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{20,200}$/;

/** How often a revocation marker that could not be written is tried again. */
const MARKER_RETRY_MS = 250;

/** Sessions live in Postgres; the cache only saves a query and is dropped on logout. */
export function createSessions(db: Db, cache: Cache, ttlDays: number) {
  /**
   * A marker, not a delete: a lookup that read Postgres just before the revocation cannot
   * put the session back into the cache. Postgres already refuses the session, so a cache
   * error does not fail the logout; but a positive entry cached before it would live on for
   * up to CACHE_TTL_SECONDS, so the marker is retried in the background until it is written
   * or that entry has expired.
   */
  async function writeRevokedMarker(key: string) {
    const giveUpAt = Date.now() + CACHE_TTL_SECONDS * 1000;
    const attempt = () => cache.set(key, REVOKED, CACHE_TTL_SECONDS).then(() => true, () => false);
    if (await attempt()) return;
    const retry = async () => {
      if (Date.now() > giveUpAt || (await attempt())) return;
      setTimeout(retry, MARKER_RETRY_MS).unref?.();
    };
    setTimeout(retry, MARKER_RETRY_MS).unref?.();
  }

  return {
    async create(userId: string) {
      const token = newToken();
      const expiresAt = new Date(Date.now() + ttlDays * 86_400_000);
      const [row] = await db
        .insert(sessions)
        .values({ userId, tokenHash: hashToken(token), expiresAt })
        .returning({ id: sessions.id });
      return { token, sessionId: row!.id, expiresAt };
    },

    async resolve(token: string): Promise<AuthContext | null> {
      if (!TOKEN_SHAPE.test(token)) return null;
      const tokenHash = hashToken(token);
      // Postgres is the source of truth: a cache outage costs a query, not a sign-in.
      const cached = await cache.get(cacheKey(tokenHash)).catch(() => null);
      if (cached === REVOKED) return null;
      if (cached) return JSON.parse(cached) as AuthContext;
      const [row] = await db
        .select({ sessionId: sessions.id, id: users.id, email: users.email, username: users.username })
        .from(sessions)
        .innerJoin(users, eq(users.id, sessions.userId))
        .where(and(eq(sessions.tokenHash, tokenHash), isNull(sessions.revokedAt), gt(sessions.expiresAt, new Date())))
        .limit(1);
      if (!row) return null;
      const auth: AuthContext = { sessionId: row.sessionId, user: { id: row.id, email: row.email, username: row.username } };
      // NX: never overwrite a revocation marker written meanwhile. Not awaited: a slow cache
      // must not slow the request that just read Postgres.
      void cache.add(cacheKey(tokenHash), JSON.stringify(auth), CACHE_TTL_SECONDS).catch(() => {});
      return auth;
    },

    async revoke(token: string) {
      const tokenHash = hashToken(token);
      await db
        .update(sessions)
        .set({ revokedAt: new Date() })
        .where(and(eq(sessions.tokenHash, tokenHash), isNull(sessions.revokedAt)));
      await writeRevokedMarker(cacheKey(tokenHash));
    },
  };
}

export type Sessions = ReturnType<typeof createSessions>;

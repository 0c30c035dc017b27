import { asc, eq, sql } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { roomMembers, rooms, users } from "../db/schema.ts";
import { conflict, pgError, UNIQUE_VIOLATION } from "../http/errors.ts";

export interface PublicUser {
  id: string;
  username: string;
}

/** The room every new account is a member of from the start (created by a migration). */
export const DEFAULT_ROOM_SLUG = "general";

export function createUsers(db: Db) {
  return {
    /**
     * A new account, a member of `general` in the same transaction (so nobody starts with no
     * room at all). `joinedRoomIds` names that membership (none if the room was removed).
     */
    async create(input: { email: string; username: string; passwordHash: string }) {
      try {
        return await db.transaction(async (tx) => {
          const [row] = await tx
            .insert(users)
            .values(input)
            .returning({ id: users.id, email: users.email, username: users.username });
          const [general] = await tx.select({ id: rooms.id }).from(rooms).where(eq(rooms.slug, DEFAULT_ROOM_SLUG)).limit(1);
          if (general) await tx.insert(roomMembers).values({ roomId: general.id, userId: row!.id });
          return { user: row!, joinedRoomIds: general ? [general.id] : [] };
        });
      } catch (err) {
        const { code, constraint } = pgError(err);
        if (code !== UNIQUE_VIOLATION) throw err;
        const field = constraint?.includes("email") ? "email" : "username";
        throw conflict(`${field} is already taken`, [{ field, message: "already taken" }]);
      }
    },

    /** Case-insensitive username prefix, alphabetical (for invites and direct messages). */
    async searchByPrefix(prefix: string, limit: number): Promise<PublicUser[]> {
      const pattern = `${prefix.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      return db
        .select({ id: users.id, username: users.username })
        .from(users)
        .where(sql`lower(${users.username}) like ${pattern}`)
        .orderBy(asc(sql`lower(${users.username})`))
        .limit(limit);
    },

    async findByEmail(email: string) {
      const [row] = await db
        .select()
        .from(users)
        .where(eq(sql`lower(${users.email})`, email.toLowerCase()))
        .limit(1);
      return row;
    },
  };
}

export type Users = ReturnType<typeof createUsers>;

import type Redis from "ioredis";
import type { UserRef } from "../protocol.ts";
import { dedupeUsers, PRESENCE_TTL_MS, type PresenceStore } from "./store.ts";

/**
 * One sorted set per room; a member is "instance \t userId \t username" scored
 * by its expiry time, so readers ignore (and prune) entries of dead instances.
 */
export function createRedisPresence(redis: Redis, instanceId: string, prefix = ""): PresenceStore {
  const key = (roomId: string) => `${prefix}presence:${roomId}`;
  const member = (user: UserRef) => `${instanceId}\t${user.id}\t${user.username}`;
  const idle = Math.ceil((PRESENCE_TTL_MS * 4) / 1000);

  return {
    async add(roomId, user) {
      await redis.multi().zadd(key(roomId), String(Date.now() + PRESENCE_TTL_MS), member(user)).expire(key(roomId), idle).exec();
    },
    async remove(roomId, user) {
      // One exact ZREM: ordered with a ZADD of the same user that follows it (a quick rejoin).
      await redis.zrem(key(roomId), member(user));
    },
    async refresh(entries) {
      if (!entries.length) return;
      const expiry = Date.now() + PRESENCE_TTL_MS;
      const pipe = redis.pipeline();
      for (const { roomId, user } of entries) pipe.zadd(key(roomId), String(expiry), member(user)).expire(key(roomId), idle);
      await pipe.exec();
    },
    async list(roomIds) {
      const out = new Map<string, UserRef[]>();
      if (!roomIds.length) return out;
      const now = Date.now();
      const pipe = redis.pipeline();
      for (const roomId of roomIds) pipe.zremrangebyscore(key(roomId), "-inf", now).zrangebyscore(key(roomId), now, "+inf");
      const results = (await pipe.exec()) ?? [];
      roomIds.forEach((roomId, i) => {
        const [err, members] = results[i * 2 + 1] ?? [];
        if (err) throw err;
        const users = (members as string[]).map((m) => {
          const [, id, username] = m.split("\t");
          return { id: id!, username: username! };
        });
        out.set(roomId, dedupeUsers(users));
      });
      return out;
    },
  };
}

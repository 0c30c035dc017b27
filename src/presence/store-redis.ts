import type Redis from "ioredis";
import type { UserRef } from "../protocol.ts";
import { dedupeUsers, PRESENCE_TTL_MS, type PresenceStore } from "./store.ts";

// Expiry is scored and checked with Redis's own clock: instances on other hosts may
// disagree about the time, and a write that waited in a busy client's queue still
// counts from when Redis got it.

/**
 * KEYS: room sets; ARGV: ttl ms, idle s, then per key the number of its members and the
 * members. One ZADD and one EXPIRE per room, however many of its members are refreshed.
 */
const WRITE = `
local t = redis.call('TIME')
local expiry = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
local at = 3
for _, key in ipairs(KEYS) do
  local n = tonumber(ARGV[at])
  local args = {}
  for j = 1, n do
    args[2 * j - 1] = expiry
    args[2 * j] = ARGV[at + j]
  end
  redis.call('ZADD', key, unpack(args))
  redis.call('EXPIRE', key, ARGV[2])
  at = at + n + 1
end
return #KEYS`;

/** KEYS: one room set; prunes what expired and returns the live members. */
const READ = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')`;

/** Entries written per script call: keeps one call's work short for Redis. */
const WRITE_BATCH = 500;

interface PresenceCommands {
  presenceWrite(numKeys: number, ...args: (string | number)[]): Promise<number>;
  presenceRead(key: string): Promise<string[]>;
}

/**
 * One sorted set per room; a member is "instance \t userId \t username" scored
 * by its expiry time, so readers ignore (and prune) entries of dead instances.
 */
export function createRedisPresence(client: Redis, instanceId: string, prefix = ""): PresenceStore {
  if (typeof (client as unknown as Partial<PresenceCommands>).presenceWrite !== "function") {
    client.defineCommand("presenceWrite", { lua: WRITE });
    client.defineCommand("presenceRead", { numberOfKeys: 1, lua: READ });
  }
  const redis = client as Redis & PresenceCommands;
  const key = (roomId: string) => `${prefix}presence:${roomId}`;
  const member = (user: UserRef) => `${instanceId}\t${user.id}\t${user.username}`;
  const idle = Math.ceil((PRESENCE_TTL_MS * 4) / 1000);

  async function write(entries: { roomId: string; user: UserRef }[]) {
    for (let i = 0; i < entries.length; i += WRITE_BATCH) {
      const byKey = new Map<string, string[]>();
      for (const e of entries.slice(i, i + WRITE_BATCH)) {
        const k = key(e.roomId);
        const members = byKey.get(k);
        if (members) members.push(member(e.user));
        else byKey.set(k, [member(e.user)]);
      }
      const perKey = [...byKey.values()].flatMap((members) => [members.length, ...members]);
      await redis.presenceWrite(byKey.size, ...byKey.keys(), PRESENCE_TTL_MS, idle, ...perKey);
    }
  }

  return {
    async add(roomId, user) {
      await write([{ roomId, user }]);
    },
    async remove(roomId, user) {
      // One exact ZREM: ordered with a write of the same user that follows it (a quick rejoin).
      await redis.zrem(key(roomId), member(user));
    },
    async refresh(entries) {
      await write(entries);
    },
    async list(roomIds) {
      const out = new Map<string, UserRef[]>();
      if (!roomIds.length) return out;
      const pipe = redis.pipeline();
      for (const roomId of roomIds) (pipe as unknown as PresenceCommands).presenceRead(key(roomId));
      const results = (await pipe.exec()) ?? [];
      roomIds.forEach((roomId, i) => {
        const [err, members] = results[i] ?? [];
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

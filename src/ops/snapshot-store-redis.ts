import type Redis from "ioredis";
import type { InstanceSnapshot, SnapshotStore } from "./snapshot-store.ts";

// Expiry is scored with Redis's own clock, as presence does: instances on other hosts may disagree
// about the time. The index is a sorted set of instance ids by expiry; each snapshot is its own key
// with the same TTL, so a dead instance's data goes away with it.

/** KEYS: index, snapshot key; ARGV: ttl ms, instance id, snapshot JSON. */
const WRITE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[1])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`;

/** KEYS: index; ARGV: snapshot key prefix. Prunes expired ids, returns the live snapshots. */
const READ = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')
local out = {}
for _, id in ipairs(ids) do
  local v = redis.call('GET', ARGV[1] .. id)
  if v then table.insert(out, v) end
end
return out`;

interface SnapshotCommands {
  opsWrite(numKeys: number, ...args: (string | number)[]): Promise<number>;
  opsRead(numKeys: number, ...args: string[]): Promise<string[]>;
}

export function createRedisSnapshots(client: Redis, prefix = ""): SnapshotStore {
  if (typeof (client as unknown as Partial<SnapshotCommands>).opsWrite !== "function") {
    client.defineCommand("opsWrite", { lua: WRITE });
    client.defineCommand("opsRead", { lua: READ });
  }
  const commands = client as unknown as SnapshotCommands;
  const index = `${prefix}ops:instances`;
  const keyPrefix = `${prefix}ops:snapshot:`;
  return {
    async write(snapshot, ttlMs) {
      await commands.opsWrite(2, index, keyPrefix + snapshot.instanceId, ttlMs, snapshot.instanceId, JSON.stringify(snapshot));
    },
    async readAll() {
      const raw = await commands.opsRead(1, index, keyPrefix);
      return raw
        .map((v) => JSON.parse(v) as InstanceSnapshot)
        .sort((a, b) => a.instanceId.localeCompare(b.instanceId));
    },
  };
}

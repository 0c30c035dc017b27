import type { OpsSample } from "./sample.ts";

/** What one instance last wrote about itself: its latest samples, oldest first. */
export interface InstanceSnapshot {
  instanceId: string;
  samples: OpsSample[];
}

/**
 * Where every instance leaves its snapshot for whichever instance answers the operator's page.
 * Entries expire: an instance that stops writing drops out without anyone removing it.
 */
export interface SnapshotStore {
  write(snapshot: InstanceSnapshot, ttlMs: number): Promise<void>;
  /** The snapshots of every instance that wrote within its TTL, by instance id. */
  readAll(): Promise<InstanceSnapshot[]>;
}

/** One process's snapshots: without REDIS_URL there is one instance to show. */
export function createMemorySnapshots(now: () => number = Date.now): SnapshotStore {
  const entries = new Map<string, { snapshot: InstanceSnapshot; expiresAt: number }>();
  return {
    async write(snapshot, ttlMs) {
      entries.set(snapshot.instanceId, { snapshot, expiresAt: now() + ttlMs });
    },
    async readAll() {
      const t = now();
      const live: InstanceSnapshot[] = [];
      for (const [id, entry] of entries) {
        if (entry.expiresAt <= t) entries.delete(id);
        else live.push(entry.snapshot);
      }
      return live.sort((a, b) => a.instanceId.localeCompare(b.instanceId));
    },
  };
}

/** Shared key-value state: the HTTP response cache and its version counters, the session cache. */
export interface Cache {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
  /** Sets only when the key is absent (SET NX). */
  add(key: string, value: string, ttlSeconds: number): Promise<void>;
  del(...keys: string[]): Promise<void>;
  /** Values of several keys at once (MGET): null for a missing one. */
  getMany(keys: string[]): Promise<(string | null)[]>;
  /** Adds one to a counter that never expires (a version); returns the new value. */
  incr(key: string): Promise<number>;
  /** Raises a counter that never expires to `value` unless it is already higher (atomic). */
  raise(key: string, value: number): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

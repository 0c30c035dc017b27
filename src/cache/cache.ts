/** Shared key-value state: API cache, session cache, rate-limit counters. */
export interface Cache {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
  /** Sets only when the key is absent (SET NX). */
  add(key: string, value: string, ttlSeconds: number): Promise<void>;
  del(...keys: string[]): Promise<void>;
  /** Increments a counter that expires `windowSeconds` after its first increment. */
  hit(key: string, windowSeconds: number): Promise<{ count: number; resetInSeconds: number }>;
  /** A counter made by `hit`, read without counting; null when absent or expired. */
  peek(key: string): Promise<{ count: number; resetInSeconds: number } | null>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

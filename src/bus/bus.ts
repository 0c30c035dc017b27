export type BusHandler = (payload: string) => void;

/**
 * Fan-out between instances. At-most-once: a message published while a
 * subscriber is disconnected is lost, so callers recover from Postgres.
 */
export interface Bus {
  publish(channel: string, payload: string): Promise<void>;
  /** Returns the unsubscribe function. The upstream subscription lives while any local handler does. */
  subscribe(channel: string, handler: BusHandler): Promise<() => Promise<void>>;
  /** Called after the connection to the bus came back (messages may have been lost meanwhile). */
  onReconnect?(handler: () => void): void;
  ping(): Promise<void>;
  close(): Promise<void>;
}

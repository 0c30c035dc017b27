import type { Socket } from "../socket-context.ts";

/**
 * The open sockets of this instance, by session (a revoked or expired session closes
 * its sockets with 4001) and by user (for the per-user caps).
 */
export function createSessionSockets() {
  const all = new Set<Socket>();
  const bySession = new Map<string, Set<Socket>>();
  const byUser = new Map<string, Set<Socket>>();
  const put = (map: Map<string, Set<Socket>>, key: string, ws: Socket) => {
    let set = map.get(key);
    if (!set) map.set(key, (set = new Set()));
    set.add(ws);
  };
  const drop = (map: Map<string, Set<Socket>>, key: string, ws: Socket) => {
    const set = map.get(key);
    set?.delete(ws);
    if (set?.size === 0) map.delete(key);
  };
  return {
    all: () => all.values(),
    sessionIds: () => [...bySession.keys()],
    ofUser: (userId: string): ReadonlySet<Socket> => byUser.get(userId) ?? new Set(),
    /** False when the socket was already known. */
    add(ws: Socket) {
      if (all.has(ws)) return false;
      all.add(ws);
      put(bySession, ws.data.sessionId, ws);
      put(byUser, ws.data.user.id, ws);
      return true;
    },
    /** False when the socket was not known. */
    remove(ws: Socket) {
      if (!all.delete(ws)) return false;
      drop(bySession, ws.data.sessionId, ws);
      drop(byUser, ws.data.user.id, ws);
      return true;
    },
    close(sessionId: string) {
      for (const ws of bySession.get(sessionId) ?? []) ws.close(4001, "signed out");
    },
  };
}

export type SessionSockets = ReturnType<typeof createSessionSockets>;

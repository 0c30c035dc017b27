import type { Socket } from "../socket-context.ts";

/** The open sockets of this instance, by session: a revoked or expired session closes its sockets with 4001. */
export function createSessionSockets() {
  const all = new Set<Socket>();
  const bySession = new Map<string, Set<Socket>>();
  return {
    all: () => all.values(),
    sessionIds: () => [...bySession.keys()],
    /** False when the socket was already known. */
    add(ws: Socket) {
      if (all.has(ws)) return false;
      all.add(ws);
      let set = bySession.get(ws.data.sessionId);
      if (!set) bySession.set(ws.data.sessionId, (set = new Set()));
      set.add(ws);
      return true;
    },
    /** False when the socket was not known. */
    remove(ws: Socket) {
      if (!all.delete(ws)) return false;
      const set = bySession.get(ws.data.sessionId);
      set?.delete(ws);
      if (set?.size === 0) bySession.delete(ws.data.sessionId);
      return true;
    },
    close(sessionId: string) {
      for (const ws of bySession.get(sessionId) ?? []) ws.close(4001, "signed out");
    },
  };
}

export type SessionSockets = ReturnType<typeof createSessionSockets>;

import type { Me } from "../protocol.ts";

/** Who is calling: set by the auth middleware, read by every capability's routes. */
export interface AuthContext {
  user: Me;
  sessionId: string;
}

/** Hono's typing for this app: what the edge passes in and what middleware sets. */
export interface AppEnv {
  Bindings: { ip?: string };
  Variables: { auth: AuthContext; clientIp: string };
}

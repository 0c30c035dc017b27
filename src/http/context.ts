import type { AuthContext } from "../auth/session.ts";

/** Hono's typing for this app: what the edge passes in and what middleware sets. */
export interface AppEnv {
  Bindings: { ip?: string };
  Variables: { auth: AuthContext };
}

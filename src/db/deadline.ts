import type { Sql } from "postgres";
import { DatabaseUnavailableError } from "./unavailable.ts";

// Postgres's own statement_timeout cannot fire when the server is frozen or unreachable, so the
// client keeps a deadline of its own. postgres.js has none: this arms one on every statement
// drizzle and the hot paths send (`unsafe`) and on every transaction (`begin`).

/** The parts of a postgres.js query this module touches. */
interface PendingQuery {
  state: unknown;
  resolve(value: unknown): void;
  reject(err: unknown): void;
  cancel(): unknown;
}

const late = (ms: number) => new DatabaseUnavailableError(`the database did not answer within ${ms} ms`);

/**
 * Past `ms` the caller gets DatabaseUnavailableError. A query still waiting for a pooled
 * connection is also taken out of the queue, so a stalled server gets no backlog from it; one
 * already sent runs when the server wakes (its answer is then ignored).
 */
export function armStatement<Q>(query: Q, ms: number): Q {
  const q = query as unknown as PendingQuery;
  const { resolve, reject } = q;
  const timer = setTimeout(() => {
    reject(late(ms));
    if (!q.state) void Promise.resolve(q.cancel()).catch(() => {});
  }, ms);
  q.resolve = (value) => (clearTimeout(timer), resolve(value));
  q.reject = (err) => (clearTimeout(timer), reject(err));
  return query;
}

/**
 * A transaction answers within `ms` at each step where it waits on the server alone: getting a
 * connection and BEGIN, each statement, COMMIT. A caller that gave up before it started never
 * runs its body; a statement that timed out is reported at once, without waiting for the
 * ROLLBACK a stalled server cannot answer.
 */
function beginWithin(sql: Sql, ms: number, args: unknown[]): Promise<unknown> {
  const body = args.pop() as (tx: Sql) => unknown;
  let expired = false;
  return new Promise((resolve, reject) => {
    const giveUp = () => {
      expired = true;
      reject(late(ms));
    };
    let timer = setTimeout(giveUp, ms);
    const run = async (tx: Sql) => {
      clearTimeout(timer);
      if (expired) throw late(ms);
      try {
        const result = await body(withDeadline(tx, ms));
        timer = setTimeout(giveUp, ms);
        return result;
      } catch (err) {
        if (err instanceof DatabaseUnavailableError) reject(err);
        throw err;
      }
    };
    (sql.begin as (...a: unknown[]) => Promise<unknown>)(...args, run).then(
      (value) => (clearTimeout(timer), resolve(value)),
      (err) => (clearTimeout(timer), reject(err)),
    );
  });
}

/** The same client, with a deadline of `ms` on every statement and transaction step. */
export function withDeadline<S extends Sql>(sql: S, ms: number): S {
  return new Proxy(sql, {
    get(target, prop, receiver) {
      if (prop === "unsafe") return (...args: Parameters<Sql["unsafe"]>) => armStatement(target.unsafe(...args), ms);
      if (prop === "begin") return (...args: unknown[]) => beginWithin(target, ms, args);
      return Reflect.get(target, prop, receiver);
    },
  });
}

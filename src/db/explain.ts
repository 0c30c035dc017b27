import type { SQLWrapper } from "drizzle-orm";
import { PgDialect } from "drizzle-orm/pg-core";
import type { Database } from "./client.ts";

export interface Explained {
  /** EXPLAIN (ANALYZE, BUFFERS) as Postgres prints it. */
  plan: string;
  /** Shared buffers the whole statement touched (hit + read), from the top node. */
  buffers: number;
  ms: number;
}

type Query = SQLWrapper | { toSQL(): { sql: string; params: unknown[] } };

const dialect = new PgDialect();

/** Runs `query` under EXPLAIN (ANALYZE, BUFFERS): what the bench prints and the plan tests bound. */
export async function explain(database: Database, query: Query): Promise<Explained> {
  const { sql, params } = "toSQL" in query ? query.toSQL() : dialect.sqlToQuery(query.getSQL());
  const rows = await database.queryRows<Record<string, string>>(`explain (analyze, buffers) ${sql}`, params);
  const plan = rows.map((r) => Object.values(r)[0]).join("\n");
  // The first Buffers line is the top node's: it includes every node and subplan below it.
  const top = /Buffers: shared((?: \w+=\d+)+)/.exec(plan)?.[1] ?? "";
  const count = (kind: string) => Number(new RegExp(`${kind}=(\\d+)`).exec(top)?.[1] ?? 0);
  const ms = Number(/Execution Time: ([\d.]+) ms/.exec(plan)?.[1] ?? NaN);
  return { plan, buffers: count("hit") + count("read"), ms };
}

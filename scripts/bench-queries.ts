// The expensive reads on a large history: EXPLAIN (ANALYZE, BUFFERS) of each, against a
// throwaway Postgres seeded with generate_series.
//   bun run bench:queries [--messages 1000000] [--plans]
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { openDatabase } from "../src/db/client.ts";
import { explain } from "../src/db/explain.ts";
import { readQueries, unboundedQueries } from "./read-queries.ts";
import { seedMessages } from "./seed-messages.ts";
import { startPostgres } from "./services.ts";

const { values } = parseArgs({
  options: {
    messages: { type: "string", default: "1000000" },
    plans: { type: "boolean", default: true },
    "no-plans": { type: "boolean", default: false },
  },
});
const MESSAGES = Number(values.messages);
if (!Number.isInteger(MESSAGES) || MESSAGES < 1000) throw new Error("--messages must be an integer >= 1000");

const dir = mkdtempSync(join(tmpdir(), "chat-bench-queries-"));
const pg = await startPostgres(dir);
// Seeding a million rows and EXPLAIN ANALYZE take longer than a request's statement deadline.
const database = await openDatabase({ url: pg.url, dataDir: dir, poolSize: 2, statementTimeoutMs: 600_000 });
try {
  await database.migrate();
  const started = performance.now();
  const seeded = await seedMessages(database, { messages: MESSAGES });
  console.log(`seeded ${MESSAGES.toLocaleString("en")} messages (${seeded.bigRoomMessages.toLocaleString("en")} in one room, the rest in ${seeded.roomIds.length - 1} others) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const [pages] = await database.queryRows<{ pages: string }>("select relpages::text as pages from pg_class where relname = 'messages'", []);
  console.log(`messages table: ${Number(pages!.pages).toLocaleString("en")} pages of 8 KiB\n`);

  const results: { name: string; buffers: number; ms: number }[] = [];
  for (const { name, query } of [...readQueries(database, seeded), ...unboundedQueries(seeded)]) {
    await explain(database, query); // warm the cache: the second run shows the plan's own cost
    const { plan, buffers, ms } = await explain(database, query);
    results.push({ name, buffers, ms });
    if (!values["no-plans"]) console.log(`== ${name}\n${plan}\n`);
  }
  console.log("query | shared buffers (hit+read) | execution ms");
  console.log("---|---|---");
  for (const r of results) console.log(`${r.name} | ${r.buffers.toLocaleString("en")} | ${r.ms.toFixed(2)}`);
  console.log(`\nload average (1/5/15 min): ${loadavg().map((l) => l.toFixed(2)).join(" / ")}`);
} finally {
  await database.close();
  await pg.stop();
  rmSync(dir, { recursive: true, force: true });
}

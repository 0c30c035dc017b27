// The send path alone: the messages store against a throwaway Postgres, no sockets.
//   bun run bench:send [--sends 10000] [--concurrency 20] [--rooms 40]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { openDatabase } from "../src/db/client.ts";
import { users } from "../src/db/schema.ts";
import { createDomainEvents } from "../src/events.ts";
import { createMessages } from "../src/messages/store.ts";
import { createRooms } from "../src/rooms/store.ts";
import { startPostgres } from "./services.ts";

const { values } = parseArgs({
  options: {
    sends: { type: "string", default: "10000" },
    concurrency: { type: "string", default: "20" },
    rooms: { type: "string", default: "40" },
  },
});
const SENDS = Number(values.sends);
const CONCURRENCY = Number(values.concurrency);
const ROOMS = Number(values.rooms);

const dir = mkdtempSync(join(tmpdir(), "chat-bench-send-"));
const pg = await startPostgres(dir);
const database = await openDatabase({ url: pg.url, dataDir: dir, poolSize: CONCURRENCY });
try {
  await database.migrate();
  const [author] = await database.db
    .insert(users)
    .values({ email: "bench@example.com", username: "bench", passwordHash: "unused" })
    .returning({ id: users.id });
  const events = createDomainEvents(() => {});
  const rooms = createRooms(database.db, events);
  const messages = createMessages({ database, events, rooms });
  const roomIds: string[] = [];
  for (let i = 0; i < ROOMS; i++) roomIds.push((await rooms.create(author!.id, { name: `bench ${i}` })).id);

  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = next++; i < SENDS; i = next++) {
        await messages.send({ roomId: roomIds[i % ROOMS]!, userId: author!.id, content: `message ${i}`, clientMsgId: `b${i}` });
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  console.log(`${SENDS} sends over ${ROOMS} rooms, ${CONCURRENCY} at a time: ${(SENDS / seconds).toFixed(0)} sends/s`);
} finally {
  await database.close();
  await pg.stop();
  rmSync(dir, { recursive: true, force: true });
}

// A client that stops reading is cut off with 4008 without slowing the room,
// then resumes with afterSeq and ends with every message once, in order.
import { afterAll, expect, test } from "bun:test";
import { resolve } from "node:path";
import { lineReader } from "../../scripts/lib/process.ts";
import { childEnv } from "../../src/env.ts";
import { startServer, type ServerProcess } from "../support/server-process.ts";
import { api, signUp } from "../support/test-cluster.ts";
import { createDatabase, serverEnv } from "../support/test-app.ts";
import { ChatClient } from "../support/ws-client.ts";

let server: ServerProcess | undefined;
afterAll(async () => {
  await server?.stop("SIGKILL");
});

test("a frozen client is closed with 4008, the room goes on, and the client resumes with nothing lost", async () => {
  server = startServer({
    DATABASE_URL: await createDatabase(),
    REDIS_URL: serverEnv().REDIS_URL!,
    WS_MAX_BUFFERED_BYTES: "65536",
    // The resume replays everything it missed (no truncation), so its count can be checked.
    WS_REPLAY_MAX: "10000",
    RATE_LIMIT_MULTIPLIER: "1000",
    LOG_LEVEL: "warn",
  });
  await server.waitReady();
  const [sender, watcher, sleeper] = await Promise.all([signUp(server.url), signUp(server.url), signUp(server.url)]);
  const room = (await api(server.url, "POST", "/api/rooms", sender.token, { name: `slow ${Date.now()}` })).body as { id: string };

  const fast = await ChatClient.connect(server.url, watcher.token);
  await fast.join(room.id);
  const total = 2500;
  const child = Bun.spawn(["bun", resolve(import.meta.dir, "../support/ws-child.ts"), server.url, sleeper.token, room.id, String(total)], {
    env: childEnv(),
    stdout: "pipe",
    stderr: "inherit",
  });
  const nextLine = lineReader(child.stdout);
  const joined = JSON.parse(await nextLine());
  expect(joined.type).toBe("joined");

  child.kill("SIGSTOP");
  const from = await ChatClient.connect(server.url, sender.token);
  const content = "x".repeat(4000);
  for (let i = 0; i < total; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, total - i) }, (_, j) =>
        from.request("send_message", { roomId: room.id, content, clientMsgId: `m${i + j}` }, 15_000),
      ),
    );
  }
  await fast.until(() => fast.messageSeqs(room.id).length >= total, 30_000);
  expect(fast.messageSeqs(room.id)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
  await Bun.sleep(600); // the server's sweep runs every 250 ms

  child.kill("SIGCONT");
  const done = JSON.parse(await nextLine());
  expect(done.type).toBe("done");
  expect(done.closeCodes).toContain(4008);
  expect(done.seqs).toEqual(Array.from({ length: total }, (_, i) => i + 1));
  expect(await child.exited).toBe(0);
  fast.close();
  from.close();
}, 90_000);

// The join seam on a real instance: replays read from Postgres are made slow on
// purpose so that live messages land in the middle of them.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { api, signUp, startInstances } from "../../test/support/test-cluster.ts";
import { ChatClient } from "../../test/support/ws-client.ts";
import type { HubDomain } from "./hub-domain.ts";

let cluster: Awaited<ReturnType<typeof startInstances>>;
let url: string;
const clients: ChatClient[] = [];
/** Added before every replay page the hub reads (the seam's width). */
let replayDelayMs = 0;
/** Runs once, before the next replay page is read. */
let beforeNextPage: (() => Promise<void>) | undefined;
/** Runs once, after the next replay page was read (before the hub sees it). */
let afterNextPage: (() => Promise<void>) | undefined;

const slowReplays = (domain: HubDomain): HubDomain => ({
  ...domain,
  async eventsAfter(roomId, afterSeq, limit) {
    const hook = beforeNextPage;
    beforeNextPage = undefined;
    await hook?.();
    if (replayDelayMs) await Bun.sleep(replayDelayMs);
    const page = await domain.eventsAfter(roomId, afterSeq, limit);
    const after = afterNextPage;
    afterNextPage = undefined;
    await after?.();
    return page;
  },
});

beforeAll(async () => {
  cluster = await startInstances(1, { RATE_LIMIT_MULTIPLIER: "1000", WS_REPLAY_MAX: "5000" }, { wrapDomain: slowReplays, maxJoinerBuffer: 5 });
  url = cluster.instances[0]!.url;
});
afterAll(async () => {
  for (const c of clients) c.close();
  await cluster?.stop();
});

async function connect(token: string) {
  const c = await ChatClient.connect(url, token);
  clients.push(c);
  return c;
}

async function roomWith(messages: number) {
  const owner = await signUp(url);
  const room = (await api(url, "POST", "/api/rooms", owner.token, { name: `seam ${Math.random()}` })).body as { id: string; slug: string };
  for (let i = 0; i < messages; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, messages - i) }, (_, j) =>
        api(url, "POST", `/api/rooms/${room.id}/messages`, owner.token, { content: `old ${i + j}`, clientMsgId: `old-${i + j}` }),
      ),
    );
  }
  return { owner, room };
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("join seam", () => {
  test("joined, then presence, then the replay, then live events: messages racing a paged replay arrive once, in order", async () => {
    const { owner, room } = await roomWith(1_100); // three replay pages of 500
    const sender = await connect(owner.token);
    await sender.join(room.id);
    const reader = await connect((await signUp(url)).token);
    replayDelayMs = 40;
    try {
      const joining = reader.join(room.id, 0);
      const live = Promise.all(range(1, 30).map((i) => sender.request("send_message", { roomId: room.id, content: `live ${i}` })));
      await Promise.all([joining, live]);
      await reader.until(() => reader.messageSeqs(room.id).length >= 1_130, 10_000);
    } finally {
      replayDelayMs = 0;
    }
    expect(reader.messageSeqs(room.id)).toEqual(range(1, 1_130));
    // Per-user frames (membership_added, room_activity) are not part of the room's stream.
    const kinds = reader.frames.map((f) => f.event).filter((e) => !["membership_added", "membership_removed", "room_activity"].includes(e));
    expect(kinds.slice(0, 3)).toEqual(["joined", "presence", "new_message"]);
    await Bun.sleep(200);
    expect(reader.messageSeqs(room.id).length).toBe(1_130);
  }, 30_000);

  test("a joiner whose held events pass their bound reads them from Postgres: none lost, none repeated", async () => {
    const { owner, room } = await roomWith(3);
    const sender = await connect(owner.token);
    await sender.join(room.id);
    const reader = await connect((await signUp(url)).token);
    // Once the first page (1..3) is read, 40 live messages are released: far past the bound of 5.
    afterNextPage = async () => {
      await Promise.all(range(1, 40).map((i) => sender.request("send_message", { roomId: room.id, content: `burst ${i}` })));
      await Bun.sleep(100);
    };
    await reader.join(room.id, 0);
    await reader.until(() => reader.messageSeqs(room.id).length >= 43, 10_000);
    await Promise.all(range(1, 5).map((i) => sender.request("send_message", { roomId: room.id, content: `after ${i}` })));
    await reader.until(() => reader.messageSeqs(room.id).length >= 48, 10_000);
    expect(reader.messageSeqs(room.id)).toEqual(range(1, 48));
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(Number(/^ws_joiner_overflows_total\S* (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
  }, 30_000);

  test("a member removed while joining gets not_found and no subscription", async () => {
    const { owner, room: publicRoom } = await roomWith(0);
    const priv = (await api(url, "POST", "/api/rooms", owner.token, { name: `priv ${Math.random()}`, isPrivate: true })).body as { id: string };
    const member = await signUp(url);
    expect((await api(url, "POST", `/api/rooms/${priv.id}/members`, owner.token, { userId: member.id })).status).toBeLessThan(300);
    const c = await connect(member.token);
    beforeNextPage = async () => {
      expect((await api(url, "DELETE", `/api/rooms/${priv.id}/members/${member.id}`, owner.token)).status).toBe(204);
    };
    replayDelayMs = 20;
    const answer = await c.request("join_room", { roomId: priv.id, afterSeq: 0 }).finally(() => (replayDelayMs = 0));
    expect(answer.event).toBe("error");
    expect(answer.data.code).toBe("not_found");
    await api(url, "POST", `/api/rooms/${priv.id}/messages`, owner.token, { content: "secret", clientMsgId: "s" });
    await Bun.sleep(200);
    expect(c.frames.some((f) => f.event === "new_message")).toBe(false);
    expect(publicRoom.id).toBeString();
  }, 30_000);
});

// A WebSocket frame fuzzer against a real `bun run start` process: several sockets send random
// and malformed frames (NUL bytes, lone surrogates, wrong types, out-of-range numbers, unknown
// events, frames over the byte limit, binary, broken JSON) for a bounded time, mixed with good
// ones. The instance stays up, every bad frame gets an error frame carrying its ref (or, when
// its ref cannot be read, an error frame without one), and its RSS, read from /proc, stays bounded.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, readdirSync } from "node:fs";
import { resolve } from "node:path";
import type { Subprocess } from "bun";
import { captureOutput, stopProcess, waitReady, type CapturedOutput } from "../../scripts/lib/process.ts";
import { freePort } from "../../scripts/services.ts";
import { childEnv } from "../../src/env.ts";
import { signUp } from "../support/test-cluster.ts";
import { createDatabase, serverEnv } from "../support/test-app.ts";

const ROOT = resolve(import.meta.dir, "../..");
const SOCKETS = 6;
const FUZZ_MS = 6_000;
const MAX_FRAME_BYTES = 32_768;
/** Far above an idle instance (about 100 MB here) and far below what unbounded queues reached (900 MB). */
const RSS_LIMIT_BYTES = 400 * 1024 * 1024;

let proc: Subprocess<"ignore", "pipe", "pipe">;
let url: string;
let serverPid: number;
let output: CapturedOutput;

/** The `bun src/main.ts` process under `bun run start` (which runs the script through a shell). */
function findServerPid(root: number): number | undefined {
  const children = (pid: number): number[] => {
    try {
      return readdirSync(`/proc/${pid}/task`).flatMap((t) =>
        readFileSync(`/proc/${pid}/task/${t}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number),
      );
    } catch {
      return [];
    }
  };
  for (const queue = [root]; queue.length; ) {
    const pid = queue.shift()!;
    const cmdline = (() => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8");
      } catch {
        return "";
      }
    })();
    if (cmdline.includes("src/main.ts") && !cmdline.includes("run\0start")) return pid;
    queue.push(...children(pid));
  }
  return undefined;
}

const rssOf = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) * 1024;

beforeAll(async () => {
  const port = freePort();
  url = `http://127.0.0.1:${port}`;
  proc = Bun.spawn(["bun", "run", "start"], {
    cwd: ROOT,
    env: childEnv({
      PORT: String(port),
      HOST: "127.0.0.1",
      DATABASE_URL: await createDatabase(),
      REDIS_URL: serverEnv().REDIS_URL!,
      // Frames are answered, not rate limited: every bad one must reach the parser.
      RATE_LIMIT_MULTIPLIER: "1000",
      WS_MAX_FRAME_BYTES: String(MAX_FRAME_BYTES),
      LOG_LEVEL: "warn",
    }),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  output = captureOutput(proc, { keepBytes: 4 * 1024 * 1024 });
  await waitReady(url, { timeoutMs: 60_000, proc, output: output.text, what: "server" });
  serverPid = findServerPid(proc.pid)!;
  if (!serverPid) throw new Error("no src/main.ts process under bun run start");
}, 90_000);

afterAll(async () => {
  if (proc) await stopProcess(proc, "SIGTERM");
});

/** Small seeded PRNG (mulberry32), so a failing run can be repeated with its seed. */
function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Planned = { text: string | Uint8Array; ref?: string; bad: boolean };

function frameMaker(random: () => number, socket: number) {
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
  const junk = () =>
    pick([
      "a\u0000b", "\u0000", "\ud800", "x\udfffy", "\ud83d", "", " ", "€".repeat(5), "general\u0000",
      -1, 1.5, 2 ** 53, -(2 ** 60), 1e308, Number.MAX_SAFE_INTEGER + 2, NaN, true, null, [], {}, { a: 1 }, "x".repeat(300),
    ] as const);
  const badData: (() => [string, unknown])[] = [
    () => ["join_room", { roomId: pick(["\u0000", "gen\u0000eral", "\ud800", junk()]) }],
    () => ["join_room", { roomId: "general", afterSeq: pick([-1, 1.5, 2 ** 60, "1", null]) }],
    () => ["leave_room", { roomId: junk(), extra: 1 }],
    () => ["send_message", { roomId: "general", content: pick(["a\u0000b", "\ud800", "", "   ", "x".repeat(4001), 5]) }],
    () => ["send_message", { roomId: "general", content: "hi", timestamp: pick([2 ** 60, -5, 1e308, "now", -(2 ** 60)]) }],
    () => ["send_message", { roomId: "general", content: "hi", clientMsgId: pick(["a b", "\u0000", "x".repeat(200), 7]) }],
    () => ["typing", { roomId: pick([junk(), 1]) }],
    () => ["read", { roomId: "general", seq: pick([-1, 0.5, 2 ** 60, "3", null]) }],
    () => ["read", { roomId: "\u0000x", seq: 1 }],
    () => ["ping", { unexpected: junk() }],
    () => [pick(["nope", "JOIN_ROOM", "\u0000", "__proto__", "constructor", "x".repeat(64)]), {}],
  ];
  let n = 0;
  return (): Planned => {
    const ref = `s${socket}-${n++}`;
    const roll = random();
    // Good frames that always get the same answer (a second join while one is in flight is refused).
    if (roll < 0.2) return { text: JSON.stringify({ event: "ping", data: {}, ref }), ref, bad: false };
    if (roll < 0.7) {
      const [event, data] = pick(badData)();
      return { text: JSON.stringify({ event, data, ref }), ref, bad: true };
    }
    if (roll < 0.78) return { text: JSON.stringify({ event: "ping", data: {}, ref, extra: junk() }), ref, bad: true };
    // Frames whose ref cannot be read: the error comes without one.
    if (roll < 0.84) return { text: pick(["{", "\u0000", '{"event":"ping"\u0000}', "\ud800", "[]", "null", "42", '"x"']), bad: true };
    if (roll < 0.88) return { text: JSON.stringify({ event: "ping", data: {}, ref: pick([{}, [], 1.5, "x".repeat(65)]) }), bad: true };
    if (roll < 0.92) return { text: new Uint8Array([0, 255, 1, 2]), bad: true };
    // Over the limit in bytes though not in UTF-16 units (3 bytes per €). A frame over the limit is
    // not parsed, so its error carries no ref, whatever the frame holds.
    return { text: JSON.stringify({ event: "send_message", data: { roomId: "general", content: "€".repeat(12_000) }, ref }), bad: true };
  };
}

describe("WebSocket frame fuzzing", () => {
  test("random and malformed frames from several sockets: every bad one answered, the instance up, RSS bounded", async () => {
    const seed = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`[fuzz-ws] seed ${seed} (FUZZ_SEED=${seed} repeats this run)`);
    const random = prng(seed);
    const user = await signUp(url, "fz");
    const rssBefore = rssOf(serverPid);
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssOf(serverPid))), 100);

    const sockets = await Promise.all(
      Array.from({ length: SOCKETS }, async (_, i) => {
        const ws = new WebSocket(`${url.replace("http", "ws")}/ws?token=${user.token}`);
        const state = {
          ws,
          answers: new Map<string, { event: string; code?: string }>(),
          refless: 0,
          expectedRefless: 0,
          bad: new Set<string>(),
          good: new Set<string>(),
          closed: undefined as number | undefined,
          make: frameMaker(random, i),
          texts: new Map<string, string>(),
        };
        ws.onmessage = (e) => {
          const frame = JSON.parse(String(e.data));
          if (frame.ref !== undefined) state.answers.set(String(frame.ref), { event: frame.event, code: frame.data?.code });
          else if (frame.event === "error") state.refless += 1;
        };
        ws.onclose = (e) => (state.closed = e.code);
        await new Promise((ok, fail) => ((ws.onopen = ok), (ws.onerror = fail)));
        return state;
      }),
    );

    const until = Date.now() + FUZZ_MS;
    let sent = 0;
    while (Date.now() < until) {
      for (const s of sockets) {
        for (let k = 0; k < 5; k++) {
          const planned = s.make();
          if (planned.ref) (planned.bad ? s.bad : s.good).add(planned.ref);
          if (planned.ref) s.texts.set(planned.ref, String(planned.text).slice(0, 200));
          else s.expectedRefless += 1;
          s.ws.send(planned.text);
          sent += 1;
        }
      }
      await Bun.sleep(5);
    }

    // Every frame sent gets its answer.
    const deadline = Date.now() + 20_000;
    const settled = () => sockets.every((s) => s.answers.size >= s.bad.size + s.good.size && s.refless >= s.expectedRefless);
    while (!settled() && Date.now() < deadline) await Bun.sleep(50);
    clearInterval(sampler);

    for (const s of sockets) {
      expect(s.closed).toBeUndefined();
      const unanswered = [...s.bad].filter((ref) => s.answers.get(ref)?.event !== "error");
      if (unanswered.length) console.error(unanswered.slice(0, 5).map((r) => [s.texts.get(r), s.answers.get(r)]));
      expect(unanswered).toEqual([]);
      const goodRefused = [...s.good].filter((ref) => !["pong", "joined"].includes(s.answers.get(ref)?.event ?? ""));
      expect(goodRefused).toEqual([]);
      expect(s.refless).toBe(s.expectedRefless);
      // Nothing crashed inside a handler.
      expect([...s.answers.values()].filter((a) => a.code === "internal")).toEqual([]);
      s.ws.close();
    }
    expect(sent).toBeGreaterThan(1000);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    expect(proc.exitCode).toBeNull();
    console.log(`[fuzz-ws] ${sent} frames; server RSS ${(rssBefore / 1048576).toFixed(0)} MB before, ${(rssPeak / 1048576).toFixed(0)} MB at most`);
    expect(rssPeak).toBeLessThan(RSS_LIMIT_BYTES);
    expect(output.text()).not.toContain('"level":"error"');
  }, 60_000);

  test("targeted: NUL room ids, out-of-range timestamps and frames over the limit in bytes get error frames with their ref", async () => {
    const user = await signUp(url, "fz");
    const ws = new WebSocket(`${url.replace("http", "ws")}/ws?token=${user.token}`);
    const frames: any[] = [];
    ws.onmessage = (e) => frames.push(JSON.parse(String(e.data)));
    await new Promise((ok, fail) => ((ws.onopen = ok), (ws.onerror = fail)));
    const answer = async (frame: unknown) => {
      const before = frames.length;
      ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
      const deadline = Date.now() + 5_000;
      while (frames.length === before && Date.now() < deadline) await Bun.sleep(10);
      return frames[before];
    };
    for (const [ref, event, data] of [
      ["nul-join", "join_room", { roomId: "gen\u0000eral" }],
      ["nul-read", "read", { roomId: "\u0000", seq: 0 }],
      ["nul-send", "send_message", { roomId: "general", content: "a\u0000b" }],
      ["sur-send", "send_message", { roomId: "general", content: "a\ud800b" }],
      ["big-ts", "send_message", { roomId: "general", content: "hi", timestamp: 2 ** 60 }],
      ["neg-ts", "send_message", { roomId: "general", content: "hi", timestamp: -(2 ** 60) }],
    ] as const) {
      const got = await answer({ event, data, ref });
      expect(got).toMatchObject({ event: "error", ref, data: { code: "invalid_data" } });
    }
    // 30,000 € is 30,000 UTF-16 units but 90,000 bytes: over a 32 KiB limit.
    const euros = await answer({ event: "send_message", data: { roomId: "general", content: "€".repeat(30_000) }, ref: "euros" });
    expect(euros).toMatchObject({ event: "error", data: { code: "too_large" } });
    expect((await answer({ event: "ping", data: {}, ref: "still-open" })).event).toBe("pong");
    ws.close();
  });
});

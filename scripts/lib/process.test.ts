import { afterAll, describe, expect, test } from "bun:test";
import { freePort } from "../services.ts";
import { captureOutput, lineReader, processTree, readLines, signalTree, stopProcess, waitReady } from "./process.ts";

const spawned: ReturnType<typeof Bun.spawn>[] = [];
const bun = (code: string) => {
  const proc = Bun.spawn(["bun", "-e", code], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  spawned.push(proc);
  return proc;
};
afterAll(async () => {
  for (const proc of spawned) if (proc.exitCode === null) proc.kill("SIGKILL");
});

describe("process helpers", () => {
  test("readLines splits across chunks and keeps a last line without a newline", async () => {
    const proc = bun(`process.stdout.write("a\\nb"); await Bun.sleep(50); process.stdout.write("c\\nd");`);
    const lines: string[] = [];
    await readLines(proc.stdout, (line) => lines.push(line));
    expect(lines).toEqual(["a", "bc", "d"]);
  });

  test("lineReader hands out lines on demand, then says the stream ended", async () => {
    const proc = bun(`console.log("one"); await Bun.sleep(100); console.log("two");`);
    const next = lineReader(proc.stdout);
    expect(await next()).toBe("one");
    expect(await next()).toBe("two");
    await expect(next(2_000)).rejects.toThrow("ended");
  });

  test("captureOutput keeps the tail of stdout and stderr", async () => {
    const proc = bun(`console.log("out"); console.log("x".repeat(100)); await Bun.sleep(100); console.error("err");`);
    const out = captureOutput(proc, { keepBytes: 50 });
    await proc.exited;
    await Bun.sleep(50);
    // Only the tail is kept, of both streams.
    expect(out.text().length).toBeLessThanOrEqual(50);
    expect(out.text()).toContain("err\n");
    expect(out.text()).toContain("x".repeat(30));
    expect(out.text()).not.toContain("out");
  });

  test("stopProcess kills a process that ignores SIGTERM after the grace, and is safe on one that exited", async () => {
    const proc = bun(`process.on("SIGTERM", () => {}); console.log("up"); setInterval(() => {}, 1000);`);
    await lineReader(proc.stdout)();
    const started = Date.now();
    const code = await stopProcess(proc, "SIGTERM", 300);
    expect(proc.signalCode).toBe("SIGKILL");
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await stopProcess(proc)).toBe(code);
  });

  test("waitReady resolves on 200, fails at once when the process exits, and after its timeout", async () => {
    let ready = false;
    const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response(null, { status: ready ? 200 : 503 }) });
    try {
      const url = `http://127.0.0.1:${server.port}`;
      await expect(waitReady(url, { timeoutMs: 300 })).rejects.toThrow("not ready after 300 ms");
      setTimeout(() => (ready = true), 200);
      await waitReady(url, { timeoutMs: 5_000 });
    } finally {
      server.stop(true);
    }
    const dead = bun(`console.error("boom"); process.exit(3);`);
    const out = captureOutput(dead);
    await dead.exited;
    await Bun.sleep(50);
    await expect(waitReady(`http://127.0.0.1:${freePort()}`, { proc: dead, output: out.text, what: "dead" })).rejects.toThrow(
      /dead exited with 3:\nboom/,
    );
  });

  test("processTree finds descendants; signalTree freezes and thaws them all", async () => {
    const proc = Bun.spawn(["bash", "-c", "sleep 30 & sleep 30 & wait"], { stdout: "ignore", stderr: "ignore" });
    spawned.push(proc);
    await Bun.sleep(200);
    const tree = await processTree(proc.pid);
    expect(tree[0]).toBe(proc.pid);
    expect(tree.length).toBe(3);
    const state = async (pid: number) => (await Bun.file(`/proc/${pid}/stat`).text()).split(") ")[1]![0];
    await signalTree(proc.pid, "SIGSTOP");
    await Bun.sleep(100);
    for (const pid of tree) expect(await state(pid)).toBe("T");
    await signalTree(proc.pid, "SIGCONT");
    await Bun.sleep(100);
    for (const pid of tree) expect(await state(pid)).not.toBe("T");
    await signalTree(proc.pid, "SIGKILL");
  });
});

// Child processes for scripts and system tests, written once: stop one, read its output line
// by line or keep its tail, wait for a server's /readyz, find a process tree (Postgres forks a
// backend per connection: freezing or measuring it means its whole tree).
import type { Subprocess } from "bun";

/** Sends `signal`, then SIGKILL after `graceMs`; resolves with the exit code. Safe on an exited process. */
export async function stopProcess(proc: Subprocess, signal: NodeJS.Signals = "SIGTERM", graceMs = 10_000): Promise<number> {
  if (proc.exitCode === null && !proc.signalCode) proc.kill(signal);
  const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
  const code = await proc.exited;
  clearTimeout(timer);
  return code;
}

/** Calls `onLine` for every line of `stream` (the last one even without a newline); resolves at its end. */
export async function readLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  let partial = "";
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
    const lines = (partial + decoder.decode(chunk, { stream: true })).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) onLine(line);
  }
  if (partial) onLine(partial);
}

/** Reads a stream one line at a time, on demand (a child that reports progress as lines). */
export function lineReader(stream: ReadableStream<Uint8Array>) {
  const lines: string[] = [];
  let ended = false;
  let wake: (() => void) | undefined;
  void readLines(stream, (line) => {
    lines.push(line);
    wake?.();
  }).finally(() => {
    ended = true;
    wake?.();
  });
  return async function nextLine(timeoutMs = 60_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (!lines.length) {
      if (ended) throw new Error("the stream ended");
      if (Date.now() > deadline) throw new Error(`no line within ${timeoutMs} ms`);
      await Promise.race([new Promise<void>((resolve) => (wake = resolve)), Bun.sleep(Math.max(0, deadline - Date.now()))]);
    }
    return lines.shift()!;
  };
}

export interface CapturedOutput {
  /** The last `keepBytes` of stdout and stderr together. */
  text(): string;
}

/** Keeps the tail of a child's stdout and stderr; with `echoPrefix`, also echoes each line to this stderr. */
export function captureOutput(
  proc: Subprocess<any, "pipe", "pipe">,
  opts: { keepBytes?: number; echoPrefix?: string } = {},
): CapturedOutput {
  const keep = opts.keepBytes ?? 64 * 1024;
  let text = "";
  const onLine = (line: string) => {
    text = (text + line + "\n").slice(-keep);
    if (opts.echoPrefix !== undefined) process.stderr.write(`${opts.echoPrefix} ${line}\n`);
  };
  void readLines(proc.stdout, onLine);
  void readLines(proc.stderr, onLine);
  return { text: () => text };
}

/**
 * Polls `${baseUrl}/readyz` until it answers 200. Fails at once when `proc` exits, and after
 * `timeoutMs`; `output` (the child's output) goes into the error.
 */
export async function waitReady(
  baseUrl: string,
  opts: { timeoutMs?: number; proc?: Subprocess; output?: () => string; what?: string } = {},
): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const what = opts.what ?? baseUrl;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (opts.proc && opts.proc.exitCode !== null) {
      throw new Error(`${what} exited with ${opts.proc.exitCode}:\n${opts.output?.() ?? ""}`);
    }
    const res = await fetch(`${baseUrl}/readyz`, { signal: AbortSignal.timeout(2_000) }).catch(() => null);
    await res?.body?.cancel().catch(() => {});
    if (res?.status === 200) return;
    await Bun.sleep(100);
  }
  throw new Error(`${what} not ready after ${timeoutMs} ms:\n${opts.output?.() ?? ""}`);
}

/** Polls `check` until it returns true; fails when `proc` exits first or after `timeoutMs`. */
export async function waitUntil(check: () => Promise<boolean>, what: string, proc?: Subprocess, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc && proc.exitCode !== null) throw new Error(`${what} exited with ${proc.exitCode}`);
    if (await check().catch(() => false)) return;
    await Bun.sleep(100);
  }
  throw new Error(`${what} did not become ready in ${timeoutMs} ms`);
}

/** One /proc/<pid>/stat: parent pid and CPU time (utime + stime) in ms. */
export async function procStat(pid: number): Promise<{ ppid: number; cpuMs: number } | null> {
  const stat = await Bun.file(`/proc/${pid}/stat`).text().catch(() => "");
  if (!stat) return null;
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { ppid: Number(fields[1]), cpuMs: (Number(fields[11]) + Number(fields[12])) * 10 };
}

/** `root` and all its descendants, from /proc. */
export async function processTree(root: number): Promise<number[]> {
  const children = new Map<number, number[]>();
  for (const entry of new Bun.Glob("[0-9]*").scanSync({ cwd: "/proc", onlyFiles: false })) {
    const stat = await procStat(Number(entry));
    if (stat) children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), Number(entry)]);
  }
  const tree: number[] = [];
  for (const stack = [root]; stack.length; ) {
    const pid = stack.pop()!;
    tree.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return tree;
}

/** Signals `root` and every descendant (SIGSTOP / SIGCONT freeze and thaw a whole server). */
export async function signalTree(root: number, signal: NodeJS.Signals) {
  for (const pid of await processTree(root)) {
    try {
      process.kill(pid, signal);
    } catch {
      // gone meanwhile
    }
  }
}

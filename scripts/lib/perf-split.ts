// Where the whole machine's CPU goes during a benchmark: `perf record` samples every core for a
// while, then each sample is put to a role (an instance, Caddy, Postgres, a load generator…) by
// its process id and split into user space and kernel time, the kernel part by the system call
// (or interrupt work) it was in. On loopback a sender's `sendto` also runs the receiver's TCP
// work, so the kernel column is the network path as much as the process's own calls.
import { existsSync } from "node:fs";
import type { Subprocess } from "bun";

export const PERF_HZ = 499;

export interface PerfRecording {
  /** Waits for `perf record` to finish (it stops by itself after the duration). */
  done: Promise<void>;
  proc: Subprocess;
}

/** Samples every core for `seconds` into `dataFile` (needs Debian's linux-perf, run as root). */
export function recordMachine(dataFile: string, seconds: number): PerfRecording {
  if (!Bun.which("perf")) throw new Error("--perf needs perf on PATH: apt-get install -y linux-perf");
  const proc = Bun.spawn(["perf", "record", "-a", "-g", "-F", String(PERF_HZ), "-o", dataFile, "--", "sleep", String(seconds)], {
    stdout: "ignore",
    stderr: "pipe",
  });
  const done = proc.exited.then(async (code) => {
    if (code !== 0) throw new Error(`perf record exited with ${code}: ${(await new Response(proc.stderr).text()).slice(-500)}`);
  });
  // Awaited at the end of the measured phase; a perf that fails at once must not be an unhandled rejection meanwhile.
  done.catch(() => {});
  return { done, proc };
}

/** A sample's role from its process id, or from its thread's name (a process gone by the end). */
export type RoleOf = (pid: number, comm: string) => string | undefined;

export interface RoleSplit {
  role: string;
  /** Percent of one core over the recording, as the other CPU columns are reported. */
  cpuPercent: number;
  userPercent: number;
  kernelPercent: number;
  /** Kernel time by system call ("sendto", "epoll_wait"…), or "irq/softirq", "other kernel". */
  kernelBy: Record<string, number>;
}

/**
 * What the kernel was doing on a sample's behalf, read from its stack (leaf first): the call
 * is the frame just under `do_syscall_64` ("__x64_sys_sendto", "do_writev", "ksys_read"…).
 */
export function kernelReason(stack: string[]): string {
  const entry = stack.indexOf("do_syscall_64");
  if (entry > 0) {
    const call = stack[entry - 1]!.replace(/^(?:__x64_sys_|__do_sys_|__se_sys_|__sys_|ksys_|do_)/, "").replace(/\..*$/, "");
    if (!/^(?:syscall_exit|exit_to_user|syscall_enter|syscall_trace)/.test(call)) return call;
  }
  if (stack.some((f) => f.includes("softirq") || f.startsWith("asm_") || f.startsWith("irq"))) return "irq/softirq";
  if (stack.some((f) => f === "schedule" || f === "__schedule" || f.startsWith("finish_task_switch"))) return "scheduler";
  // In the syscall path but before or after the call itself (entry, exit work, rseq).
  if (entry >= 0 || stack.some((f) => f.startsWith("entry_SYSCALL"))) return "syscall entry/exit";
  return "other kernel";
}

/**
 * Splits `perf script` output of a recording by role. `roleOf(pid, comm)` names the process's
 * role (undefined: "other"). Percentages are of one core over `seconds`.
 */
export function splitSamples(script: string, seconds: number, roleOf: RoleOf): RoleSplit[] {
  const roles = new Map<string, { total: number; user: number; kernel: number; by: Map<string, number> }>();
  const take = (pid: number, comm: string, kernel: boolean, stack: string[]) => {
    const role = pid === 0 ? "idle" : (roleOf(pid, comm) ?? "other");
    let r = roles.get(role);
    if (!r) roles.set(role, (r = { total: 0, user: 0, kernel: 0, by: new Map() }));
    r.total++;
    if (!kernel) return void r.user++;
    r.kernel++;
    const why = kernelReason(stack);
    r.by.set(why, (r.by.get(why) ?? 0) + 1);
  };
  // A sample: a header line ("comm pid/tid time:"), then one frame per line
  // ("\t addr symbol (dso)"), then a blank line.
  let pid = -1;
  let comm = "";
  let stack: string[] = [];
  let kernel = false;
  const flush = () => {
    if (pid >= 0) take(pid, comm, kernel, stack);
    pid = -1;
    stack = [];
    kernel = false;
  };
  for (const line of script.split("\n")) {
    if (!line.trim()) {
      flush();
      continue;
    }
    if (!/^\s/.test(line)) {
      flush();
      const m = /^(.*?)\s+(\d+)\/\d+\s+[\d.]+:/.exec(line);
      pid = m ? Number(m[2]) : -1;
      comm = m?.[1] ?? "";
      continue;
    }
    const frame = /^\s+[0-9a-f]+\s+(\S+)(?:\s+\((.*)\))?/.exec(line);
    if (!frame) continue;
    // The leaf frame decides whether the sample was in the kernel.
    if (stack.length === 0) kernel = (frame[2] ?? "").includes("kernel");
    stack.push(frame[1]!.replace(/\+0x[0-9a-f]+$/, ""));
  }
  flush();
  const perCore = (n: number) => +((n / (PERF_HZ * seconds)) * 100).toFixed(1);
  return [...roles.entries()]
    .map(([role, r]) => ({
      role,
      cpuPercent: perCore(r.total),
      userPercent: perCore(r.user),
      kernelPercent: perCore(r.kernel),
      kernelBy: Object.fromEntries([...r.by.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, perCore(v)])),
    }))
    .sort((a, b) => b.cpuPercent - a.cpuPercent);
}

/** Reads a recording back (`perf script`, process ids as tgid) and splits it by role. */
export async function summarizeRecording(dataFile: string, seconds: number, roleOf: RoleOf): Promise<RoleSplit[]> {
  if (!existsSync(dataFile)) throw new Error(`no perf recording at ${dataFile}`);
  const proc = Bun.spawn(["perf", "script", "-i", dataFile, "-F", "comm,pid,tid,time,ip,sym,dso"], { stdout: "pipe", stderr: "ignore" });
  const text = await new Response(proc.stdout).text();
  await proc.exited;
  return splitSamples(text, seconds, roleOf);
}

/** A table for a report: role, CPU % of a core, user, kernel, the largest kernel reasons. */
export function formatSplit(split: RoleSplit[]): string {
  const rows = split
    .filter((r) => r.role !== "idle" && r.cpuPercent >= 0.5)
    .map((r) => {
      const reasons = Object.entries(r.kernelBy)
        .slice(0, 4)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ");
      return `| ${r.role} | ${r.cpuPercent} | ${r.userPercent} | ${r.kernelPercent} | ${reasons} |`;
    });
  const busy = split.filter((r) => r.role !== "idle");
  const add = (f: (r: RoleSplit) => number) => +busy.reduce((n, r) => n + f(r), 0).toFixed(1);
  rows.push(`| all but idle | ${add((r) => r.cpuPercent)} | ${add((r) => r.userPercent)} | ${add((r) => r.kernelPercent)} | |`);
  return ["| process | CPU % of a core | user | kernel | kernel by call (% of a core) |", "|---|---|---|---|---|", ...rows].join("\n");
}

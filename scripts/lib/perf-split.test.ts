import { expect, test } from "bun:test";
import { formatSplit, kernelReason, PERF_HZ, splitSamples } from "./perf-split.ts";

// Four samples in `perf script -F comm,pid,tid,time,ip,sym,dso` form: two of process 100 (one
// in user space, one in the kernel under sendto), one of 200 at syscall exit, one idle.
const script = `bun 100/100 38417.979260:
\t         1e19bcf [unknown] (/usr/bin/bun)
\t           891f5 start_thread (/usr/lib/x86_64-linux-gnu/libc.so.6)

bun 100/101 38417.984462:
\tffffffff8100a1b2 tcp_sendmsg_locked+0x42 ([kernel.kallsyms])
\tffffffff8100a100 __sys_sendto ([kernel.kallsyms])
\tffffffff8100a0f0 __x64_sys_sendto ([kernel.kallsyms])
\tffffffff821ef666 do_syscall_64 ([kernel.kallsyms])
\t         1b92820 [unknown] (/usr/bin/bun)

HTTP Client 200/203 38417.990001:
\tffffffff821ec354 __get_user_8 ([kernel.kallsyms])
\tffffffff81417494 exit_to_user_mode_loop ([kernel.kallsyms])
\tffffffff821ef85b do_syscall_64 ([kernel.kallsyms])
\t           73d80 [unknown] (/usr/bin/caddy)

swapper     0/0     38417.990500:
\tffffffff821fa71a default_idle ([kernel.kallsyms])
`;

test("samples are put to roles by process id, split into user and kernel time by call", () => {
  const roles = new Map([[100, "bun-1"], [200, "caddy"]]);
  // Over 10 sampling periods, one sample is 10 % of a core.
  const split = splitSamples(script, 10 / PERF_HZ, (pid) => roles.get(pid));
  const one = (n: number) => n * 10;
  const bun = split.find((r) => r.role === "bun-1")!;
  expect(bun).toEqual({ role: "bun-1", cpuPercent: one(2), userPercent: one(1), kernelPercent: one(1), kernelBy: { sendto: one(1) } });
  const caddy = split.find((r) => r.role === "caddy")!;
  expect(caddy.kernelBy).toEqual({ "syscall entry/exit": one(1) });
  expect(split.find((r) => r.role === "idle")?.cpuPercent).toBe(one(1));
  const table = formatSplit(split);
  expect(table).toContain(`| bun-1 | ${one(2)} | ${one(1)} | ${one(1)} | sendto ${one(1)} |`);
  expect(table).not.toContain("| idle |");
  expect(table).toContain(`| all but idle | ${one(3)} |`);
});

test("kernel reasons: the system call first, then interrupts, the scheduler, syscall entry and exit", () => {
  expect(kernelReason(["tcp_v4_rcv", "net_rx_action", "handle_softirqs", "__x64_sys_sendto", "do_syscall_64"])).toBe("sendto");
  expect(kernelReason(["tcp_sendmsg", "sock_write_iter", "vfs_writev", "do_writev", "do_syscall_64", "entry_SYSCALL_64_after_hwframe"])).toBe("writev");
  expect(kernelReason(["__get_user_8", "exit_to_user_mode_loop", "do_syscall_64"])).toBe("syscall entry/exit");
  expect(kernelReason(["tcp_v4_rcv", "handle_softirqs", "asm_sysvec_apic_timer_interrupt"])).toBe("irq/softirq");
  expect(kernelReason(["finish_task_switch.isra.0", "__schedule", "schedule", "exit_to_user_mode_loop", "do_syscall_64"])).toBe("scheduler");
  expect(kernelReason(["do_syscall_64", "entry_SYSCALL_64_after_hwframe"])).toBe("syscall entry/exit");
  expect(kernelReason(["clear_page_erms"])).toBe("other kernel");
});

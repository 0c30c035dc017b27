// CPU and memory of the processes under test, sampled from /proc while a load runs.
// A "process" may be a tree (Postgres forks a backend per connection): its CPU is the
// sum over its descendants, its RSS that of the root and its descendants with shared memory
// counted once.

const TICK_MS = 10; // /proc/<pid>/stat counts in clock ticks of 1/100 s on Linux

export interface Watched {
  name: string;
  pid: number;
  /** Count the process's descendants too. */
  tree?: boolean;
  /** A server's listening port: its established TCP connections are counted too. */
  port?: number;
}

export interface Sample {
  /** Seconds since the sampler started. */
  t: number;
  /** name -> { cpuMs total so far, rssBytes now } */
  procs: Record<string, { cpuMs: number; rssBytes: number; connections?: number }>;
}

/** Established TCP connections per local port, from /proc/net/tcp and tcp6. */
async function establishedByPort(): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    const text = await Bun.file(file).text().catch(() => "");
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4 || cols[3] !== "01") continue; // 01 = ESTABLISHED
      const port = parseInt(cols[1]!.split(":")[1]!, 16);
      out.set(port, (out.get(port) ?? 0) + 1);
    }
  }
  return out;
}

interface ProcInfo {
  ppid: number;
  cpuMs: number;
  rssBytes: number;
}

async function readAll(): Promise<Map<number, ProcInfo>> {
  const out = new Map<number, ProcInfo>();
  for (const entry of new Bun.Glob("[0-9]*").scanSync({ cwd: "/proc", onlyFiles: false })) {
    const stat = await Bun.file(`/proc/${entry}/stat`).text().catch(() => "");
    if (!stat) continue;
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields after the name: state(0) ppid(1) … utime(11) stime(12) … rss pages(21)
    out.set(Number(entry), {
      ppid: Number(fields[1]),
      cpuMs: (Number(fields[11]) + Number(fields[12])) * TICK_MS,
      rssBytes: Number(fields[21]) * 4096,
    });
  }
  return out;
}

/** Private (anonymous) and shared (file, shmem) resident memory of one process, from /proc/<pid>/status. */
async function residentParts(pid: number): Promise<{ privateBytes: number; sharedBytes: number } | null> {
  const text = await Bun.file(`/proc/${pid}/status`).text().catch(() => "");
  if (!text) return null;
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? 0) * 1024;
  // File pages (the binary, libraries) are shared between a tree's processes too.
  return { privateBytes: kb("RssAnon"), sharedBytes: kb("RssFile") + kb("RssShmem") };
}

/**
 * A process's CPU and RSS; for a tree, the CPU of all its processes and their memory with the
 * shared part counted once: Postgres backends map the same shared buffers, and summing their
 * RSS counts those pages again for every backend that touched them (it grows with the number
 * of backends and the pages each has read, not with memory in use).
 */
async function measure(all: Map<number, ProcInfo>, w: Watched) {
  if (!w.tree) {
    const p = all.get(w.pid);
    return { cpuMs: p?.cpuMs ?? 0, rssBytes: p?.rssBytes ?? 0 };
  }
  const children = new Map<number, number[]>();
  for (const [pid, p] of all) children.set(p.ppid, [...(children.get(p.ppid) ?? []), pid]);
  let cpuMs = 0;
  const members: number[] = [];
  const stack = [w.pid];
  while (stack.length) {
    const pid = stack.pop()!;
    const p = all.get(pid);
    if (p) {
      cpuMs += p.cpuMs;
      members.push(pid);
    }
    stack.push(...(children.get(pid) ?? []));
  }
  let privateBytes = 0;
  let sharedBytes = 0;
  for (const part of await Promise.all(members.map(residentParts))) {
    if (!part) continue;
    privateBytes += part.privateBytes;
    sharedBytes = Math.max(sharedBytes, part.sharedBytes);
  }
  return { cpuMs, rssBytes: privateBytes + sharedBytes };
}

/** Samples every `intervalMs` until stop(); the samples keep each process's running CPU total. */
export function startSampler(watched: () => Watched[], intervalMs = 1000) {
  const samples: Sample[] = [];
  const started = performance.now();
  let running = true;
  const take = async () => {
    const all = await readAll();
    const list = watched();
    const ports = list.some((w) => w.port) ? await establishedByPort() : new Map<number, number>();
    const procs: Sample["procs"] = {};
    for (const w of list) procs[w.name] = { ...(await measure(all, w)), ...(w.port ? { connections: ports.get(w.port) ?? 0 } : {}) };
    samples.push({ t: (performance.now() - started) / 1000, procs });
  };
  const loop = (async () => {
    while (running) {
      await take();
      await Bun.sleep(intervalMs);
    }
    await take();
  })();
  return {
    samples,
    /** Seconds since the sampler started, on the samples' clock. */
    elapsed: () => (performance.now() - started) / 1000,
    async stop() {
      running = false;
      await loop;
      return samples;
    },
  };
}

/**
 * CPU-seconds each process used from `fromS` (seconds since the sampler started: the chat
 * phase, after k6's setup signed everyone in) to the last sample, and its peak RSS then.
 */
export function summarize(all: Sample[], fromS = 0) {
  const startAt = all.findLastIndex((s) => s.t <= fromS);
  const samples = all.slice(Math.max(0, startAt));
  const first = samples[0];
  const names = new Set(samples.flatMap((s) => Object.keys(s.procs)));
  const out: Record<string, { cpuSeconds: number; peakRssMb: number; startRssMb: number; endRssMb: number }> = {};
  for (const name of names) {
    const present = samples.filter((s) => s.procs[name] && s.procs[name]!.cpuMs + s.procs[name]!.rssBytes > 0);
    const peak = Math.max(0, ...present.map((s) => s.procs[name]!.rssBytes));
    // A process started after the first sample (k6) counts from zero; one gone before the last
    // (k6 again) keeps the total of its last sample.
    const startCpu = present[0] === first ? (first?.procs[name]?.cpuMs ?? 0) : 0;
    const endCpu = present.at(-1)?.procs[name]?.cpuMs ?? 0;
    out[name] = {
      cpuSeconds: +((endCpu - startCpu) / 1000).toFixed(2),
      peakRssMb: +(peak / 1048576).toFixed(1),
      startRssMb: +((present[0]?.procs[name]?.rssBytes ?? 0) / 1048576).toFixed(1),
      endRssMb: +((present.at(-1)?.procs[name]?.rssBytes ?? 0) / 1048576).toFixed(1),
    };
  }
  return out;
}

/** CPU % per process per interval (100 = one core), for plotting. */
export function cpuSeries(samples: Sample[]) {
  const names = [...new Set(samples.flatMap((s) => Object.keys(s.procs)))];
  return names.map((name) => ({
    name,
    points: samples.slice(1).map((s, i) => {
      const prev = samples[i]!;
      const dt = s.t - prev.t;
      const a = prev.procs[name]?.cpuMs;
      const b = s.procs[name]?.cpuMs;
      // Not running in one of the two samples (k6 before its start or after its exit): no point.
      if (!a || !b) return [+s.t.toFixed(1), NaN] as [number, number];
      return [+s.t.toFixed(1), dt > 0 ? +(((b - a) / 1000 / dt) * 100).toFixed(1) : 0] as [number, number];
    }),
  }));
}

export function rssSeries(samples: Sample[]) {
  const names = [...new Set(samples.flatMap((s) => Object.keys(s.procs)))];
  return names.map((name) => ({
    name,
    points: samples.map((s) => [+s.t.toFixed(1), +((s.procs[name]?.rssBytes ?? 0) / 1048576).toFixed(1)] as [number, number]),
  }));
}

export async function loadAverage() {
  return (await Bun.file("/proc/loadavg").text().catch(() => "")).split(" ").slice(0, 3).join(" ");
}

/** Established connections per server over time (connection drift in a soak). */
export function connectionSeries(samples: Sample[]) {
  const names = [...new Set(samples.flatMap((s) => Object.keys(s.procs).filter((n) => s.procs[n]?.connections !== undefined)))];
  return names.map((name) => ({
    name,
    points: samples.map((s) => [+s.t.toFixed(1), s.procs[name]?.connections ?? NaN] as [number, number]),
  }));
}

export interface Drift {
  name: string;
  /** Median over the early and the late window, and late - early. */
  rssMb: { early: number; late: number; change: number };
  connections?: { early: number; late: number; change: number };
}

const medianOf = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : Number.NaN;
};

/**
 * Memory and connection drift of each process over a long run: the median RSS (and, for a
 * server, established connections) over `[fromS + warmS, fromS + warmS + windowS]` against
 * the last `windowS` before `toS`. A soak passes this when neither keeps growing.
 */
export function drift(samples: Sample[], fromS: number, toS: number, { warmS = 60, windowS = 60 } = {}): Drift[] {
  const inWindow = (a: number, b: number) => samples.filter((s) => s.t >= a && s.t <= b);
  const early = inWindow(fromS + warmS, fromS + warmS + windowS);
  const late = inWindow(toS - windowS, toS);
  if (!early.length || !late.length) return [];
  const names = [...new Set(samples.flatMap((s) => Object.keys(s.procs)))];
  const pair = (pick: (s: Sample) => number | undefined) => {
    const a = medianOf(early.map(pick).filter((v): v is number => v !== undefined));
    const b = medianOf(late.map(pick).filter((v): v is number => v !== undefined));
    return { early: +a.toFixed(1), late: +b.toFixed(1), change: +(b - a).toFixed(1) };
  };
  return names.map((name) => {
    const out: Drift = { name, rssMb: pair((s) => (s.procs[name] ? s.procs[name]!.rssBytes / 1048576 : undefined)) };
    if (samples.some((s) => s.procs[name]?.connections !== undefined)) out.connections = pair((s) => s.procs[name]?.connections);
    return out;
  });
}

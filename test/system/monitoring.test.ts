// monitoring/: the Prometheus config and alert rules pass promtool, and every metric the
// rules and the Grafana dashboard ask for is really exported, by a 2-instance cluster and
// its Caddy after real traffic. Also: the Caddyfile starts side by side with a copy of
// itself given only UPSTREAMS and CADDY_PORT, each with its own loopback metrics.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startCluster, type Cluster } from "../../scripts/cluster.ts";
import { freePort } from "../../scripts/services.ts";
import { createDatabase, serverEnv } from "../support/test-app.ts";
import { api, signUp } from "../support/test-cluster.ts";
import { ChatClient } from "../support/ws-client.ts";

const ROOT = resolve(import.meta.dir, "../..");
const MONITORING = join(ROOT, "monitoring");
// Series Prometheus makes itself for every target; no exporter serves them.
const SYNTHETIC = new Set(["up", "scrape_duration_seconds", "scrape_samples_scraped"]);
const PROMQL_WORDS = new Set(["by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset", "inf", "nan"]);

let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster({
    instances: 2,
    databaseUrl: await createDatabase(),
    redisUrl: serverEnv().REDIS_URL,
    env: { RATE_LIMIT_MULTIPLIER: "100", LOG_LEVEL: "warn" },
  });
}, 60_000);
afterAll(() => cluster?.stop());

function promtool(...args: string[]) {
  const bin = Bun.which("promtool");
  if (!bin) throw new Error("promtool not found: scripts/ensure-tools.sh --monitoring installs Debian's prometheus package");
  const run = Bun.spawnSync([bin, ...args], { cwd: MONITORING, stdout: "pipe", stderr: "pipe" });
  return { code: run.exitCode, out: run.stdout.toString() + run.stderr.toString() };
}

/** Metric names in a PromQL expression: identifiers that are not functions, keywords, labels or durations. */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // label values
    .replace(/\{[^}]*\}/g, " ") // label matchers
    .replace(/\[[^\]]*\]/g, " ") // ranges
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ") // grouping labels
    .replace(/\{\{[^}]*\}\}/g, " ");
  const names = new Set<string>();
  for (const m of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const word = m[0];
    const after = stripped.slice(m.index! + word.length).trimStart();
    if (after.startsWith("(") || PROMQL_WORDS.has(word.toLowerCase())) continue;
    if (/^\d/.test(word) || /^[0-9.e+-]+$/i.test(word)) continue;
    names.add(word);
  }
  return [...names];
}

function wantedNames() {
  const rules = Bun.YAML.parse(readFileSync(join(MONITORING, "alerts.yml"), "utf8")) as {
    groups: { rules: { expr: string }[] }[];
  };
  const dashboard = JSON.parse(readFileSync(join(MONITORING, "grafana-dashboard.json"), "utf8")) as {
    panels: { targets: { expr: string }[] }[];
  };
  const exprs = [...rules.groups.flatMap((g) => g.rules.map((r) => r.expr)), ...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr))];
  return new Set(exprs.flatMap(metricNames));
}

async function scrapedNames(url: string) {
  const text = await (await fetch(url, { signal: AbortSignal.timeout(5_000) })).text();
  return new Set(text.split("\n").filter((l) => l && !l.startsWith("#")).map((l) => l.split(/[{ ]/)[0]!));
}

test("promtool accepts the scrape config and the alert rules", () => {
  const config = promtool("check", "config", "prometheus.yml");
  expect(config.out).toContain("SUCCESS");
  expect(config.code).toBe(0);
  const rules = promtool("check", "rules", "alerts.yml");
  expect(rules.code).toBe(0);
  expect(rules.out).toMatch(/SUCCESS: \d+ rules found/);
});

test("the PromQL parser finds metric names, not functions, labels or keywords", () => {
  expect(metricNames('histogram_quantile(0.95, sum by (le, route) (rate(http_request_duration_seconds_bucket{status=~"5.."}[5m]))) > 0.1').sort()).toEqual([
    "http_request_duration_seconds_bucket",
  ]);
  expect(metricNames("max_over_time(db_pool_waiting[5m]) > 0 and min_over_time(db_pool_in_use[5m]) >= on(instance_id) db_pool_size").sort()).toEqual([
    "db_pool_in_use",
    "db_pool_size",
    "db_pool_waiting",
  ]);
});

test(
  "every metric the rules and the dashboard use is exported after real traffic",
  async () => {
    const user = await signUp(cluster.url, "mon");
    const other = await signUp(cluster.url, "mon");
    const room = (await api(cluster.url, "POST", "/api/rooms", user.token, { name: "monitoring" })).body;
    const a = await ChatClient.connect(cluster.instances[0]!.url, user.token);
    const b = await ChatClient.connect(cluster.instances[1]!.url, other.token);
    await a.join(room.id);
    await b.join(room.id);
    for (let i = 0; i < 5; i++) a.send("send_message", { roomId: room.id, content: `hello ${i}`, clientMsgId: `mon-${i}`, timestamp: Date.now() });
    await b.until(() => b.messageSeqs(room.id).length >= 5);
    await api(cluster.url, "GET", `/api/rooms/${room.id}/messages?limit=10`, other.token);
    await api(cluster.url, "GET", "/api/rooms", other.token);
    a.close();
    b.close();

    const exported = new Set<string>();
    for (const i of cluster.instances) for (const n of await scrapedNames(`${i.url}/metrics`)) exported.add(n);
    for (const n of await scrapedNames(cluster.caddy!.metricsUrl)) exported.add(n);
    const missing = [...wantedNames()].filter((n) => !exported.has(n) && !SYNTHETIC.has(n));
    expect(missing).toEqual([]);
    // A real check, not an empty set passing by accident.
    expect(wantedNames().size).toBeGreaterThan(15);
  },
  30_000,
);

test(
  "a second copy of the Caddyfile starts beside the first with only UPSTREAMS and CADDY_PORT, each with its own metrics",
  async () => {
    const port = freePort();
    const dir = mkdtempSync(join(tmpdir(), "caddy-copy-"));
    const proc = Bun.spawn([Bun.which("caddy")!, "run", "--config", join(ROOT, "Caddyfile"), "--adapter", "caddyfile"], {
      cwd: dir, // Caddy keeps its autosave under the working directory when HOME is unset
      env: { UPSTREAMS: cluster.instances.map((i) => `127.0.0.1:${i.port}`).join(" "), CADDY_PORT: String(port) },
      stdout: "ignore",
      stderr: "pipe",
    });
    // Unset CADDY_METRICS_PORT: the metrics listener takes a free loopback port, which Caddy logs.
    let log = "";
    void (async () => {
      for await (const chunk of proc.stderr as unknown as AsyncIterable<Uint8Array>) log += new TextDecoder().decode(chunk);
    })();
    try {
      let status = 0;
      for (let i = 0; i < 100 && status !== 200; i++) {
        status = (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.status ?? 0;
        if (status !== 200) await Bun.sleep(100);
      }
      expect(status).toBe(200);
      expect((await fetch(`${cluster.url}/readyz`)).status).toBe(200);
      const metricsAddress = /"actual_address":"(127\.0\.0\.2:\d+)"/.exec(log)?.[1];
      expect(metricsAddress).toBeDefined();
      const mine = await scrapedNames(`http://${metricsAddress}/metrics`);
      expect(mine.has("caddy_http_request_duration_seconds_count")).toBe(true);
      expect((await scrapedNames(cluster.caddy!.metricsUrl)).has("caddy_reverse_proxy_upstreams_healthy")).toBe(true);
    } finally {
      proc.kill("SIGTERM");
      await proc.exited;
      rmSync(dir, { recursive: true, force: true });
    }
  },
  30_000,
);

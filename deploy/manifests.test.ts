// The Kubernetes manifests cannot run here; they are checked by tools instead:
// kubeconform v0.8.0 against the strict Kubernetes 1.31 schemas (offline), and
// the properties the README promises, read from the YAML itself.
import { beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const K8S = join(ROOT, "deploy", "k8s");
let kubeconform: string;

beforeAll(() => {
  // Installs kubeconform and the schemas into .tools/ when missing (go install, pip in a venv).
  const setup = Bun.spawnSync(["bash", join(ROOT, "scripts", "ensure-kubeconform.sh")], { stdout: "pipe", stderr: "pipe" });
  if (setup.exitCode !== 0) throw new Error(`ensure-kubeconform.sh failed:\n${setup.stderr.toString()}`);
  kubeconform = setup.stdout.toString().trim();
}, 600_000);

function validate(...paths: string[]) {
  const run = Bun.spawnSync(
    [
      kubeconform,
      "-strict",
      "-summary",
      "-schema-location",
      `${ROOT}/.tools/k8s-schemas/v1.31.0/{{ .ResourceKind }}{{ .KindSuffix }}.json`,
      "-ignore-filename-pattern",
      "kustomization",
      ...paths,
    ],
    { stdout: "pipe", stderr: "pipe" },
  );
  return { code: run.exitCode, out: run.stdout.toString() + run.stderr.toString() };
}

type Doc = Record<string, any>;
const docs: Doc[] = readdirSync(K8S)
  .filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml")
  .flatMap((f) => readFileSync(join(K8S, f), "utf8").split(/^---$/m).map((d) => Bun.YAML.parse(d) as Doc))
  .filter(Boolean);
const find = (kind: string, name?: string) => docs.filter((d) => d.kind === kind && (!name || d.metadata.name === name));

describe("deploy/ manifests", () => {
  test("kubeconform (strict, Kubernetes 1.31 schemas) passes on deploy/k8s", () => {
    const { code, out } = validate(K8S);
    expect(out).toContain(`Valid: ${docs.length}, Invalid: 0, Errors: 0`);
    expect(code).toBe(0);
  });

  test("a deliberately broken manifest fails the check", () => {
    const { code, out } = validate(join(ROOT, "deploy", "test", "broken-deployment.yaml"));
    expect(code).not.toBe(0);
    expect(out).toContain("Invalid: 1");
    // Strict: the misspelt field is refused, and so is the string where a number belongs.
    expect(out).toMatch(/readinessprobe/);
    expect(out).toMatch(/replicas/);
  });

  test("kustomization lists every manifest", () => {
    const listed = (Bun.YAML.parse(readFileSync(join(K8S, "kustomization.yaml"), "utf8")) as Doc).resources.sort();
    expect(listed).toEqual(readdirSync(K8S).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml").sort());
  });

  test("the Deployment: readiness /readyz, liveness /healthz, preStop, grace longer than preStop + drain", () => {
    const [deployment] = find("Deployment", "chat");
    const pod = deployment!.spec.template.spec;
    const server = pod.containers[0];
    expect(server.readinessProbe.httpGet.path).toBe("/readyz");
    expect(server.livenessProbe.httpGet.path).toBe("/healthz");
    const preStop = server.lifecycle.preStop.sleep.seconds;
    // The drain: frames in flight settle for up to 5 s (server.ts), then sockets close and stores flush.
    const drainSeconds = 10;
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(preStop + drainSeconds);
    expect(deployment!.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
    const envFrom = server.envFrom.map((e: Doc) => e.configMapRef?.name ?? e.secretRef?.name);
    expect(envFrom.sort()).toEqual(["chat-config", "chat-secrets"]);
  });

  test("PodDisruptionBudget, HPA on CPU and on WebSocket connections per pod, Service, Ingress", () => {
    const [deployment] = find("Deployment", "chat");
    const selector = deployment!.spec.selector.matchLabels;
    expect(find("PodDisruptionBudget")[0]!.spec.selector.matchLabels).toEqual(selector);
    expect(find("Service", "chat")[0]!.spec.selector).toEqual(selector);
    const hpa = find("HorizontalPodAutoscaler")[0]!;
    expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: "Deployment", name: "chat" });
    const metrics = hpa.spec.metrics.map((m: Doc) => m.resource?.name ?? m.pods?.metric.name);
    expect(metrics).toEqual(["cpu", "ws_connections"]);
    // The metric the HPA reads is the one the app exports.
    expect(readFileSync(join(ROOT, "src", "realtime", "metrics.ts"), "utf8")).toContain('name: "ws_connections"');
    const ingress = find("Ingress")[0]!;
    expect(ingress.spec.rules[0].http.paths[0].backend.service.name).toBe("chat");
    expect(ingress.spec.tls[0].hosts).toEqual([ingress.spec.rules[0].host]);
  });

  test("Postgres and Redis are external services", () => {
    for (const name of ["postgres", "redis"]) expect(find("Service", name)[0]!.spec.type).toBe("ExternalName");
    const secret = find("Secret", "chat-secrets")[0]!;
    expect(secret.stringData.DATABASE_URL).toContain("@postgres:");
    expect(secret.stringData.REDIS_URL).toContain("@redis:");
  });
});

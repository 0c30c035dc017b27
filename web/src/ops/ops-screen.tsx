// The operator's page: every live instance as it reports itself, polled every two seconds.
import { useEffect, useState } from "react";
import { api, ApiError, type OpsInstance, type OpsSample } from "../api.ts";
import { navigate } from "../app/router.ts";
import { niceMax, Sparkline } from "./sparkline.tsx";

const POLL_MS = 2_000;
const WINDOW_MS = 60_000;

type State = { kind: "loading" } | { kind: "not-found" } | { kind: "ready"; instances: OpsInstance[]; at: number; error?: string };

interface Metric {
  key: keyof Omit<OpsSample, "t">;
  label: string;
  color: string;
  /** The chart's smallest top, so a quiet instance does not look busy. */
  floor: number;
  format: (v: number | null) => string;
}

const num = (v: number | null, digits = 0) => (v === null ? "–" : v.toLocaleString("en-US", { maximumFractionDigits: digits }));
const METRICS: Metric[] = [
  { key: "connections", label: "Connections", color: "#4f46e5", floor: 10, format: (v) => num(v) },
  { key: "messagesPerSecond", label: "Messages / s", color: "#0891b2", floor: 5, format: (v) => num(v, 1) },
  { key: "deliveryP95Ms", label: "Delivery p95", color: "#d97706", floor: 10, format: (v) => (v === null ? "–" : `${num(v, 1)} ms`) },
  { key: "cacheHitRatio", label: "Cache hits", color: "#16a34a", floor: 1, format: (v) => (v === null ? "–" : `${Math.round(v * 100)} %`) },
  { key: "eventLoopLagMs", label: "Event-loop lag", color: "#db2777", floor: 5, format: (v) => (v === null ? "–" : `${num(v, 1)} ms`) },
];

export default function OpsScreen() {
  const [state, setState] = useState<State>({ kind: "loading" });

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      try {
        const { instances } = await api.opsInstances();
        if (!stopped) setState({ kind: "ready", instances, at: Date.now() });
      } catch (err) {
        if (stopped) return;
        if (err instanceof ApiError && err.status === 404) return setState({ kind: "not-found" });
        // Keep the last picture and say it is stale; the next poll may bring it back.
        const message = err instanceof Error ? err.message : "unreachable";
        setState((s) => (s.kind === "ready" ? { ...s, error: message } : { kind: "ready", instances: [], at: Date.now(), error: message }));
      }
      if (!stopped) timer = setTimeout(poll, POLL_MS);
    };
    void poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, []);

  if (state.kind === "loading") return <div className="boot">Loading…</div>;
  if (state.kind === "not-found") return <NotFound />;

  const { instances } = state;
  const total = (key: "connections" | "messagesPerSecond") => instances.reduce((sum, i) => sum + i.current[key], 0);
  const to = Math.max(state.at, ...instances.map((i) => i.current.t));
  // The charts span the last minute, or the history there is when it is shorter (at least 10 s).
  const oldest = Math.min(to, ...instances.map((i) => i.history[0]?.t ?? to));
  const from = Math.min(to - 10_000, Math.max(to - WINDOW_MS, oldest));
  return (
    <div className="ops">
      <header className="ops-head">
        <div>
          <h1>Operations</h1>
          <p className="muted">Each instance's own metrics, reported every second; this page refreshes every {POLL_MS / 1000} s.</p>
        </div>
        <dl className="ops-totals">
          <div>
            <dt>Instances</dt>
            <dd data-testid="ops-instance-count">{instances.length}</dd>
          </div>
          <div>
            <dt>Connections</dt>
            <dd>{num(total("connections"))}</dd>
          </div>
          <div>
            <dt>Messages / s</dt>
            <dd>{num(total("messagesPerSecond"), 1)}</dd>
          </div>
        </dl>
      </header>
      {state.error && (
        <p className="ops-stale" role="status">
          Could not refresh ({state.error}); showing the last answer.
        </p>
      )}
      {instances.length === 0 && !state.error && <p className="muted">No instance has reported in the last few seconds.</p>}
      <div className="ops-instances">
        {instances.map((instance) => (
          <InstanceCard key={instance.instanceId} instance={instance} from={from} to={to} />
        ))}
      </div>
      <p className="muted ops-foot">
        Delivery p95 is measured in the server, from a send's arrival until it is committed and published; cache hits count the shared cache's reads. Both are over the last second. <button type="button" className="link" onClick={() => navigate("/")}>Back to chat</button>
      </p>
    </div>
  );
}

function InstanceCard({ instance, from, to }: { instance: OpsInstance; from: number; to: number }) {
  const ageSeconds = Math.max(0, Math.round((to - instance.current.t) / 1000));
  return (
    <section className="ops-instance" data-instance={instance.instanceId} aria-label={`instance ${instance.instanceId}`}>
      <h2>
        <span className="ops-dot" aria-hidden="true" />
        {instance.instanceId}
        <span className="muted">
          {instance.current.openRooms} open {instance.current.openRooms === 1 ? "room" : "rooms"} · {ageSeconds <= 1 ? "live" : `${ageSeconds} s ago`}
        </span>
      </h2>
      <div className="ops-metrics">
        {METRICS.map((m) => {
          const points = instance.history.map((s) => ({ t: s.t, v: s[m.key] }));
          const max = niceMax(points.map((p) => p.v), m.floor);
          return (
            <figure key={m.key} className="ops-metric" data-metric={m.key}>
              <figcaption>
                <span>{m.label}</span>
                <strong>{m.format(instance.current[m.key])}</strong>
              </figcaption>
              <Sparkline points={points} from={from} to={to} max={max} label={`${m.label}, last ${Math.round((to - from) / 1000)} s`} color={m.color} />
              <div className="spark-scale">
                <span>−{Math.round((to - from) / 1000)} s</span>
                <span>top {m.format(max)}</span>
              </div>
            </figure>
          );
        })}
      </div>
    </section>
  );
}

function NotFound() {
  return (
    <div className="not-found" role="main">
      <h1>Not found</h1>
      <p className="muted">There is no page at this address.</p>
      <button type="button" className="primary" onClick={() => navigate("/")}>
        Back to chat
      </button>
    </div>
  );
}

// A small live chart drawn by hand: one SVG path over the last minute, gaps where there was no value.

const W = 220;
const H = 48;
const PAD = 3;

export interface Point {
  t: number;
  v: number | null;
}

/** The path's segments, x by time over [from, to], y from 0 to `max` (flipped: SVG's y grows down). */
export function sparkPath(points: Point[], from: number, to: number, max: number): { line: string; area: string } {
  const span = Math.max(1, to - from);
  const x = (t: number) => PAD + ((t - from) / span) * (W - 2 * PAD);
  const y = (v: number) => H - PAD - (Math.min(v, max) / max) * (H - 2 * PAD);
  let line = "";
  let area = "";
  let run: [number, number][] = [];
  const flush = () => {
    if (run.length === 0) return;
    // A single value still shows, as a short flat stroke.
    if (run.length === 1) run.push([run[0]![0] + 1.5, run[0]![1]]);
    line += run.map(([px, py], i) => `${i ? "L" : "M"}${px.toFixed(1)} ${py.toFixed(1)}`).join("");
    area += `M${run[0]![0].toFixed(1)} ${H - PAD}` + run.map(([px, py]) => `L${px.toFixed(1)} ${py.toFixed(1)}`).join("") + `L${run.at(-1)![0].toFixed(1)} ${H - PAD}Z`;
    run = [];
  };
  for (const p of points) {
    if (p.v === null || !Number.isFinite(p.v)) flush();
    else run.push([x(p.t), y(p.v)]);
  }
  flush();
  return { line, area };
}

/** A scale top that reads well: at least `floor`, else the next 1/2/5 step above the largest value. */
export function niceMax(values: (number | null)[], floor: number): number {
  const top = Math.max(floor, ...values.filter((v): v is number => v !== null));
  const step = 10 ** Math.floor(Math.log10(top));
  for (const m of [1, 2, 5, 10]) if (m * step >= top) return m * step;
  return top;
}

export function Sparkline({ points, from, to, max, label, color }: { points: Point[]; from: number; to: number; max: number; label: string; color: string }) {
  const { line, area } = sparkPath(points, from, to, max);
  return (
    <svg className="spark" viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label={label}>
      <line x1={PAD} x2={W - PAD} y1={H - PAD} y2={H - PAD} className="spark-base" />
      <line x1={PAD} x2={W - PAD} y1={PAD} y2={PAD} className="spark-top" />
      {area && <path d={area} fill={color} opacity={0.14} />}
      {line && <path d={line} fill="none" stroke={color} strokeWidth={1.8} strokeLinejoin="round" vectorEffect="non-scaling-stroke" />}
    </svg>
  );
}

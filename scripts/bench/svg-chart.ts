// A small line chart as SVG text, so bench reports carry plots with no plotting dependency.

export interface Series {
  name: string;
  points: [number, number][];
  /** Dashed line (e.g. the peer next to ours). */
  dashed?: boolean;
}

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const escape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function niceStep(range: number, ticks: number) {
  const raw = range / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw || 1));
  return [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
}

export function lineChart(opts: { title: string; xLabel: string; yLabel: string; series: Series[]; hLine?: { y: number; label: string } }) {
  const W = 760;
  const H = 420;
  const m = { l: 70, r: 200, t: 40, b: 55 };
  const pts = opts.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xMax = Math.max(1, ...pts.map(([x]) => x));
  const xMin = Math.min(0, ...pts.map(([x]) => x));
  const yMax = Math.max(opts.hLine?.y ?? 0, ...pts.map(([, y]) => y), 1) * 1.08;
  const xStep = niceStep(xMax - xMin, 8);
  const yStep = niceStep(yMax, 6);
  const px = (x: number) => m.l + ((x - xMin) / (xMax - xMin || 1)) * (W - m.l - m.r);
  const py = (y: number) => H - m.b - (y / yMax) * (H - m.t - m.b);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2 - m.r / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escape(opts.title)}</text>`,
  ];
  for (let y = 0; y <= yMax; y += yStep) {
    out.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${py(y)}" y2="${py(y)}" stroke="#ddd"/>`);
    out.push(`<text x="${m.l - 6}" y="${py(y) + 4}" text-anchor="end">${+y.toFixed(2)}</text>`);
  }
  for (let x = Math.ceil(xMin / xStep) * xStep; x <= xMax; x += xStep) {
    out.push(`<line x1="${px(x)}" x2="${px(x)}" y1="${m.t}" y2="${H - m.b}" stroke="#eee"/>`);
    out.push(`<text x="${px(x)}" y="${H - m.b + 16}" text-anchor="middle">${+x.toFixed(2)}</text>`);
  }
  out.push(`<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${H - m.t - m.b}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 14}" text-anchor="middle">${escape(opts.xLabel)}</text>`);
  out.push(`<text transform="translate(18 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">${escape(opts.yLabel)}</text>`);
  if (opts.hLine) {
    out.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${py(opts.hLine.y)}" y2="${py(opts.hLine.y)}" stroke="#000" stroke-dasharray="2 3"/>`);
    out.push(`<text x="${W - m.r - 4}" y="${py(opts.hLine.y) - 4}" text-anchor="end">${escape(opts.hLine.label)}</text>`);
  }
  opts.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const line = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (line.length) {
      const d = line.map(([x, y], k) => `${k ? "L" : "M"}${px(x).toFixed(1)} ${py(y).toFixed(1)}`).join(" ");
      out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ""}/>`);
      for (const [x, y] of line.length <= 40 ? line : []) out.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="2.5" fill="${color}"/>`);
    }
    const ly = m.t + 10 + i * 18;
    out.push(`<line x1="${W - m.r + 12}" x2="${W - m.r + 36}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ""}/>`);
    out.push(`<text x="${W - m.r + 42}" y="${ly + 4}">${escape(s.name)}</text>`);
  });
  out.push("</svg>");
  return out.join("\n");
}

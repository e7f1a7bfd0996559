// A small SVG line chart for bench/ pictures (log-scaled x), with no dependency: the
// benchmarks write docs/*.svg that the README shows.

export interface Series {
  label: string;
  points: Array<[number, number]>;
  color: string;
  dashed?: boolean;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  width?: number;
  height?: number;
  /** A horizontal reference line (e.g. the noise floor). */
  reference?: { y: number; label: string };
}

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function lineChart(series: Series[], o: ChartOptions): string {
  const W = o.width ?? 640, H = o.height ?? 400;
  const m = { left: 64, right: 190, top: 36, bottom: 48 };
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1])).concat(o.reference ? [o.reference.y] : []);
  const x0 = Math.log10(Math.min(...xs)) - 0.1, x1 = Math.log10(Math.max(...xs)) + 0.1;
  const y1 = Math.max(...ys) * 1.08, y0 = 0;
  const px = (x: number) => m.left + ((Math.log10(x) - x0) / (x1 - x0)) * (W - m.left - m.right);
  const py = (y: number) => H - m.bottom - ((y - y0) / (y1 - y0)) * (H - m.top - m.bottom);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2 - m.right / 2}" y="20" text-anchor="middle" font-size="14">${escape(o.title)}</text>`,
    `<line x1="${m.left}" y1="${H - m.bottom}" x2="${W - m.right}" y2="${H - m.bottom}" stroke="black"/>`,
    `<line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${H - m.bottom}" stroke="black"/>`,
  ];
  for (let e = Math.ceil(x0); e <= Math.floor(x1); e++) {
    const x = px(10 ** e);
    out.push(`<line x1="${x}" y1="${H - m.bottom}" x2="${x}" y2="${H - m.bottom + 5}" stroke="black"/>`, `<text x="${x}" y="${H - m.bottom + 18}" text-anchor="middle">${10 ** e}</text>`);
  }
  const step = niceStep(y1 / 5);
  for (let y = 0; y <= y1; y += step) {
    out.push(`<line x1="${m.left - 5}" y1="${py(y)}" x2="${m.left}" y2="${py(y)}" stroke="black"/>`, `<text x="${m.left - 8}" y="${py(y) + 4}" text-anchor="end">${+y.toFixed(6)}</text>`);
  }
  out.push(`<text x="${(m.left + W - m.right) / 2}" y="${H - 10}" text-anchor="middle">${escape(o.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${(m.top + H - m.bottom) / 2}) rotate(-90)" text-anchor="middle">${escape(o.yLabel)}</text>`);
  if (o.reference) {
    const y = py(o.reference.y);
    out.push(`<line x1="${m.left}" y1="${y}" x2="${W - m.right}" y2="${y}" stroke="#888" stroke-dasharray="2 3"/>`, `<text x="${W - m.right - 4}" y="${y - 4}" text-anchor="end" fill="#555">${escape(o.reference.label)}</text>`);
  }
  series.forEach((s, i) => {
    const pts = [...s.points].sort((a, b) => a[0] - b[0]);
    out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 3"' : ''} points="${pts.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')}"/>`);
    for (const [x, y] of pts) out.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${s.color}"/>`);
    const ly = m.top + 10 + 18 * i;
    out.push(`<line x1="${W - m.right + 12}" y1="${ly}" x2="${W - m.right + 36}" y2="${ly}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 3"' : ''}/>`, `<text x="${W - m.right + 42}" y="${ly + 4}">${escape(s.label)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const f of [1, 2, 2.5, 5, 10]) if (f * p >= raw) return f * p;
  return 10 * p;
}

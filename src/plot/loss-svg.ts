// `gpt plot`'s chart: the train and val loss of one or more runs, overlaid, against steps and
// against training time (a panel each), as a self-contained SVG written by hand, with no plotting
// dependency. Each curve is one <path class="series"> whose data-run and data-series attributes
// name it (the evaluations' train loss, points without a line, a <g class="points">); every tick is a <g class="tick-x|tick-y"> holding its grid line and its label, so what a
// reader sees (the label) and where it is drawn stay together. Platform-free.
import type { LossPoint, RunCurves } from './run-log.js';
import { smoothed } from './smooth.js';
import { axisRange, logTicks, tickLabel, ticks, tickStep } from './ticks.js';

export type XAxis = 'step' | 'time';
/** The loss axis: linear, or logarithmic (a diverged run's spike leaves the rest readable). */
export type YScale = 'linear' | 'log';

/** A run's curves and the name its legend entries show. */
export interface LabelledRun {
  label: string;
  curves: RunCurves;
}

const PALETTE = ['#2f6fdf', '#e0731f', '#2a9d55', '#c23b7a', '#7a5cc7', '#8a6d1f', '#1f9fb0', '#555c66'];
/** Past the palette's runs, the colours again with dashes: the 9th run was drawn as the 1st. */
const DASHES = ['', '7 3', '2 2', '9 3 2 3'];

/** The i-th run's colour, and its dashes as a stroke-dasharray attribute (none for solid). */
function runStyle(i: number): { color: string; dash: string } {
  const dashes = DASHES[Math.floor(i / PALETTE.length) % DASHES.length]!;
  return { color: PALETTE[i % PALETTE.length]!, dash: dashes && ` stroke-dasharray="${dashes}"` };
}
const PANEL = { width: 520, height: 340, left: 60, right: 20, top: 12, bottom: 46 };
const TITLE_HEIGHT = 30;
const LEGEND_ROW = 20;
/** A run as drawn: its curves, and its training loss smoothed (once for every panel). */
interface DrawnRun extends LabelledRun {
  smoothedTrain: number[];
}

/** The lines of a run: its steps' training loss faint, and smoothed over it, as the page draws them; its evaluations' val loss (the i-th point's). */
const SERIES = [
  { key: 'train', name: 'train loss, per step', width: 1, opacity: 0.35, points: (r: DrawnRun) => r.curves.train, loss: (r: DrawnRun, i: number) => r.curves.train[i]!.loss },
  { key: 'trainSmoothed', name: 'train loss, smoothed', width: 1.6, opacity: 1, points: (r: DrawnRun) => r.curves.train, loss: (r: DrawnRun, i: number) => r.smoothedTrain[i]! },
  { key: 'val', name: 'val loss, evaluated', width: 2.4, opacity: 1, points: (r: DrawnRun) => r.curves.val, loss: (r: DrawnRun, i: number) => r.curves.val[i]!.loss },
] as const;
const EVAL_TRAIN_NAME = 'train loss, evaluated';
const DOT_RADIUS = 2.6;
/** A legend entry's mark, before its text. */
const SWATCH = 30;
/** At most the width of a character of the 12 px font (0.6 em: system-ui's average is below it), to lay out text that is not measured. */
const CHAR_WIDTH = 7.2;

/** The time unit that keeps the axis' numbers readable for a run of `seconds`. */
function timeUnit(seconds: number): { name: string; seconds: number } {
  if (seconds <= 180) return { name: 's', seconds: 1 };
  if (seconds <= 180 * 60) return { name: 'min', seconds: 60 };
  return { name: 'h', seconds: 3600 };
}

/** Every point drawn of a run: its curves' and its evaluations' train loss. */
const allPoints = (c: RunCurves) => [...c.train, ...c.val, ...c.evalTrain];

/** Where a loss is drawn, as a fraction of the axis's height from its bottom, and the axis's ticks. */
interface LossAxis {
  fraction: (loss: number) => number;
  ticks: { value: number; label: string }[];
  label: string;
}

/** The loss axis over `losses` (not empty; above 0 for a log axis), with a margin. */
function lossAxis(losses: number[], scale: YScale): LossAxis {
  const [lo, hi] = extent(losses);
  if (scale === 'linear') {
    const margin = Math.max(0.05, (hi - lo) * 0.08);
    const [y0, y1] = [Math.max(0, lo - margin), hi + margin];
    const step = tickStep(y0, y1, 6);
    return { fraction: (v) => (v - y0) / (y1 - y0), ticks: ticks(y0, y1, 6).map((value) => ({ value, label: tickLabel(value, step) })), label: 'loss' };
  }
  if (!(lo > 0)) throw new RangeError(`a log loss axis takes losses above 0, got ${lo}`);
  const margin = Math.max(0.01, Math.log10(hi / lo) * 0.08);
  const [l0, l1] = [Math.log10(lo) - margin, Math.log10(hi) + margin];
  return { fraction: (v) => (Math.log10(v) - l0) / (l1 - l0), ticks: logTicks(10 ** l0, 10 ** l1), label: 'loss (log scale)' };
}

/** The SVG document: one panel per axis in `axes`, side by side, a shared loss axis (`y`: linear by default), a legend below. */
export function lossChartSvg(runs: LabelledRun[], opts: { axes: XAxis[]; title: string; y?: YScale }): string {
  const all = runs.flatMap((r) => allPoints(r.curves));
  if (!all.length) throw new Error('no train or eval records to plot');
  const yAxis = lossAxis(all.map((p) => p.loss), opts.y ?? 'linear');
  const drawn = runs.map((r) => ({ ...r, smoothedTrain: smoothed(r.curves.train.map((p) => p.loss)) }));
  const width = PANEL.width * opts.axes.length;
  const legendRows = layOut(legendEntries(runs), width - PANEL.left - PANEL.right);
  const height = TITLE_HEIGHT + PANEL.height + LEGEND_ROW * legendRows.length + 10;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, sans-serif" font-size="12">`,
    `<title>${escapeXml(opts.title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="15" fill="#222">${escapeXml(opts.title)}</text>`,
    ...opts.axes.map((axis, i) => panel(drawn, axis, yAxis, i * PANEL.width, TITLE_HEIGHT)),
    legend(legendRows, TITLE_HEIGHT + PANEL.height + 4),
    '</svg>',
  ];
  return parts.join('\n') + '\n';
}

function panel(runs: DrawnRun[], axis: XAxis, yAxis: LossAxis, left: number, top: number): string {
  const longest = extent([0, ...runs.flatMap((r) => allPoints(r.curves).map((p) => p.seconds ?? 0))])[1];
  const unit = timeUnit(longest);
  const xOf = (p: LossPoint) => (axis === 'step' ? p.step : p.seconds === null ? null : p.seconds / unit.seconds);
  const xs = runs.flatMap((r) => allPoints(r.curves).map(xOf)).filter((x): x is number => x !== null);
  const out = [`<g class="panel" data-x="${axis}" transform="translate(${left} ${top})">`];
  const [ax, ay] = [PANEL.left, PANEL.top];
  const [aw, ah] = [PANEL.width - PANEL.left - PANEL.right, PANEL.height - PANEL.top - PANEL.bottom];
  const xLabel = axis === 'step' ? 'step' : `training time (${unit.name})`;
  out.push(`<text class="axis-label" x="${ax + aw / 2}" y="${PANEL.height - 8}" text-anchor="middle" fill="#333">${xLabel}</text>`);
  out.push(`<text class="axis-label" transform="translate(14 ${ay + ah / 2}) rotate(-90)" text-anchor="middle" fill="#333">${yAxis.label}</text>`);
  if (!xs.length) {
    out.push(`<text x="${ax + aw / 2}" y="${ay + ah / 2}" text-anchor="middle" fill="#666">no times in the log</text>`, '</g>');
    return out.join('\n');
  }
  const [x0, x1] = axisRange(...extent(xs));
  const X = (v: number) => ax + ((v - x0) / (x1 - x0)) * aw;
  const Y = (v: number) => ay + (1 - yAxis.fraction(v)) * ah;
  const xStep = tickStep(x0, x1, 6);
  for (const v of ticks(x0, x1, 6)) {
    const x = fmt(X(v));
    out.push(
      `<g class="tick-x"><line x1="${x}" y1="${ay}" x2="${x}" y2="${ay + ah}" stroke="#e3e6eb"/>` +
        `<text x="${x}" y="${ay + ah + 16}" text-anchor="middle" fill="#555">${tickLabel(v, xStep)}</text></g>`,
    );
  }
  for (const { value, label } of yAxis.ticks) {
    const y = fmt(Y(value));
    out.push(
      `<g class="tick-y"><line x1="${ax}" y1="${y}" x2="${ax + aw}" y2="${y}" stroke="#e3e6eb"/>` +
        `<text x="${ax - 6}" y="${y}" dy="4" text-anchor="end" fill="#555">${label}</text></g>`,
    );
  }
  out.push(`<rect x="${ax}" y="${ay}" width="${aw}" height="${ah}" fill="none" stroke="#9aa1ab"/>`);
  runs.forEach((r, i) => {
    const { color, dash } = runStyle(i);
    for (const s of SERIES) {
      const points = s.points(r);
      const xAt = (k: number) => {
        const x = xOf(points[k]!);
        return x === null ? null : X(x);
      };
      const d = pathData(points.length, xAt, (k) => Y(s.loss(r, k)), (k) => !!points[k]!.afterGap);
      if (!d) continue;
      // the faint raw line stays solid: dashed, its noise is a smudge
      out.push(
        `<path class="series" data-run="${escapeXml(r.label)}" data-series="${s.key}" d="${d}" fill="none" stroke="${color}" stroke-width="${s.width}" stroke-opacity="${s.opacity}"${s.key === 'train' ? '' : dash} stroke-linejoin="round"/>`,
      );
      if (s.key !== 'val') continue;
      points.forEach((p, k) => {
        const x = xAt(k);
        if (x !== null) out.push(`<circle cx="${fmt(x)}" cy="${fmt(Y(p.loss))}" r="${DOT_RADIUS}" fill="${color}"/>`);
      });
    }
    const dots = r.curves.evalTrain.flatMap((p) => {
      const x = xOf(p);
      return x === null ? [] : [`<circle cx="${fmt(X(x))}" cy="${fmt(Y(p.loss))}" r="${DOT_RADIUS}" fill="#ffffff" stroke="${color}" stroke-width="1.2"/>`];
    });
    if (dots.length) out.push(`<g class="points" data-run="${escapeXml(r.label)}" data-series="evalTrain">${dots.join('')}</g>`);
  });
  out.push('</g>');
  return out.join('\n');
}

/**
 * The path data of `count` points, the k-th at xAt(k) (null: not drawn), yAt(k) px, a new stroke at
 * each k where breakAt(k) (records left out before it). Of each stretch of points in one pixel
 * column only its first, lowest, highest and last are drawn (M4 decimation): the same line, where a
 * 100k-step run's every point made a 5.8 MB SVG that viewers crawl through. Read a point at a time:
 * a million-step log's points are not copied.
 */
function pathData(count: number, xAt: (k: number) => number | null, yAt: (k: number) => number, breakAt: (k: number) => boolean): string {
  const out: string[] = [];
  let stroke = 0; // points drawn in the current stroke
  let column: { x: number; first: number; lo: number; hi: number; last: number; loY: number; hiY: number } | null = null;
  const flush = () => {
    if (!column) return;
    for (const k of [...new Set([column.first, column.lo, column.hi, column.last])].sort((a, b) => a - b)) out.push(`${stroke++ ? 'L' : 'M'}${fmt(xAt(k)!)} ${fmt(yAt(k))}`);
    column = null;
  };
  for (let k = 0; k < count; k++) {
    if (breakAt(k)) {
      flush();
      stroke = 0;
    }
    const x = xAt(k);
    if (x === null) continue;
    const y = yAt(k);
    if (column?.x !== Math.floor(x)) {
      flush();
      column = { x: Math.floor(x), first: k, lo: k, hi: k, last: k, loY: y, hiY: y };
      continue;
    }
    if (y < column.loY) [column.lo, column.loY] = [k, y];
    if (y > column.hiY) [column.hi, column.hiY] = [k, y];
    column.last = k;
  }
  flush();
  return out.join(' ');
}

/** A legend entry: its mark (drawn with its left end at 0, its middle at y 0) and its text. */
interface LegendEntry {
  mark: string;
  text: string;
}

/** What each style means (in grey), then each run's colour and name. */
function legendEntries(runs: LabelledRun[]): LegendEntry[] {
  const grey = '#666';
  const line = (width: number, opacity: number, color: string, dash = '') => `<line x1="0" y1="0" x2="24" y2="0" stroke="${color}" stroke-width="${width}" stroke-opacity="${opacity}"${dash}/>`;
  return [
    ...SERIES.map((s) => ({ mark: line(s.width, s.opacity, grey) + (s.key === 'val' ? `<circle cx="12" cy="0" r="${DOT_RADIUS}" fill="${grey}"/>` : ''), text: s.name })),
    { mark: `<circle cx="12" cy="0" r="${DOT_RADIUS}" fill="#ffffff" stroke="${grey}" stroke-width="1.2"/>`, text: EVAL_TRAIN_NAME },
    ...runs.map((r, i) => ({ mark: line(4, 1, runStyle(i).color, runStyle(i).dash), text: r.label })),
  ];
}

/** `entries` in rows `width` wide, each at its x: a row holds what fits, and at least one, its text cut in the middle to fit. */
function layOut(entries: LegendEntry[], width: number): (LegendEntry & { x: number; full: string })[][] {
  const fits = Math.floor((width - SWATCH) / CHAR_WIDTH);
  const rows: (LegendEntry & { x: number; full: string })[][] = [[]];
  let x = 0;
  for (const entry of entries) {
    const text = entry.text.length <= fits ? entry.text : `${entry.text.slice(0, Math.ceil((fits - 1) / 2))}…${entry.text.slice(entry.text.length - Math.floor((fits - 1) / 2))}`;
    const w = SWATCH + text.length * CHAR_WIDTH;
    if (rows.at(-1)!.length && x + w > width) [x] = [0, rows.push([])];
    rows.at(-1)!.push({ ...entry, text, full: entry.text, x });
    x += w + 16;
  }
  return rows;
}

function legend(rows: ReturnType<typeof layOut>, top: number): string {
  const out = [`<g class="legend" transform="translate(${PANEL.left} ${top})">`];
  rows.forEach((row, i) => {
    const y = i * LEGEND_ROW + 10;
    for (const e of row) {
      // a name cut short is whole in its tooltip
      const title = e.text === e.full ? '' : `<title>${escapeXml(e.full)}</title>`;
      out.push(`<g transform="translate(${fmt(e.x)} ${y})">${e.mark}</g><text x="${fmt(e.x + SWATCH)}" y="${y + 4}" fill="#333">${escapeXml(e.text)}${title}</text>`);
    }
  });
  out.push('</g>');
  return out.join('\n');
}

/** The least and greatest of `values` (not empty), in a loop: Math.min(...values) overflows the stack past about 120,000 points (a long run logging every step). */
function extent(values: number[]): [number, number] {
  let [lo, hi] = [Infinity, -Infinity];
  for (const v of values) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
  return [lo, hi];
}

const fmt = (v: number) => String(Math.round(v * 100) / 100);

function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": 'apos' }[c]};`);
}

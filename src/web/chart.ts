// The live loss chart: training loss per step (raw, faint, and smoothed) and the evaluated
// train/val losses, on a <canvas> drawn by hand. Redraws are coalesced into one per frame.
// A step's loss is drawn at the step its weights had reached, where their evaluation is drawn
// (nanoGPT's 'iter N: loss' and 'step N: train loss, val loss' pair so), and smoothed without lag.
import { trainedStep } from '../plot/run-log.js';
import { smoothed } from '../plot/smooth.js';
import { tickLabel, ticks, tickStep } from '../plot/ticks.js';

const COLORS = { train: '#2f6fdf', val: '#e0731f', evalTrain: '#2f6fdf', grid: '#d8dce3', text: '#4a5160' };

export class LossChart {
  private steps: { step: number; loss: number }[] = [];
  private evals: { step: number; train: number; val: number }[] = [];
  private pending = false;

  constructor(private readonly canvas: HTMLCanvasElement) {
    new ResizeObserver(() => this.requestDraw()).observe(canvas);
  }

  clear(): void {
    this.steps = [];
    this.evals = [];
    this.requestDraw();
  }

  /** The loss of the step that took the run to `step` (a Trainer's step after it), drawn at the step of the weights it was computed with. */
  addStep(step: number, loss: number): void {
    if (Number.isFinite(loss)) this.steps.push({ step: trainedStep(step), loss });
    this.requestDraw();
  }

  /** An evaluation of the weights at `step`. */
  addEval(step: number, train: number, val: number): void {
    this.evals.push({ step, train, val });
    this.requestDraw();
  }

  requestDraw(): void {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.draw();
    });
  }

  draw(): void {
    const dpr = window.devicePixelRatio || 1;
    const W = this.canvas.clientWidth;
    const H = this.canvas.clientHeight;
    if (!W || !H) return;
    this.canvas.width = Math.round(W * dpr);
    this.canvas.height = Math.round(H * dpr);
    const g = this.canvas.getContext('2d')!;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, W, H);
    g.font = '11px system-ui, sans-serif';
    const legend = legendRows(g, LEGEND, W - LEGEND_LEFT - 4);
    const pad = { left: LEGEND_LEFT - 4, right: 12, top: 8 + LEGEND_ROW * legend.length, bottom: 22 };
    const values = [...this.steps.map((s) => s.loss), ...this.evals.flatMap((e) => [e.train, e.val])].filter(Number.isFinite);
    if (!values.length) {
      g.fillStyle = COLORS.text;
      g.fillText('loss will appear here while training', pad.left, H / 2);
      return;
    }
    const [x0, xMax] = extent([...this.steps.map((s) => s.step), ...this.evals.map((e) => e.step)]);
    const x1 = Math.max(x0 + 1, xMax);
    let [y0, y1] = extent(values);
    const margin = Math.max(0.05, (y1 - y0) * 0.08);
    y0 = Math.max(0, y0 - margin);
    y1 += margin;
    const X = (s: number) => pad.left + ((s - x0) / (x1 - x0)) * (W - pad.left - pad.right);
    const Y = (v: number) => pad.top + (1 - (v - y0) / (y1 - y0)) * (H - pad.top - pad.bottom);

    // grid and axis labels
    g.strokeStyle = COLORS.grid;
    g.fillStyle = COLORS.text;
    g.lineWidth = 1;
    const yStep = tickStep(y0, y1, 5);
    for (const v of ticks(y0, y1, 5)) {
      g.beginPath();
      g.moveTo(pad.left, Y(v));
      g.lineTo(W - pad.right, Y(v));
      g.stroke();
      g.fillText(tickLabel(v, yStep), 4, Y(v) + 4);
    }
    // steps are whole: a short run's ticks 0.5 apart were labelled rounded ('2' at 1.5, and again at 2)
    for (const s of ticks(x0, x1, 6).filter(Number.isInteger)) g.fillText(String(s), X(s) - 8, H - 6);
    g.fillText('step', 4, H - 6); // the x axis's name, under the y labels' column

    // per-step loss: raw (faint) and smoothed
    const line = (pts: [number, number][], color: string, width: number, alpha = 1) => {
      if (!pts.length) return;
      g.globalAlpha = alpha;
      g.strokeStyle = color;
      g.lineWidth = width;
      g.beginPath();
      pts.forEach(([s, v], i) => (i ? g.lineTo(X(s), Y(v)) : g.moveTo(X(s), Y(v))));
      g.stroke();
      g.globalAlpha = 1;
    };
    line(this.steps.map((p) => [p.step, p.loss]), COLORS.train, 1, 0.3);
    const smooth = smoothed(this.steps.map((p) => p.loss));
    line(this.steps.map((p, i) => [p.step, smooth[i]!]), COLORS.train, 2);
    // evaluations: val as a line with dots, train as dots
    line(this.evals.map((e) => [e.step, e.val]), COLORS.val, 2);
    for (const e of this.evals) {
      dot(g, X(e.step), Y(e.val), COLORS.val);
      dot(g, X(e.step), Y(e.train), COLORS.evalTrain);
    }

    // legend: a row per line that fits (a phone's narrow chart cut the val loss's entry off)
    legend.forEach((row, i) => {
      const y = 8 + LEGEND_ROW * i;
      for (const { label, color, x } of row) {
        g.fillStyle = color;
        g.fillRect(x, y, 12, 3);
        g.fillStyle = COLORS.text;
        g.fillText(label, x + 16, y + 5);
      }
    });
  }
}

type LegendEntry = { label: string; color: string };

/** The legend's entries: what each line and dot is. */
const LEGEND: LegendEntry[] = [
  { label: 'train loss (per step, smoothed; dots: evaluated)', color: COLORS.train },
  { label: 'val loss (evaluated)', color: COLORS.val },
];
/** Where the legend (and the plot, 4 px left of it) starts, and the height of a row of it. */
const LEGEND_LEFT = 46;
const LEGEND_ROW = 14;

/** The legend's entries in rows `width` wide from LEGEND_LEFT, each at its x: a row holds what fits, and at least one. */
function legendRows(g: CanvasRenderingContext2D, entries: LegendEntry[], width: number): (LegendEntry & { x: number })[][] {
  const rows: (LegendEntry & { x: number })[][] = [[]];
  let x = LEGEND_LEFT;
  for (const entry of entries) {
    const w = 16 + g.measureText(entry.label).width;
    if (rows.at(-1)!.length && x + w > LEGEND_LEFT + width) {
      rows.push([]);
      x = LEGEND_LEFT;
    }
    rows.at(-1)!.push({ ...entry, x });
    x += w + 20;
  }
  return rows;
}

/** The smallest and largest of `xs`, in a loop: spread into Math.min, a long run's ~130k points overflow the stack. */
function extent(xs: readonly number[]): [number, number] {
  let [lo, hi] = [Infinity, -Infinity];
  for (const x of xs) [lo, hi] = [Math.min(lo, x), Math.max(hi, x)];
  return [lo, hi];
}

function dot(g: CanvasRenderingContext2D, x: number, y: number, color: string): void {
  g.fillStyle = color;
  g.beginPath();
  g.arc(x, y, 3, 0, 2 * Math.PI);
  g.fill();
}

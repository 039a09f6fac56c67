// `gpt plot`: log.jsonl records back into loss curves (and a log whose directory went away mid-run
// refused in one line), and the SVG drawn from them: well-formed
// XML, one path per curve, labelled axes, and every point drawn where the axis labels say its
// value is (checked against the tick the label belongs to, for a tiny synthetic log).
import { existsSync, mkdirSync, readFileSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lossChartSvg, type XAxis } from '../src/plot/loss-svg.js';
import { RunLog } from '../src/node/run-log.js';
import { runLogReader, type RunCurves } from '../src/plot/run-log.js';
import { axisRange, ticks } from '../src/plot/ticks.js';
import { gpt, tempDir } from './cli-helpers.js';
import { findAll, parseXml, type XmlElement } from './xml.js';

/** A log's text read as `gpt plot` reads its file, a line at a time. */
function parseRunLog(text: string, source: string): RunCurves[] {
  const reader = runLogReader(source);
  const lines = text.split('\n');
  lines.forEach((line, i) => reader.line(line, i, i === lines.length - 1));
  return reader.curves();
}

const T0 = Date.parse('2026-12-01T10:00:00.000Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();

/** A run of 100 steps over 100 s: val 3.0 at step 0 and 2.0 at step 100, train loss falling linearly between. */
function syntheticLog(run: string, offset = 0): string {
  const lines = [{ type: 'eval', run, time: at(0), step: 0, train: 3 + offset, val: 3 + offset }];
  for (let step = 10; step <= 100; step += 10) {
    lines.push({ type: 'train', run, time: at(step), step, loss: 3 + offset - step / 100, lr: 1e-3, gradNorm: 1, ms: 100, tokensPerSec: 7680 } as never);
  }
  lines.push({ type: 'eval', run, time: at(100), step: 100, train: 2 + offset, val: 2 + offset });
  return lines.map((l) => JSON.stringify(l)).join('\n') + '\n';
}

const points = (path: XmlElement) => [...path.attrs.d!.matchAll(/[ML]([\d.-]+) ([\d.-]+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
/** The path of `panel`'s series `key` ('train', 'trainSmoothed', 'val'), of its first run. */
const seriesPath = (panel: XmlElement, key: string) => findAll(panel, (e) => e.attrs.class === 'series' && e.attrs['data-series'] === key)[0]!;
/** The position of the tick labelled `label` (its grid line's x for tick-x, y for tick-y). */
function tickAt(panel: XmlElement, axis: 'x' | 'y', label: string): number {
  const tick = findAll(panel, (e) => e.attrs.class === `tick-${axis}` && e.children.some((c) => c.name === 'text' && c.text === label))[0];
  if (!tick) throw new Error(`no ${axis} tick labelled ${label}`);
  return Number(tick.children.find((c) => c.name === 'line')!.attrs[`${axis}1`]);
}

describe('log.jsonl', () => {
  it('reads back as curves per run, with seconds since each run began', () => {
    const runs = parseRunLog(syntheticLog('a') + syntheticLog('b', 1) + '{"type":"note"}\n\n', 'log.jsonl');
    expect(runs.map((r) => r.run)).toEqual(['a', 'b']);
    expect(runs[0]!.train.map((p) => p.step)).toEqual([9, 19, 29, 39, 49, 59, 69, 79, 89, 99]); // the weights' steps: a record's less 1
    expect(runs[1]!.val).toEqual([
      { step: 0, seconds: 0, loss: 4 },
      { step: 100, seconds: 100, loss: 3 },
    ]);
    expect(() => parseRunLog('{"type":"eval"}\nnot json\n', 'x/log.jsonl')).toThrow('x/log.jsonl:2: not a JSON line');
    // JSON, but not a record: was "Cannot read properties of null (reading 'type')"
    expect(() => parseRunLog('{"type":"eval"}\nnull\n', 'x/log.jsonl')).toThrow(/^x\/log\.jsonl:2: not a JSON object/);
    expect(() => parseRunLog('[1, 2]\n', 'x/log.jsonl')).toThrow(/^x\/log\.jsonl:1: not a JSON object/);
  });

  it("the time axis is training time: the hours a run was stopped before it was resumed are left out", () => {
    // 50 s of training to a checkpoint at step 50, a crash, the run resumed an hour later, 50 s more
    const record = (type: string, seconds: number, step: number, more: object = {}) => JSON.stringify({ type, run: 'a', time: at(seconds), step, ...more });
    const hour = 3600;
    const log = [
      record('eval', 0, 0, { train: 3, val: 3 }),
      record('train', 25, 25, { loss: 2.9 }),
      record('eval', 50, 50, { train: 2.5, val: 2.5 }),
      record('resume', hour, 50),
      record('train', hour + 25, 75, { loss: 2.4 }),
      record('eval', hour + 50, 100, { train: 2, val: 2 }),
      // stopped again once finished, and continued a day later
      record('resume', 25 * hour, 100),
      record('eval', 25 * hour + 10, 110, { train: 1.9, val: 1.9 }),
    ].join('\n');
    const [run] = parseRunLog(log + '\n', 'log.jsonl');
    expect(run!.train.map((p) => p.seconds)).toEqual([25, 75]);
    expect(run!.val.map((p) => p.seconds)).toEqual([0, 50, 100, 110]);
    // a run's other records, and another run's, keep their own clocks
    const other = syntheticLog('b');
    expect(parseRunLog(other + log + '\n', 'log.jsonl')[1]!.val.map((p) => p.seconds)).toEqual([0, 50, 100, 110]);
    expect(parseRunLog(other + log + '\n', 'log.jsonl')[0]).toEqual(parseRunLog(other, 'log.jsonl')[0]);
  });

  it('a last line cut short (a run killed while writing it, or writing it now) is left out', () => {
    const log = syntheticLog('a');
    const cut = parseRunLog(log + '{"type":"eval","run":"a","st', 'log.jsonl');
    expect(cut).toEqual(parseRunLog(log, 'log.jsonl'));
    expect(cut[0]!.train).toHaveLength(10);
  });

  it('written by a run whose directory was deleted or moved: one line naming the log and why', async () => {
    const dir = join(tempDir('run-log'), 'out');
    mkdirSync(dir);
    const path = join(dir, 'log.jsonl');
    const log = await RunLog.open(path, 'a', { append: true });
    const step = { step: 1, loss: 3, lr: 1e-3, gradNorm: 1, ms: 10, tokensPerSec: 100, flopsPerSec: 1e8 };
    await log.step(step);
    expect(parseRunLog(readFileSync(path, 'utf8'), path)[0]!.run).toBe('a');
    renameSync(dir, `${dir}-moved`);
    await expect(log.step(step)).rejects.toThrow(`cannot append to ${path}: its directory ${dir} is gone (deleted or moved while the run was writing to it)`);
  });

  it('ticks are round values covering the range', () => {
    expect(ticks(1.92, 3.08, 6).map((v) => v.toFixed(1))).toEqual(['2.0', '2.2', '2.4', '2.6', '2.8', '3.0']);
    expect(ticks(0, 100, 6)).toEqual([0, 20, 40, 60, 80, 100]);
  });
});

describe('the loss chart', () => {
  const svg = lossChartSvg([{ label: 'run <1> & co', curves: parseRunLog(syntheticLog('r'), 'log')[0]! }], { axes: ['step', 'time'], title: 'loss' });
  const doc = parseXml(svg);
  const panels = findAll(doc, (e) => e.attrs.class === 'panel');

  it('is well-formed SVG with a panel per axis and one path per curve', () => {
    expect(doc.name).toBe('svg');
    expect(doc.attrs.xmlns).toBe('http://www.w3.org/2000/svg');
    expect(panels.map((p) => p.attrs['data-x'])).toEqual(['step', 'time']);
    for (const panel of panels) {
      const series = findAll(panel, (e) => e.name === 'path' && e.attrs.class === 'series');
      expect(series.map((s) => `${s.attrs['data-run']}/${s.attrs['data-series']}`)).toEqual(['run <1> & co/train', 'run <1> & co/trainSmoothed', 'run <1> & co/val']);
    }
    const legend = findAll(doc, (e) => e.attrs.class === 'legend')[0]!;
    // what each style is, then each run's name by its colour
    expect(findAll(legend, (e) => e.name === 'text').map((t) => t.text)).toEqual(['train loss, per step', 'train loss, smoothed', 'val loss, evaluated', 'train loss, evaluated', 'run <1> & co']);
  });

  it('labels its axes', () => {
    const labels = panels.map((p) => findAll(p, (e) => e.attrs.class === 'axis-label').map((e) => e.text));
    expect(labels).toEqual([
      ['step', 'loss'],
      ['training time (s)', 'loss'],
    ]);
  });

  it('draws each point where the tick labels say its value is', () => {
    for (const panel of panels) {
      const [train, val] = [seriesPath(panel, 'train'), seriesPath(panel, 'val')];
      const v = points(val!);
      expect(v).toEqual([
        [tickAt(panel, 'x', '0'), tickAt(panel, 'y', '3.0')], // step 0 (second 0), val 3.0
        [tickAt(panel, 'x', '100'), tickAt(panel, 'y', '2.0')], // step 100 (second 100), val 2.0
      ]);
      const t = points(train!);
      expect(t).toHaveLength(10);
      if (panel.attrs['data-x'] === 'step') expect(t[4]![0]).toBeCloseTo(tickAt(panel, 'x', '40') + 0.45 * (tickAt(panel, 'x', '60') - tickAt(panel, 'x', '40')), 1); // step 50's loss 2.5, at step 49
      else expect(t[4]![0]).toBeCloseTo((tickAt(panel, 'x', '40') + tickAt(panel, 'x', '60')) / 2, 1); // logged at second 50
      expect(t[4]![1]).toBeCloseTo((tickAt(panel, 'y', '2.4') + tickAt(panel, 'y', '2.6')) / 2, 1);
    }
  });
});

describe("a step's training loss", () => {
  it("is drawn at the step its weights had reached, where their evaluation is (the log's step counts the update after it; the page's chart draws it so)", () => {
    // step 1's loss was computed with the initial weights, which the evaluation at step 0 measured
    const records = [
      { type: 'eval', run: 'r', time: at(0), step: 0, train: 3, val: 3 },
      { type: 'train', run: 'r', time: at(1), step: 1, loss: 3 },
      { type: 'train', run: 'r', time: at(2), step: 2, loss: 2.75 },
      { type: 'train', run: 'r', time: at(3), step: 3, loss: 2.5 },
      { type: 'eval', run: 'r', time: at(3), step: 2, train: 2.5, val: 2.5 },
    ];
    const log = records.map((r) => JSON.stringify(r)).join('\n') + '\n';
    const panel = findAll(parseXml(lossChartSvg([{ label: 'r', curves: parseRunLog(log, 'log')[0]! }], { axes: ['step'], title: 'loss' })), (e) => e.attrs.class === 'panel')[0]!;
    const [train, val] = [seriesPath(panel, 'train'), seriesPath(panel, 'val')].map(points);
    expect(train!.map(([x]) => x)).toEqual([tickAt(panel, 'x', '0.0'), tickAt(panel, 'x', '1.0'), tickAt(panel, 'x', '2.0')]);
    expect(train![0]).toEqual(val![0]); // step 1's loss of 3 where step 0's evaluation of 3 is
    expect(train![2]).toEqual(val![1]); // step 3's loss of 2.5 where step 2's evaluation of 2.5 is
  });
});

describe("a step's training loss, smoothed", () => {
  it("is drawn over the raw line as the page draws it: each the mean of a window centred on it, a 50th of the run's steps each side, narrowed at the ends", () => {
    // 500 steps of a zigzag around a falling line: windows of 10 each side
    const n = 500;
    const losses = Array.from({ length: n }, (_, i) => 3 - i / n + (i % 2 ? 0.2 : -0.2) + (i % 7) / 50);
    const train = losses.map((loss, i) => ({ step: i, seconds: i, loss }));
    const svg = lossChartSvg([{ label: 'r', curves: { run: 'r', train, val: [], evalTrain: [], unplotted: { train: 0, eval: 0 } } }], { axes: ['step'], title: 'loss' });
    const panel = findAll(parseXml(svg), (e) => e.attrs.class === 'panel')[0]!;
    const drawn = points(seriesPath(panel, 'trainSmoothed'));
    // the reference: each window summed in float64, one by one
    const expected = losses.map((_, i) => {
      const h = Math.min(10, i, n - 1 - i);
      let sum = 0;
      for (let k = i - h; k <= i + h; k++) sum += losses[k]!;
      return sum / (2 * h + 1);
    });
    const [y2, y3] = [tickAt(panel, 'y', '2.0'), tickAt(panel, 'y', '3.0')];
    const [x0, x100] = [tickAt(panel, 'x', '0'), tickAt(panel, 'x', '100')];
    expect(drawn).toHaveLength(n);
    drawn.forEach(([x, y], i) => {
      expect(x).toBeCloseTo(x0 + (i / 100) * (x100 - x0), 1);
      expect(y).toBeCloseTo(y2 + (expected[i]! - 2) * (y3 - y2), 1);
    });
  });
});

describe('the loss axis', () => {
  const plotArea = (panel: XmlElement) => {
    const rect = findAll(panel, (e) => e.name === 'rect')[0]!;
    return { top: Number(rect.attrs.y), bottom: Number(rect.attrs.y) + Number(rect.attrs.height) };
  };

  it("covers the evaluations' train loss too: an overfit run's train dots were drawn below the chart", () => {
    // evaluations only (no step logged): train falls to 0.5 while val stays at 2
    const log = [0, 50, 100].map((step, i) => JSON.stringify({ type: 'eval', run: 'r', time: at(step), step, train: [2, 1, 0.5][i], val: 2 })).join('\n') + '\n';
    const panel = findAll(parseXml(lossChartSvg([{ label: 'r', curves: parseRunLog(log, 'log')[0]! }], { axes: ['step'], title: 'loss' })), (e) => e.attrs.class === 'panel')[0]!;
    const { top, bottom } = plotArea(panel);
    const dots = findAll(panel, (e) => e.attrs['data-series'] === 'evalTrain')[0]!.children.map((c) => Number(c.attrs.cy));
    expect(dots).toHaveLength(3);
    for (const y of dots) expect(y).toBeGreaterThanOrEqual(top), expect(y).toBeLessThanOrEqual(bottom);
    expect(dots[2]).toBeCloseTo(tickAt(panel, 'y', '0.5'), 1);
  });

  it("--y log: a diverged run's spike to 1000 leaves its loss of 4 readable; ticks a decade apart are equally far apart, each point where they say", () => {
    const train = [4, 3, 2.5, 10, 100, 1000].map((loss, i) => ({ step: i, seconds: i, loss }));
    const svg = lossChartSvg([{ label: 'r', curves: { run: 'r', train, val: [], evalTrain: [], unplotted: { train: 0, eval: 0 } } }], { axes: ['step'], title: 'loss', y: 'log' });
    const panel = findAll(parseXml(svg), (e) => e.attrs.class === 'panel')[0]!;
    expect(findAll(panel, (e) => e.attrs.class === 'axis-label').map((e) => e.text)).toEqual(['step', 'loss (log scale)']);
    const [y10, y100, y1000] = ['10', '100', '1000'].map((l) => tickAt(panel, 'y', l));
    expect(y10! - y100!).toBeCloseTo(y100! - y1000!, 1);
    const drawn = points(seriesPath(panel, 'train')).map(([, y]) => y);
    expect(drawn[3]).toBeCloseTo(y10!, 1);
    expect(drawn[5]).toBeCloseTo(y1000!, 1);
    expect(drawn[0]).toBeCloseTo(y10! + Math.log10(10 / 4) * (y10! - y100!), 1); // 4: log10(2.5) of a decade below 10
    const { top, bottom } = plotArea(panel);
    for (const y of drawn) expect(y).toBeGreaterThanOrEqual(top), expect(y).toBeLessThanOrEqual(bottom);
  });

  it('--y log within a decade: round ticks, spaced by their logarithms', () => {
    const train = [3, 2.5, 2].map((loss, i) => ({ step: i, seconds: i, loss }));
    const svg = lossChartSvg([{ label: 'r', curves: { run: 'r', train, val: [], evalTrain: [], unplotted: { train: 0, eval: 0 } } }], { axes: ['step'], title: 'loss', y: 'log' });
    const panel = findAll(parseXml(svg), (e) => e.attrs.class === 'panel')[0]!;
    const labels = findAll(panel, (e) => e.attrs.class === 'tick-y').map((t) => t.children.find((c) => c.name === 'text')!.text);
    expect(labels.length).toBeGreaterThanOrEqual(3);
    const [y2, y3] = [tickAt(panel, 'y', '2.0'), tickAt(panel, 'y', '3.0')];
    expect(points(seriesPath(panel, 'train'))[1]![1]).toBeCloseTo(y2 + (Math.log(2.5 / 2) / Math.log(3 / 2)) * (y3 - y2), 1);
  });
});

describe('steps whose loss is not finite', () => {
  it('break the line: no segment is drawn across them, as if the loss went straight from one side to the other', () => {
    // steps 1-10, the losses of steps 5 and 6 NaN (null in JSON), an evaluation at 4 and 8 whose val at 8 is Infinity
    const records = [
      ...Array.from({ length: 10 }, (_, i) => ({ type: 'train', run: 'r', time: at(i + 1), step: i + 1, loss: i === 4 || i === 5 ? null : 3 - i / 10 })),
      { type: 'eval', run: 'r', time: at(4), step: 0, train: 3, val: 3 },
      { type: 'eval', run: 'r', time: at(4), step: 4, train: 2.7, val: 2.7 },
      { type: 'eval', run: 'r', time: at(8), step: 8, train: 2.3, val: null },
      { type: 'eval', run: 'r', time: at(10), step: 10, train: 2.1, val: 2.1 },
    ];
    const log = records.map((r) => JSON.stringify(r)).join('\n') + '\n';
    const panel = findAll(parseXml(lossChartSvg([{ label: 'r', curves: parseRunLog(log, 'log')[0]! }], { axes: ['step'], title: 'loss' })), (e) => e.attrs.class === 'panel')[0]!;
    const moves = (key: string) => [...seriesPath(panel, key).attrs.d!.matchAll(/M([\d.]+) /g)].map((m) => Number(m[1]));
    const x = (step: number) => tickAt(panel, 'x', '0') + (step / 2) * (tickAt(panel, 'x', '2') - tickAt(panel, 'x', '0'));
    // the train records of steps 1-4 are drawn at 0-3, 7-10 at 6-9: a new stroke begins at 6
    expect(moves('train')).toEqual([x(0), x(6)].map((v) => Math.round(v * 100) / 100));
    expect(moves('trainSmoothed')).toEqual([x(0), x(6)].map((v) => Math.round(v * 100) / 100));
    expect(moves('val')).toEqual([x(0), x(10)].map((v) => Math.round(v * 100) / 100));
  });
});

describe('the legend', () => {
  /** Wider than its text at 12 px can be: 0.6 em a character (system-ui's digits and capitals are narrower). */
  const textRight = (t: XmlElement) => Number(t.attrs.x) + 0.6 * 12 * t.text.length;
  /** The legend's texts, their x in the SVG's coordinates (the legend's translate added). */
  function legendTexts(svg: string): XmlElement[] {
    const legend = findAll(parseXml(svg), (e) => e.attrs.class === 'legend')[0]!;
    const left = Number(/^translate\(([\d.]+) /.exec(legend.attrs.transform!)![1]);
    return findAll(legend, (e) => e.name === 'text').map((t) => ({ ...t, attrs: { ...t.attrs, x: String(left + Number(t.attrs.x)) } }));
  }

  it("fits the chart's width, whatever the runs' names: a long one cut in the middle (whole in its tooltip), no two entries overlapping", () => {
    const curves = parseRunLog(syntheticLog('r'), 'log')[0]!;
    const long = `gpt2-124M-openwebtext-lr6e-4-bs480-warmup2000-${'x'.repeat(200)}-run3`; // too long for both charts' widths
    for (const axes of [['step'], ['step', 'time']] as XAxis[][]) {
      const svg = lossChartSvg([{ label: long, curves }, { label: 'fresh', curves }], { axes, title: 'loss' });
      const width = Number(parseXml(svg).attrs.width);
      const texts = legendTexts(svg);
      for (const t of texts) expect(textRight(t), t.text).toBeLessThanOrEqual(width);
      for (const y of new Set(texts.map((t) => t.attrs.y))) {
        const sorted = texts.filter((t) => t.attrs.y === y).sort((a, b) => Number(a.attrs.x) - Number(b.attrs.x));
        for (let i = 1; i < sorted.length; i++) expect(textRight(sorted[i - 1]!), `${sorted[i - 1]!.text} runs into ${sorted[i]!.text}`).toBeLessThan(Number(sorted[i]!.attrs.x));
      }
      const cut = texts.find((t) => t.text.startsWith('gpt2-124M'))!;
      expect(cut.text).toMatch(/^gpt2-124M-openwebtext.*….*-run3$/);
      expect(cut.children.find((c) => c.name === 'title')?.text).toBe(long);
      expect(texts.map((t) => t.text)).toContain('fresh');
    }
  });
});

describe('more runs than colours', () => {
  it("are told apart: the 9th run's lines and legend mark are not the 1st's (same colour, dashed)", () => {
    const curves = parseRunLog(syntheticLog('r'), 'log')[0]!;
    const runs = Array.from({ length: 12 }, (_, i) => ({ label: `run${i}`, curves }));
    const doc = parseXml(lossChartSvg(runs, { axes: ['step'], title: 'loss' }));
    const look = (e: XmlElement) => `${e.attrs.stroke} ${e.attrs['stroke-dasharray'] ?? 'solid'}`;
    for (const key of ['trainSmoothed', 'val']) {
      const lines = findAll(doc, (e) => e.attrs['data-series'] === key).map(look);
      expect(new Set(lines).size, key).toBe(12);
    }
    const legend = findAll(doc, (e) => e.attrs.class === 'legend')[0]!;
    const marks = findAll(legend, (e) => e.name === 'line' && e.attrs['stroke-width'] === '4').map(look);
    expect(new Set(marks).size).toBe(12);
  });
});

describe("an evaluation's train loss", () => {
  it('is drawn as points at its steps, where the ticks say (the page draws it so: train against val at the same weights)', () => {
    // evaluated train losses 2.8 and 2.2 beside val losses 3 and 2
    const log = syntheticLog('r').replace('"train":3,', '"train":2.8,').replace('"train":2,', '"train":2.2,');
    const panel = findAll(parseXml(lossChartSvg([{ label: 'r', curves: parseRunLog(log, 'log')[0]! }], { axes: ['step'], title: 'loss' })), (e) => e.attrs.class === 'panel')[0]!;
    const points = findAll(panel, (e) => e.attrs['data-series'] === 'evalTrain' && e.attrs['data-run'] === 'r')[0]!;
    const dots = points.children.filter((c) => c.name === 'circle').map((c) => [Number(c.attrs.cx), Number(c.attrs.cy)]);
    expect(dots).toEqual([
      [tickAt(panel, 'x', '0'), tickAt(panel, 'y', '2.8')], // step 0: train 2.8
      [tickAt(panel, 'x', '100'), tickAt(panel, 'y', '2.2')], // step 100: train 2.2
    ]);
  });
});

describe('a long run logged at every step', () => {
  const n = 200_000;
  const chart = (loss: (i: number) => number) => {
    const train = Array.from({ length: n }, (_, i) => ({ step: i + 1, seconds: i + 1, loss: loss(i) }));
    const svg = lossChartSvg([{ label: 'long', curves: { run: 'r', train, val: [], evalTrain: [], unplotted: { train: 0, eval: 0 } } }], { axes: ['step'], title: 'loss' });
    const panel = findAll(parseXml(svg), (e) => e.attrs.class === 'panel')[0]!;
    return { svg, panel, drawn: points(seriesPath(panel, 'train')) };
  };

  it('200,000 points are drawn where the ticks say (no stack overflow from spreading them as arguments), a few a pixel column: the SVG stays small', () => {
    const { svg, panel, drawn } = chart((i) => 3 - i / n);
    const [x50k, x200k] = [tickAt(panel, 'x', '50000'), tickAt(panel, 'x', '200000')];
    const stepAt = (x: number) => 50_000 + ((x - x50k) / (x200k - x50k)) * 150_000;
    const [y2, y3] = [tickAt(panel, 'y', '2.0'), tickAt(panel, 'y', '3.0')];
    expect(drawn.length).toBeLessThanOrEqual(4 * (x200k - x50k) * (4 / 3)); // was all 200,000: 5.8 MB of SVG for a 100k-step run
    expect(svg.length).toBeLessThan(200_000);
    expect(stepAt(drawn[0]![0])).toBeCloseTo(1, -2); // step 1, to a pixel (450 steps)
    expect(stepAt(drawn.at(-1)![0])).toBeCloseTo(200_000, -2);
    // each point on the line: at step s, loss 3 - (s - 1) / n
    for (const [x, y] of drawn) expect(y).toBeCloseTo(y2 + (3 - (stepAt(x) - 1) / n - 2) * (y3 - y2), 0);
  });

  it("a pixel column's points reach their least and greatest loss, as every point drawn would", () => {
    const { panel, drawn } = chart((i) => (i % 2 ? 3 : 2)); // every column holds both values
    const [y2, y3] = [tickAt(panel, 'y', '2.0'), tickAt(panel, 'y', '3.0')];
    const columns = new Map<number, number[]>();
    for (const [x, y] of drawn) columns.set(Math.floor(x), [...(columns.get(Math.floor(x)) ?? []), y]);
    expect(columns.size).toBeGreaterThan(400);
    for (const [x, ys] of columns) expect([Math.min(...ys), Math.max(...ys)], `column ${x}`).toEqual([y3, y2]);
  });
});

describe('a run of a single record', () => {
  const log = JSON.stringify({ type: 'eval', run: 'r', time: at(0), step: 2, train: 2, val: 2 }) + '\n';
  const doc = parseXml(lossChartSvg([{ label: 'one', curves: parseRunLog(log, 'log')[0]! }], { axes: ['step', 'time'], title: 'loss' }));

  it('gets round ticks around its value, and its point drawn at them', () => {
    const [steps, time] = findAll(doc, (e) => e.attrs.class === 'panel');
    const labels = (panel: XmlElement) => findAll(panel, (e) => e.attrs.class === 'tick-x').map((t) => t.children.find((c) => c.name === 'text')!.text);
    expect(labels(steps!)).toEqual(['1.8', '1.9', '2.0', '2.1', '2.2']);
    expect(labels(time!)).toEqual(['0.0', '0.2', '0.4', '0.6', '0.8', '1.0']); // never below 0 s
    const val = findAll(steps!, (e) => e.attrs['data-series'] === 'val')[0]!;
    expect(points(val)[0]![0]).toBe(tickAt(steps!, 'x', '2.0'));
  });

  it('axisRange widens only a range of one value', () => {
    expect(axisRange(2, 2)).toEqual([1.8, 2.2]);
    expect(axisRange(0, 0)).toEqual([0, 1]);
    expect(axisRange(-5, -5)).toEqual([-5.5, -4.5]);
    expect(axisRange(2, 2.5)).toEqual([2, 2.5]);
  });
});

describe('gpt plot', () => {
  const dir = tempDir('plot');
  for (const [name, offset] of [['first', 0], ['second', 0.5]] as const) {
    mkdirSync(join(dir, name));
    writeFileSync(join(dir, name, 'log.jsonl'), syntheticLog(name, offset));
  }

  it('overlays runs given as directories or log files, labelled by directory', async () => {
    const out = join(dir, 'both.svg');
    const r = await gpt('plot', join(dir, 'first'), join(dir, 'second', 'log.jsonl'), '--out', out);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe(`wrote ${out}: 2 runs, 4 curves`);
    const doc = parseXml(readFileSync(out, 'utf8'));
    for (const panel of findAll(doc, (e) => e.attrs.class === 'panel')) {
      expect(findAll(panel, (e) => e.attrs.class === 'series').map((s) => `${s.attrs['data-run']}/${s.attrs['data-series']}`)).toEqual([
        'first/train',
        'first/trainSmoothed',
        'first/val',
        'second/train',
        'second/trainSmoothed',
        'second/val',
      ]);
    }
  });

  it("runs of one name in different places are told apart by their paths' last parts ('a/out', 'b/out', not 'out' and 'out (2)'); one run given twice is numbered", async () => {
    for (const parent of ['exp-a', 'exp-b']) {
      mkdirSync(join(dir, parent, 'out'), { recursive: true });
      writeFileSync(join(dir, parent, 'out', 'log.jsonl'), syntheticLog(parent));
    }
    const out = join(dir, 'same-names.svg');
    const r = await gpt('plot', join(dir, 'exp-a', 'out'), join(dir, 'exp-b', 'out', 'log.jsonl'), join(dir, 'exp-a', 'out'), '--x', 'step', '--out', out);
    expect(r.code, r.err).toBe(0);
    const runs = findAll(parseXml(readFileSync(out, 'utf8')), (e) => e.attrs['data-series'] === 'val').map((s) => s.attrs['data-run']);
    expect(runs).toEqual(['exp-a/out', 'exp-b/out', 'exp-a/out (2)']);
  });

  it('--x step draws one panel; bad input is one line', async () => {
    const out = join(dir, 'steps.svg');
    expect((await gpt('plot', join(dir, 'first'), '--x', 'step', '--out', out)).code).toBe(0);
    expect(findAll(parseXml(readFileSync(out, 'utf8')), (e) => e.attrs.class === 'panel').map((p) => p.attrs['data-x'])).toEqual(['step']);
    const none = await gpt('plot', '--out', out);
    expect([none.code, none.err]).toEqual([2, 'gpt plot: name one or more runs: a directory written by `gpt train`, or its log.jsonl']);
    const missing = await gpt('plot', join(dir, 'nowhere'));
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/^gpt plot: RUN names .*nowhere, which does not exist$/);
    const axis = await gpt('plot', join(dir, 'first'), '--x', 'tokens');
    expect([axis.code, axis.err]).toEqual([2, "gpt plot: flag --x must be one of both, step, time, got 'tokens'"]);
  });

  it('--y log draws a log loss axis; a loss of 0, which has no logarithm, is one line naming the run and step', async () => {
    const out = join(dir, 'log-y.svg');
    expect((await gpt('plot', join(dir, 'first'), '--y', 'log', '--out', out)).code).toBe(0);
    const labels = findAll(parseXml(readFileSync(out, 'utf8')), (e) => e.attrs.class === 'axis-label').map((e) => e.text);
    expect(labels).toEqual(['step', 'loss (log scale)', 'training time (s)', 'loss (log scale)']);
    const zero = join(dir, 'zero.jsonl');
    writeFileSync(zero, JSON.stringify({ type: 'eval', run: 'z', time: at(0), step: 5, train: 1, val: 0 }) + '\n');
    const refused = await gpt('plot', zero, '--y', 'log', '--out', out);
    expect([refused.code, refused.err]).toEqual([2, 'gpt plot: flag --y log takes losses above 0, but run zero has a loss of 0, drawn at step 5; give --y linear']);
    const bad = await gpt('plot', zero, '--y', 'sqrt', '--out', out);
    expect([bad.code, bad.err]).toEqual([2, "gpt plot: flag --y must be one of linear, log, got 'sqrt'"]);
  });

  it("--out takes an .svg file, or - for standard output (a pipe): not a .png that would hold SVG under a raster's name", async () => {
    const png = join(dir, 'loss.png');
    const refused = await gpt('plot', join(dir, 'first'), '--out', png);
    expect([refused.code, refused.err]).toEqual([2, `gpt plot: flag --out must name an .svg file (gpt plot draws SVG) or - (standard output), got ${png}`]);
    expect(existsSync(png)).toBe(false);
    const piped = await gpt('plot', join(dir, 'first'), '--out', '-');
    expect(piped.code, piped.err).toBe(0);
    expect(piped.err).toBe('wrote standard output: 1 run, 2 curves'); // not into the SVG
    expect(findAll(parseXml(piped.out), (e) => e.attrs.class === 'panel')).toHaveLength(2);
    expect(existsSync('-')).toBe(false);
    // case aside, an .svg is one
    const upper = join(dir, 'LOSS.SVG');
    expect((await gpt('plot', join(dir, 'first'), '--out', upper)).code).toBe(0);
    expect(parseXml(readFileSync(upper, 'utf8')).name).toBe('svg');
  });

  it('a line that is no record is bad usage naming the log and the line; only a last line cut short is left out, said in a note', async () => {
    const out = join(dir, 'lines.svg');
    // the log is appended a line at a time: a line cut short before others is no run's doing
    const lines = syntheticLog('b').split('\n');
    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, [...lines.slice(0, 5), '{"type":"train","run":"b","st', ...lines.slice(5)].join('\n'));
    const refused = await gpt('plot', bad, '--out', out);
    expect([refused.code, refused.err]).toEqual([2, `gpt plot: ${bad}:6: not a JSON line; RUN takes a run's log.jsonl, one JSON record a line (of which only a last line cut short is left out)`]);
    const torn = join(dir, 'torn.jsonl');
    writeFileSync(torn, syntheticLog('t') + '{"type":"eval","run":"t","st'); // 12 records, then a 13th cut short
    const drawn = await gpt('plot', torn, '--out', out);
    expect(drawn.code, drawn.err).toBe(0);
    expect(drawn.err).toBe(`note: ${torn}:13: left out a last line cut short (no newline ends it: its run was stopped, or is still writing it)`);
    expect(drawn.out).toBe(`wrote ${out}: 1 run, 2 curves`);
  });

  it("a diverged run's losses (NaN and Infinity, which JSON writes as null) are left out said in a note, and a log of nothing else says so; one curve is one curve", async () => {
    const out = join(dir, 'diverged.svg');
    const lines = syntheticLog('d').split('\n');
    const diverged = join(dir, 'diverged.jsonl');
    // the last two training steps' losses, and the last evaluation's val loss, not finite
    const nulled = lines.map((l, i) => (i >= 9 && i <= 11 ? l.replace(/"(loss|val)":[\d.]+/, '"$1":null') : l));
    writeFileSync(diverged, nulled.join('\n'));
    const drawn = await gpt('plot', diverged, '--out', out);
    expect(drawn.code, drawn.err).toBe(0);
    expect(drawn.err).toBe(`note: ${diverged}: left out 2 train and 1 eval records whose loss is not a finite number (null: JSON's NaN or Infinity, a diverged step)`);
    const none = join(dir, 'nan-only.jsonl');
    writeFileSync(none, JSON.stringify({ type: 'train', run: 'n', time: at(0), step: 1, loss: null }) + '\n');
    const refused = await gpt('plot', none, '--out', out);
    expect([refused.code, refused.err]).toEqual([2, `gpt plot: RUN names ${none}, which holds no train or eval records with a finite loss (1 without one); RUN takes a run that has logged a step (its directory, or its log.jsonl)`]);
    const trainOnly = join(dir, 'train-only.jsonl');
    writeFileSync(trainOnly, lines.filter((l) => l.includes('"train"') && !l.includes('"eval"')).join('\n') + '\n');
    expect((await gpt('plot', trainOnly, '--out', out)).out).toBe(`wrote ${out}: 1 run, 1 curve`);
  });

  it('a log gigabytes long with no newline (a sparse file of zeros) is refused at its first line, not read whole', async () => {
    for (const gib of [1, 20]) {
      const huge = join(dir, `zeros-${gib}g.jsonl`);
      writeFileSync(huge, '');
      truncateSync(huge, gib * 2 ** 30); // a hole: nothing on disk
      const t0 = performance.now();
      const r = await gpt('plot', huge, '--out', join(dir, 'zeros.svg'));
      expect([r.code, r.err]).toEqual([2, `gpt plot: ${huge}:1: no newline in its first 1048576 bytes, far past a record's; RUN takes a run's log.jsonl, one JSON record a line (of which only a last line cut short is left out)`]);
      expect(performance.now() - t0).toBeLessThan(2000);
    }
  });
});


// `gpt plot`: the loss curves of one or more runs (their log.jsonl, or the run directories holding
// one) as an SVG file, overlaid, against steps and against training time.
import { basename, dirname, join, resolve, sep } from 'node:path';
import { writeFileAtomic } from '../node/atomic-file.js';
import { fileLines, LineTooLongError } from '../node/file-lines.js';
import { isDirectoryPath, openRegularFile, unreadableReason } from '../node/regular-files.js';
import { lossChartSvg, type LabelledRun, type XAxis, type YScale } from '../plot/loss-svg.js';
import { RunLogError, runLogReader, type RunCurves } from '../plot/run-log.js';
import { flagHelp, parseFlags, UsageError, type FlagSpec } from './flags.js';
import { pathFlagProblem } from './path-flags.js';
import { plural } from './progress.js';

/** --out's name for standard output. */
const STDOUT = '-';

const PLOT_DEFAULTS = { out: 'loss.svg', x: 'both', y: 'linear', title: 'loss' };
const PLOT_FLAGS: FlagSpec<typeof PLOT_DEFAULTS> = {
  defaults: PLOT_DEFAULTS,
  paths: { out: (value) => (value === STDOUT ? null : 'new file') },
  ranges: {},
  choices: { x: ['both', 'step', 'time'], y: ['linear', 'log'] },
  docs: {
    out: "SVG file to write (its name ends in .svg), or '-': standard output, for a pipe",
    x: "'step', 'time' (training time: the time since the run's first record, less the time a run was stopped before --init-from resume continued it) or 'both' (side by side)",
    y: "the loss axis: 'linear' or 'log' (a diverged run's spike leaves the rest of the curve readable)",
    title: 'title above the chart',
  },
};

export const PLOT_HELP = `usage: gpt plot [flags] RUN...
Draws the train and val loss of each RUN (a directory written by \`gpt train\`, or its log.jsonl) into
one SVG, runs overlaid and labelled by their directory names. A step's train loss is drawn at the step
its weights had reached (logged as step N, it is drawn at N - 1, where their evaluation is drawn), as
nanoGPT's 'iter N: loss' pairs with its 'step N' evaluation, and as the browser page draws it.
${flagHelp(PLOT_FLAGS)}`;

export async function plot(args: string[]): Promise<number> {
  const { values: f, positional } = parseFlags(args, PLOT_FLAGS);
  if (!positional.length) throw new UsageError('name one or more runs: a directory written by `gpt train`, or its log.jsonl');
  // an SVG under another image's name opens nowhere as one
  if (f.out !== STDOUT && !/\.svg$/i.test(f.out)) throw new UsageError(`flag --out must name an .svg file (gpt plot draws SVG) or ${STDOUT} (standard output), got ${f.out}`);
  const runs = labelled((await Promise.all(positional.map(readRuns))).flat());
  if (f.y === 'log') {
    for (const { label, curves } of runs) {
      const p = [...curves.train, ...curves.val, ...curves.evalTrain].find((point) => point.loss <= 0);
      if (p) throw new UsageError(`flag --y log takes losses above 0, but run ${label} has a loss of ${p.loss}, drawn at step ${p.step}; give --y linear`);
    }
  }
  const svg = lossChartSvg(runs, { axes: f.x === 'both' ? ['step', 'time'] : [f.x as XAxis], title: f.title, y: f.y as YScale });
  if (f.out === STDOUT) process.stdout.write(svg);
  else await writeFileAtomic(f.out, svg);
  const series = runs.reduce((n, r) => n + (r.curves.train.length ? 1 : 0) + (r.curves.val.length ? 1 : 0), 0);
  // on stderr where stdout carries the SVG
  (f.out === STDOUT ? console.error : console.log)(`wrote ${f.out === STDOUT ? 'standard output' : f.out}: ${plural(runs.length, 'run')}, ${plural(series, 'curve')}`);
  return 0;
}

/** A run read, and where it came from: the parts of the path that name it (its directory's, or its log's less .jsonl), and its id where a log holds several. */
interface PlacedRun {
  place: string[];
  id: string;
  curves: RunCurves;
}

/** The runs of one argument. */
async function readRuns(arg: string): Promise<PlacedRun[]> {
  const isDir = await isDirectoryPath(arg);
  const file = isDir ? join(arg, 'log.jsonl') : arg;
  // a run directory without a log names the log it lacks
  const problem = pathFlagProblem('RUN', file, 'file');
  if (problem) throw new UsageError(problem);
  const parts = resolve(isDir ? arg : basename(file) === 'log.jsonl' ? dirname(file) : file.replace(/(\.log)?\.jsonl$/, '')).split(sep).filter(Boolean);
  const place = parts.length ? parts : [basename(file)]; // a log in / is named by its file
  const all = await readRunLog(file);
  const curves = all.filter((c) => c.train.length || c.val.length);
  const left = { train: all.reduce((n, c) => n + c.unplotted.train, 0), eval: all.reduce((n, c) => n + c.unplotted.eval, 0) };
  const unplotted = left.train + left.eval;
  if (!curves.length) {
    const held = unplotted ? ` with a finite loss (${unplotted} without one)` : '';
    throw new UsageError(`RUN names ${file}, which holds no train or eval records${held}; RUN takes a run that has logged a step (its directory, or its log.jsonl)`);
  }
  // a diverged run's last steps, not drawn: said, so that its curve is not taken for one that ended there
  if (unplotted) {
    const kinds = Object.entries(left).filter(([, n]) => n).map(([kind, n]) => `${n} ${kind}`);
    console.error(`note: ${file}: left out ${kinds.join(' and ')} record${unplotted === 1 ? '' : 's'} whose loss is not a finite number (null: JSON's NaN or Infinity, a diverged step)`);
  }
  return curves.map((c) => ({ place, id: curves.length > 1 ? ` ${c.run.slice(0, 8)}` : '', curves: c }));
}

/** The runs of the log `file`, read a line at a time; a line that is no record is bad usage naming it (RUN is no run's log). */
async function readRunLog(file: string): Promise<RunCurves[]> {
  let handle;
  try {
    handle = await openRegularFile(file);
  } catch (e) {
    throw new Error(`cannot read ${file}: ${unreadableReason(e)}`);
  }
  const reader = runLogReader(file, (line) => console.error(`note: ${line}`));
  try {
    for await (const { line, i, last } of fileLines(handle, file)) reader.line(line, i, last);
  } catch (e) {
    if (!(e instanceof RunLogError || e instanceof LineTooLongError)) throw e;
    throw new UsageError(`${e.message}; RUN takes a run's log.jsonl, one JSON record a line (of which only a last line cut short is left out)`);
  } finally {
    await handle.close();
  }
  return reader.curves();
}

/**
 * Each run labelled by as few of its path's last parts as tell it from the others ('exp-a/out' and
 * 'exp-b/out', where both are 'out'), and its id where its log holds several; a run given again is
 * numbered " (2)", " (3)", ...
 */
function labelled(runs: PlacedRun[]): LabelledRun[] {
  const label = (r: PlacedRun, parts: number) => r.place.slice(-parts).join('/') + r.id;
  const whole = (r: PlacedRun) => label(r, r.place.length);
  const seen = new Map<string, number>();
  return runs.map((r) => {
    let parts = 1;
    while (parts < r.place.length && runs.some((o) => whole(o) !== whole(r) && label(o, parts) === label(r, parts))) parts++;
    const n = (seen.get(whole(r)) ?? 0) + 1;
    seen.set(whole(r), n);
    return { label: label(r, parts) + (n === 1 ? '' : ` (${n})`), curves: r.curves };
  });
}

// Every op and update under every kernel variant this adapter runs, from a seeded generator: the
// rows `gpt doctor --check` prints as a pass/fail table. The same cases and runner as the tests.
import { initDevice } from '../device/device.js';
import { setAutotune } from '../kernels/autotune.js';
import { profileVariants, setProfile } from '../kernels/profile.js';
import { describeVerdicts } from '../kernels/self-check.js';
import { seededRandom } from './random.js';
import { availableChecks } from './run.js';

export interface CheckRow {
  op: string;
  variant: string;
  /** Samples checked (fewer than asked when one failed: the row stops there). */
  samples: number;
  /** The largest error over the samples, as a fraction of the tolerance. */
  worstError: number;
  ok: boolean;
  /** The failing call and why it failed. */
  error?: string;
}

export interface RunChecksOptions {
  /** Drawn calls per op and variant. */
  samples?: number;
  seed?: number;
}

const DEFAULTS = { samples: 4, seed: 1 };

/** A seed per (seed, entry, sample): every variant sees the same calls. */
const sampleSeed = (seed: number, entry: number, sample: number) => (Math.imul(seed ^ 0x9e3779b9, 31) + entry * 7919 + sample * 104_729) >>> 0;

/** Every check under every variant, a row per (entry, variant); the device must be open (initDevice). */
export async function runChecks(opts: RunChecksOptions = {}): Promise<CheckRow[]> {
  const { samples, seed } = { ...DEFAULTS, ...opts };
  const rows: CheckRow[] = [];
  // each drawn shape runs once: measuring its candidates (compiling each) was wasted, and its winner
  // stayed in the user's cache; and the variant's own kernels are the ones to check
  const tuning = setAutotune(false);
  try {
    for (const variant of profileVariants()) {
      setProfile(variant.overrides);
      for (const [e, { name: op, check }] of availableChecks().entries()) {
        const row: CheckRow = { op, variant: variant.name, samples: 0, worstError: 0, ok: true };
        for (let i = 0; i < samples && row.ok; i++) {
          const result = await check(seededRandom(sampleSeed(seed, e, i)));
          row.samples++;
          row.worstError = Math.max(row.worstError, result.worst);
          if (result.failure) Object.assign(row, { ok: false, error: `${result.what}: ${result.failure}` });
        }
        rows.push(row);
      }
    }
  } finally {
    setProfile(null);
    setAutotune(tuning);
  }
  return rows;
}

const cell = (row: CheckRow | undefined) => (!row ? '-' : row.ok ? row.worstError.toFixed(3) : 'FAIL');

/**
 * The table: an op per line, a column per variant holding the worst error as a fraction of the
 * tolerance (ok up to 1) or FAIL; then each failure with its call and reason.
 */
export function formatChecks(rows: CheckRow[]): string[] {
  const variants = [...new Set(rows.map((r) => r.variant))];
  const ops = [...new Set(rows.map((r) => r.op))];
  const width = Math.max(...ops.map((o) => o.length), 2) + 2;
  const col = Math.max(...variants.map((v) => v.length), 6) + 2;
  const line = (first: string, cells: string[]) => [first.padEnd(width), ...cells.map((c) => c.padEnd(col))].join('').trimEnd();
  const failed = rows.filter((r) => !r.ok);
  return [
    line('op', variants),
    ...ops.map((op) => line(op, variants.map((v) => cell(rows.find((r) => r.op === op && r.variant === v))))),
    ...failed.map((r) => `FAIL ${r.op} (${r.variant}): ${r.error}`),
    failed.length ? `${failed.length} of ${rows.length} checks failed` : `all ${rows.length} checks passed (${ops.length} ops and updates x ${variants.length} variants)`,
  ];
}

/** `gpt doctor --check`: runs every check on this adapter and prints the table; true when all passed. */
export async function doctorCheck(print: (line: string) => void): Promise<boolean> {
  await initDevice();
  print(describeVerdicts());
  const { samples, seed } = DEFAULTS;
  print(`Checking every op against its float64 reference: ${samples} drawn calls per op and kernel variant, seed ${seed}.`);
  print('Each cell: the worst error as a fraction of the tolerance (ok up to 1).');
  const rows = await runChecks();
  for (const line of formatChecks(rows)) print(line);
  return rows.every((r) => r.ok);
}

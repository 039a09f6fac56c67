// Elementwise comparison with a tolerance, reporting the worst element: what every check of the
// engine against a reference prints when it fails.
import { unravel } from './reference/array.js';
import type { Tolerance } from './sample.js';

export interface Mismatch {
  index: number;
  got: number;
  want: number;
  /** |got - want| / (atol + rtol |want|): within tolerance when <= 1; Infinity for a NaN or an exact mismatch. */
  ratio: number;
}

/** How far `got` is from `want` (equal values, NaN with NaN and equal infinities are 0 apart). */
export function errorRatio(got: number, want: number, tol: Tolerance): number {
  if (got === want || (Number.isNaN(got) && Number.isNaN(want))) return 0;
  const diff = Math.abs(got - want);
  const bound = tol.atol + tol.rtol * Math.abs(want);
  return Number.isNaN(diff) || diff === Infinity || bound === 0 ? Infinity : diff / bound;
}

/** The element of `got` furthest from `want` relative to the tolerance (the first such; null for no elements). */
export function worstElement(got: ArrayLike<number>, want: ArrayLike<number>, tol: Tolerance): Mismatch | null {
  let worst: Mismatch | null = null;
  for (let i = 0; i < want.length; i++) {
    const ratio = errorRatio(got[i]!, want[i]!, tol);
    if (!worst || ratio > worst.ratio) worst = { index: i, got: got[i]!, want: want[i]!, ratio };
  }
  return worst;
}

/** One line: where, what, how far. */
export function describeMismatch(m: Mismatch, shape: readonly number[], tol: Tolerance): string {
  const at = shape.length > 1 ? ` [${unravel(m.index, shape).join(', ')}]` : '';
  return `element ${m.index}${at} is ${m.got}, expected ${m.want} (atol ${tol.atol}, rtol ${tol.rtol})`;
}

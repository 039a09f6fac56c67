// Allowed ranges of numeric settings, declared as data next to their defaults, and the one check
// that command-line flags, config files and checkpoint metadata all go through: a value is refused
// the same way wherever it comes from, with the range it must be in.

/** Finite numbers from `min` (or above `above`) up to `max` (or below `below`); safe integers only if `int`. */
export interface Range {
  int?: boolean;
  min?: number;
  above?: number;
  max?: number;
  below?: number;
}

/** A range for every numeric key of T, so a new numeric setting without one is a type error. */
export type RangesOf<T> = { [K in keyof T as T[K] extends number ? K : never]-?: Range };

export const POSITIVE_INT: Range = { int: true, min: 1 };
export const NON_NEGATIVE_INT: Range = { int: true, min: 0 };
export const POSITIVE: Range = { above: 0 };
export const NON_NEGATIVE: Range = { min: 0 };
/** [0, 1): dropout, Adam's betas. */
export const UNIT_INTERVAL: Range = { min: 0, below: 1 };
export const SEED: Range = { int: true, min: 0, max: Number.MAX_SAFE_INTEGER };

export function inRange(value: unknown, r: Range): value is number {
  if (typeof value !== 'number' || !Number.isFinite(value)) return false;
  if (r.int && !Number.isSafeInteger(value)) return false;
  if (r.min !== undefined && value < r.min) return false;
  if (r.above !== undefined && value <= r.above) return false;
  if (r.max !== undefined && value > r.max) return false;
  return !(r.below !== undefined && value >= r.below);
}

/** "an integer >= 1", "a number in [0, 1)", "exactly 8" (one value allowed), ... */
export function describeRange(r: Range): string {
  if (r.min !== undefined && r.min === r.max) return `exactly ${r.min}`;
  const what = r.int ? 'an integer' : 'a finite number';
  const low = r.min ?? r.above;
  const high = r.max ?? r.below;
  if (low !== undefined && high !== undefined) {
    const shownHigh = high === Number.MAX_SAFE_INTEGER ? '2^53 - 1' : high;
    return `${what} in ${r.min !== undefined ? '[' : '('}${low}, ${shownHigh}${r.max !== undefined ? ']' : ')'}`;
  }
  if (low !== undefined) return `${what} ${r.min !== undefined ? '>=' : '>'} ${low}`;
  if (high !== undefined) return `${what} ${r.max !== undefined ? '<=' : '<'} ${high}`;
  return what;
}

/** `${name} must be <range>, got <shown>` when value is outside r, else null. */
export function rangeProblem(name: string, value: unknown, r: Range, shown = show(value)): string | null {
  if (inRange(value, r)) return null;
  // an integer past 2^53 - 1 breaks no bound the range states: name the one it does
  const unsafe = r.int && r.max === undefined && r.below === undefined && Number.isInteger(value) && !Number.isSafeInteger(value);
  return `${name} must be ${describeRange(unsafe ? { ...r, max: Number.MAX_SAFE_INTEGER } : r)}, got ${shown}`;
}

/**
 * What is wrong with one setting, or null: it must have its default's type, a number must be in
 * its range (`range` is required for numbers), a string must not be empty.
 */
export function settingProblem(name: string, value: unknown, def: unknown, range?: Range, shown = show(value)): string | null {
  if (typeof def === 'number') return rangeProblem(name, value, range!, shown);
  if (typeof value !== typeof def) return `${name} must be ${typeof def === 'boolean' ? 'true or false' : `a ${typeof def}`}, got ${shown}`;
  return value === '' ? `${name} must not be empty` : null;
}

/** Whether `x` is a plain object (a JSON object: not null, not an array). */
export const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** A value as JSON would spell it, except that Infinity and NaN keep their names. */
export const show = (v: unknown): string => (typeof v === 'number' ? String(v) : (JSON.stringify(v) ?? String(v)));

// Drawing valid arguments from a Random: dims, shapes, broadcasting shapes, permutations and values.
// Shapes follow the tests' usual mix: small dims, and the primes and sizes around 64 that break
// tilings and vector widths; element counts stay small (a few thousand) so every check is fast.
import { numel, ref, type Ref } from './reference/array.js';
import type { Random } from './random.js';

/** Elements a drawn tensor has at most, unless a case asks for fewer. */
export const MAX_SIZE = 4096;

export const bool = (r: Random) => r.int(0, 1) === 1;
export const pick = <T>(r: Random, items: readonly T[]): T => items[r.int(0, items.length - 1)]!;
/** One float32 value in [lo, hi]. */
export const float = (r: Random, lo: number, hi: number) => r.floats(1, lo, hi)[0]!;

/** d, or now and then 0 where r draws empty tensors (r.emptyDims); r's other draws are as they were. */
export const maybeEmpty = (r: Random, d: number) => (r.emptyDims && r.int(0, 4) === 0 ? 0 : d);

/** A dimension: small (1-8), or one of the sizes that break tilings (primes, 64 +- a few); 0 now and then where r.emptyDims. */
export const dim = (r: Random, max = 70) => maybeEmpty(r, Math.min(max, bool(r) ? r.int(1, 8) : pick(r, [1, 2, 3, 5, 7, 13, 31, 63, 65, 67, 70])));

/** A vocabulary's (or a table's) size: a dim, at least 1 where r.emptyDims too (ids and targets index it). */
export const vocabulary = (r: Random) => Math.max(1, dim(r));

/** Halves the largest dims until the shape has at most maxSize elements. */
export function cap(shape: number[], maxSize: number): number[] {
  const s = [...shape];
  while (numel(s) > maxSize) {
    const i = s.indexOf(Math.max(...s));
    s[i] = Math.ceil(s[i]! / 2);
  }
  return s;
}

export function shape(r: Random, minRank = 0, maxRank = 4, maxSize = MAX_SIZE): number[] {
  const rank = r.int(minRank, maxRank);
  return cap(Array.from({ length: rank }, () => dim(r)), maxSize);
}

/**
 * A shape of rank 1 to `maxRank` with more than `minSize` elements (then capped at `maxSize`):
 * drawn like `shape`, then random dims doubled until it is that large. Cases draw some of these so
 * that the 'small-bindings' profile variant (a 4 KiB binding, profile.ts) sees tensors larger than
 * a binding; more than 2048 elements are past it in float16 too.
 */
export function largeShape(r: Random, minSize = 2048, maxSize = MAX_SIZE, maxRank = 4): number[] {
  const s = shape(r, 1, maxRank, Infinity);
  while (numel(s) <= minSize) {
    const i = r.int(0, s.length - 1);
    s[i] = 2 * s[i]! + 1;
  }
  return cap(s, maxSize);
}

/** A shape that broadcasts to `s`: some leading dims dropped, some others set to 1. */
export function broadcastFrom(r: Random, s: readonly number[]): number[] {
  return s.slice(r.int(0, s.length)).map((d) => (r.int(0, 3) === 0 ? 1 : d));
}

/** `count` shapes broadcasting together: each from one shape by broadcastFrom, or that shape itself. */
export function broadcastShapes(r: Random, count: number): number[][] {
  const s = shape(r);
  return Array.from({ length: count }, () => (r.int(0, 2) === 0 ? [...s] : broadcastFrom(r, s)));
}

/** 0..n-1 in a random order (Fisher-Yates). */
export function permutation(r: Random, n: number): number[] {
  const p = [...Array(n).keys()];
  for (let i = n - 1; i > 0; i--) {
    const j = r.int(0, i);
    [p[i], p[j]] = [p[j]!, p[i]!];
  }
  return p;
}

/** Float32 values in [lo, hi] of a shape. */
export const values = (r: Random, s: number[], lo = -3, hi = 3): Ref => ref(s, r.floats(numel(s), lo, hi));

/** Integers in [lo, hi] of a shape. */
export const ints = (r: Random, s: number[], lo: number, hi: number): Ref => ref(s, r.ints(numel(s), lo, hi));

/** Multiples of `step` in [lo, hi]: values with exact ties. */
export const grid = (r: Random, s: number[], lo: number, hi: number, step = 1): Ref =>
  ref(s, r.ints(numel(s), Math.ceil(lo / step), Math.floor(hi / step)).map((k) => k * step));

/**
 * Distinct values in [lo, hi], at least (hi - lo) / n apart: the ranks of random floats placed on a
 * grid, so no two sit within a finite-difference step of each other (a max without ties).
 */
export function distinct(r: Random, s: number[], lo = -3, hi = 3): Ref {
  const n = numel(s);
  const raw = r.floats(n, 0, 1);
  const order = [...Array(n).keys()].sort((a, b) => raw[a]! - raw[b]! || a - b);
  const data = new Float64Array(n);
  const step = (hi - lo) / Math.max(n, 1);
  order.forEach((i, rank) => (data[i] = Math.fround(lo + (rank + 0.5) * step)));
  return { shape: s, data };
}

/** Logits: small ones, ones spread over [-80, 80], or small ones around a large offset (exp overflows unless the row max is subtracted). */
export function logits(r: Random, s: number[]): Ref {
  const kind = r.int(0, 2);
  if (kind === 0) return values(r, s);
  if (kind === 1) return values(r, s, -80, 80);
  const offset = pick(r, [80, -80, 1000]);
  const x = values(r, s);
  return { shape: s, data: x.data.map((v) => Math.fround(v + offset)) };
}

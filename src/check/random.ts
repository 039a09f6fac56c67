// Where the checks' random choices come from. A case draws its arguments from this small interface,
// so one case runs from fast-check in the tests (which can then replay and shrink it) and from a
// seeded generator in `gpt doctor --check` (which must not depend on fast-check).
export interface Random {
  /** An integer in [min, max]. */
  int(min: number, max: number): number;
  /** n integers in [min, max]. */
  ints(n: number, min: number, max: number): number[];
  /** n float32 values in [min, max], up to float32 rounding of the bounds (no NaN or infinity). */
  floats(n: number, min: number, max: number): ArrayLike<number>;
  /** Whether drawn dims may be 0 (draw.ts maybeEmpty): the empty-tensor pass of the ops that take them (run.ts). */
  emptyDims?: boolean;
}

/** xorshift32: a deterministic stream of numbers in [0, 1). */
function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

/** Deterministic pseudo-random values in [min, max) (float64), e.g. the weights of a gradient check. */
export function seededValues(n: number, seed: number, min = -1, max = 1): Float64Array {
  const next = xorshift(seed);
  return Float64Array.from({ length: n }, () => min + next() * (max - min));
}

/** A Random from a seed: uniform draws. */
export function seededRandom(seed: number): Random {
  const next = xorshift(seed);
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  const float = (min: number, max: number) => Math.fround(min + next() * (max - min));
  return {
    int,
    ints: (n, min, max) => Array.from({ length: n }, () => int(min, max)),
    floats: (n, min, max) => Float32Array.from({ length: n }, () => float(min, max)),
  };
}

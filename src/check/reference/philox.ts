// Plain-TypeScript Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
// SC 2011), written independently of the WGSL in src/kernels/wgsl/random.ts: the 64-bit products
// come from exact float64 arithmetic on 16-bit halves rather than from 16x16 integer partials.
// Also the engine's derived draws (uniform, Box-Muller normal, dropout mask) in float64.
const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** [hi, lo] of the 64-bit product of two u32. */
export function mulhilo(a: number, b: number): [number, number] {
  const ah = a >>> 16;
  const al = a & 0xffff;
  // a b = ah b 2^16 + al b, both terms < 2^48 so exact in float64
  const hi = Math.floor((ah * b + Math.floor((al * b) / 65536)) / 65536);
  return [hi >>> 0, Math.imul(a, b) >>> 0];
}

/** Philox4x32 with 10 rounds: four u32 outputs for a four-word counter and a two-word key. */
export function philox4x32(counter: readonly number[], key: readonly number[]): [number, number, number, number] {
  let [c0, c1, c2, c3] = counter.map((v) => v >>> 0) as [number, number, number, number];
  let [k0, k1] = key.map((v) => v >>> 0) as [number, number];
  for (let round = 0; round < 10; round++) {
    const [hi0, lo0] = mulhilo(M0, c0);
    const [hi1, lo1] = mulhilo(M1, c2);
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  return [c0, c1, c2, c3];
}

/** The 64-bit seed as the key (low word, high word). */
const seedKey = (seed: number): [number, number] => [seed >>> 0, Math.floor(seed / 2 ** 32) >>> 0];

/** The top 24 bits as a float in [0, 1) (exact in float32). */
export const uniform01 = (u: number): number => (u >>> 8) / 2 ** 24;

/** The words element i of a draw keyed by `seed` uses. */
export const draw = (i: number, seed: number) => philox4x32([i, 0, 0, 0], seedKey(seed));

export function uniformRef(n: number, seed: number, low = 0, high = 1): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = low + (high - low) * uniform01(draw(i, seed)[0]);
  return out;
}

/** Box-Muller on the first two words: sqrt(-2 ln(1 - u1)) cos(2 pi u2). */
export function normalRef(n: number, seed: number, mean = 0, std = 1): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const [x, y] = draw(i, seed);
    out[i] = mean + std * Math.sqrt(-2 * Math.log(1 - uniform01(x))) * Math.cos(2 * Math.PI * uniform01(y));
  }
  return out;
}

/** Dropout's keep mask: element i survives iff uniform01(philox(i, seed).x) >= p. */
export function dropoutMaskRef(n: number, p: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = uniform01(draw(i, seed)[0]) >= p ? 1 : 0;
  return out;
}

/**
 * Attention dropout's keep decision for key j of query i in head row bh (b * nHead + h): word
 * j % 4 of philox((floor(j / 4), i, bh, 0), seed), tested as dropout's.
 */
export function attentionKeepRef(bh: number, i: number, j: number, p: number, seed: number): boolean {
  return uniform01(philox4x32([Math.floor(j / 4), i, bh, 0], seedKey(seed))[j % 4]!) >= p;
}

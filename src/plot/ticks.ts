// Round axis values, shared by the page's canvas chart and `gpt plot`'s SVG.

/**
 * [lo, hi] as an axis can show it: a range of one value (a run with a single record) would get
 * ticks of that value plus float noise ("2.0000000002"), so it is widened around the value, by a
 * tenth of it (by 1 around 0), never below 0 when the values are not.
 */
export function axisRange(lo: number, hi: number): [number, number] {
  const size = Math.max(Math.abs(lo), Math.abs(hi));
  if (hi - lo > size * 1e-9) return [lo, hi];
  const half = size / 10 || 1;
  return [lo >= 0 ? Math.max(0, lo - half) : lo - half, hi + half];
}

/** About `n` round values (1, 2 or 5 times a power of ten apart) between lo and hi. */
export function ticks(lo: number, hi: number, n: number): number[] {
  const step = tickStep(lo, hi, n);
  const out: number[] = [];
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) out.push(k * step + 0); // + 0: never -0
  return out;
}

/** The distance between ticks(lo, hi, n). */
export function tickStep(lo: number, hi: number, n: number): number {
  const raw = (hi - lo) / n || 1;
  const mag = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw * (1 - 1e-9)) ?? 10 * mag;
}

/** A tick value as a label with the decimals its step needs (0.05 apart: two; 50 apart: none). */
export function tickLabel(v: number, step: number): string {
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return v.toFixed(decimals);
}

/**
 * Round values for a log axis from lo to hi (0 < lo < hi), labelled: within a decade, ticks() of
 * the range; across decades 1, 2 and 5 times powers of ten, or powers of ten alone where those
 * would be more than 10.
 */
export function logTicks(lo: number, hi: number): { value: number; label: string }[] {
  if (hi / lo < 10) {
    const step = tickStep(lo, hi, 6);
    return ticks(lo, hi, 6).map((value) => ({ value, label: tickLabel(value, step) }));
  }
  const within = (mantissas: number[]) => {
    const out: number[] = [];
    for (let k = Math.floor(Math.log10(lo)); k <= Math.ceil(Math.log10(hi)); k++) {
      // 10 ** -k, not 10 ** k: 2 * 10 ** -2 is 0.020000000000000004
      for (const m of mantissas) out.push(k < 0 ? m / 10 ** -k : m * 10 ** k);
    }
    return out.filter((v) => v >= lo && v <= hi);
  };
  const fine = within([1, 2, 5]);
  return (fine.length <= 10 ? fine : within([1])).map((value) => ({ value, label: tickLabel(value, value) }));
}

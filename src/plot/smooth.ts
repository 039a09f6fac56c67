// The training loss smoothed, as the page's chart and `gpt plot` draw it. Platform-free.

/**
 * `losses` smoothed without lag: each the mean of a window centred on it, a 50th of the run's steps
 * each side (a short run's are left as they are), narrowed at the run's ends to stay centred. An
 * EMA of 0.9 trailed a falling loss by ~9 steps, which put a short run's train line above its val
 * line at the same step; one tied to no length left a long run's noise, or lagged on a short one.
 */
export function smoothed(losses: readonly number[]): number[] {
  const n = losses.length;
  const half = Math.floor(n / 50);
  const sums = new Float64Array(n + 1); // prefix sums: a long run's 200k steps at one pass
  for (let i = 0; i < n; i++) sums[i + 1] = sums[i]! + losses[i]!;
  return losses.map((_, i) => {
    const h = Math.min(half, i, n - 1 - i);
    return (sums[i + h + 1]! - sums[i - h]!) / (2 * h + 1);
  });
}

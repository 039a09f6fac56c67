// Float64 scalar functions the elementwise references need beyond Math: erf and the two GELUs.
export const geluTanh = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

/** erf to ~1e-14: Maclaurin series below 2.5, Lentz's continued fraction for erfc above. */
function erf(x: number): number {
  const a = Math.abs(x);
  if (a < 2.5) {
    let term = a;
    let sum = a;
    for (let n = 1; n < 80; n++) {
      term *= (-a * a) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(a) = exp(-a^2) / sqrt(pi) * 1 / (a + (1/2) / (a + 1 / (a + (3/2) / (a + 2 / (a + ...)))))
  let cf = a;
  for (let n = 60; n >= 1; n--) cf = a + n / 2 / cf;
  const erfc = Math.exp(-a * a) / Math.sqrt(Math.PI) / cf;
  return Math.sign(x) * (1 - erfc);
}

/** Exact GELU: x Phi(x). */
export const gelu = (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2));

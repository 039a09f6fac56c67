// A kernel that walks operands through a shape indexes at most MAX_RANK dims (its uniforms hold 8
// sizes and strides). Most shapes need fewer once size-1 dims are dropped and neighbours laid out one
// after another in every operand are merged: the same elements at the same offsets, fewer dims.

/** `shape` with size-1 dims dropped and neighbours merged where every one of `layouts` (strides, one per dim) holds them contiguously. */
export function mergeDims(shape: readonly number[], layouts: readonly (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const merged: number[] = [];
  const strides: number[][] = layouts.map(() => []);
  shape.forEach((len, d) => {
    if (len === 1) return;
    const last = merged.length - 1;
    if (last >= 0 && layouts.every((s, j) => strides[j]![last] === s[d]! * len)) {
      merged[last] *= len;
      layouts.forEach((s, j) => (strides[j]![last] = s[d]!));
    } else {
      merged.push(len);
      layouts.forEach((s, j) => strides[j]!.push(s[d]!));
    }
  });
  return { shape: merged, strides };
}

// Shape arithmetic shared by every op: element counts, strides, broadcasting, axis normalisation.
export type Shape = readonly number[];

/** Whether `value` is a shape: an array of non-negative safe integers. */
export const isShape = (value: unknown): value is number[] => Array.isArray(value) && value.every((d) => Number.isSafeInteger(d) && d >= 0);

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function formatShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

export function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** NumPy broadcasting of two or more shapes; throws naming `op` when they are incompatible. */
export function broadcastShapes(op: string, ...shapes: Shape[]): number[] {
  let rank = 0;
  for (const s of shapes) rank = Math.max(rank, s.length);
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const d = s[s.length - 1 - i]!;
      const j = rank - 1 - i;
      if (d === out[j] || d === 1) continue;
      if (out[j] === 1) out[j] = d;
      else throw new Error(`${op}: shapes ${shapes.map(formatShape).join(' and ')} cannot be broadcast together`);
    }
  }
  return out;
}

/** Strides of `shape` read as if broadcast to `outShape` (0 along broadcast dims). */
export function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const strides = stridesOf(shape);
  const pad = outShape.length - shape.length;
  return outShape.map((_, i) => (i < pad || shape[i - pad] === 1 ? 0 : strides[i - pad]!));
}

/** Normalises a possibly negative axis, or throws naming `op`. */
export function normAxis(op: string, axis: number, rank: number): number {
  const n = Math.max(rank, 1); // a 0-d tensor takes axis 0 or -1, as in PyTorch
  const a = axis < 0 ? axis + n : axis;
  if (!Number.isInteger(axis) || a < 0 || a >= n) {
    throw new RangeError(`${op}: axis ${axis} is out of range for a tensor of rank ${rank}`);
  }
  return a;
}

/** Axes normalised and sorted (all of them for undefined); checkAxes refuses repeated ones first, naming what was given. */
export function normAxes(op: string, axes: number | readonly number[] | undefined, rank: number): number[] {
  if (axes === undefined) return [...Array(rank).keys()];
  const list = (typeof axes === 'number' ? [axes] : [...axes]).map((a) => normAxis(op, a, rank));
  return list.sort((a, b) => a - b);
}

export function sameShape(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

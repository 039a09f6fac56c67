// Float64 references of broadcasting and its reduction back.
import { numel, reduce, zipN, type Ref } from './array.js';

/** a broadcast to `shape`. */
export const expandRef = (a: Ref, shape: number[]): Ref => zipN([a, { shape, data: new Float64Array(numel(shape)) }], (v) => v);

/** a summed down to `shape`, which a's shape broadcasts from. */
export function sumToRef(a: Ref, shape: number[]): Ref {
  const lead = a.shape.length - shape.length;
  const axes = a.shape.flatMap((d, i) => (i < lead || (shape[i - lead] === 1 && d !== 1) ? [i] : []));
  return { shape, data: reduce(a, axes, 0, (x, y) => x + y).data };
}

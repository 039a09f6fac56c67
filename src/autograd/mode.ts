// Whether ops record the graph. `noGrad(fn)` turns recording off for fn (sync or async); an async
// fn's tasks only, not another task running meanwhile (src/tensor/async-context.ts).
import { AsyncContext } from '../tensor/async-context.js';

const gradEnabled = new AsyncContext(true);

export function isGradEnabled(): boolean {
  return gradEnabled.get();
}

export function noGrad<R>(fn: () => R): R {
  if (typeof fn !== 'function') throw new TypeError(`noGrad: argument 'fn' must be a function, got ${fn === null ? 'null' : typeof fn}`);
  return gradEnabled.run(false, fn);
}

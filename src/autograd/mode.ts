// Whether ops record the graph. `noGrad(fn)` turns recording off for fn (sync or async).
let enabled = true;

export function isGradEnabled(): boolean {
  return enabled;
}

export function noGrad<R>(fn: () => R): R {
  if (typeof fn !== 'function') throw new TypeError(`noGrad: argument 'fn' must be a function, got ${fn === null ? 'null' : typeof fn}`);
  const prev = enabled;
  enabled = false;
  let result: R;
  try {
    result = fn();
  } catch (e) {
    enabled = prev;
    throw e;
  }
  if (result instanceof Promise) return result.finally(() => (enabled = prev)) as R;
  enabled = prev;
  return result;
}

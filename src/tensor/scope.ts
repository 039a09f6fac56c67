// Memory scopes: every tensor created while a scope is open belongs to it and is disposed when the
// scope ends, except the tensors the scope returns (they move to the enclosing scope). Works across
// `await`: the scope stays open until the callback's promise settles. Scopes are a stack, so
// concurrent (interleaved) async scopes are not supported.
interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
}

const stack: Set<Disposable>[] = [];

/** What scopes freed at their end (not disposed by hand), for the use-after-dispose error to say so. */
export const freedByScope = new WeakSet<Disposable>();

/** The key of a property every tracked object has (true), to recognise them in a scope's results. */
export const SCOPED = Symbol('scoped');

export function trackInScope(t: Disposable & { readonly [SCOPED]: true }): void {
  stack[stack.length - 1]?.add(t);
}

/** Removes a tensor from the scope that owns it (e.g. a parameter's .grad, owned by the parameter). */
export function untrack(t: Disposable): void {
  for (let i = stack.length - 1; i >= 0; i--) if (stack[i]!.delete(t)) return;
}

/** Keeps `t` alive past the end of every open scope. */
export function keep<T extends Disposable>(t: T): T {
  for (const s of stack) s.delete(t);
  return t;
}

export function scope<R>(fn: () => R): R {
  // scope(tensor) (the tensor, not a callback making it) would fail as 'fn is not a function'
  if (typeof fn !== 'function') throw new TypeError(`scope: argument 'fn' must be a function, got ${fn === null ? 'null' : typeof fn}`);
  const owned = new Set<Disposable>();
  stack.push(owned);
  let result: R;
  try {
    result = fn();
  } catch (e) {
    close(owned, undefined);
    throw e;
  }
  if (result instanceof Promise) {
    return result.then(
      (r) => (close(owned, r), r),
      (e) => {
        close(owned, undefined);
        throw e;
      },
    ) as R;
  }
  close(owned, result);
  return result;
}

/**
 * Runs `fn`; if it throws, disposes the tensors it created and did not keep(). Otherwise changes
 * nothing: they go on to the enclosing scope, as without it. (An op's forward: what it allocated
 * before refusing, e.g. its output, is held by nothing outside a scope.)
 */
export function freeOnThrow<R>(fn: () => R): R {
  const made = new Set<Disposable>();
  stack.push(made);
  let threw = true;
  try {
    const result = fn();
    threw = false;
    return result;
  } finally {
    stack.splice(stack.lastIndexOf(made), 1);
    const parent = stack[stack.length - 1];
    for (const t of made) {
      if (threw) t.dispose();
      else parent?.add(t);
    }
  }
}

function close(owned: Set<Disposable>, result: unknown): void {
  const i = stack.lastIndexOf(owned);
  if (i >= 0) stack.splice(i, 1);
  const kept = new Set<Disposable>();
  collect(result, kept, 0);
  const parent = stack[stack.length - 1];
  for (const t of owned) {
    if (kept.has(t)) parent?.add(t);
    else if (!t.isDisposed) {
      freedByScope.add(t);
      t.dispose();
    }
  }
}

/** Finds the tensors inside a scope's result: the value itself, or inside arrays, plain objects, Maps. */
function collect(v: unknown, into: Set<Disposable>, depth: number): void {
  if (!v || typeof v !== 'object' || depth > 4) return;
  if ((v as { [SCOPED]?: true })[SCOPED]) {
    into.add(v as Disposable);
    return;
  }
  const plain = Object.getPrototypeOf(v) === Object.prototype;
  const values = Array.isArray(v) ? v : v instanceof Map ? [...v.values()] : plain ? Object.values(v) : [];
  for (const x of values) collect(x, into, depth + 1);
}

// Memory scopes: every tensor created while a scope is open belongs to it and is disposed when the
// scope ends, except the tensors the scope returns (they move to the enclosing scope). Works across
// `await`: the scope stays open until the callback's promise settles, for the callback's own tasks
// (src/tensor/async-context.ts): a task interleaved with it keeps its own scope.
import { AsyncContext } from './async-context.js';

interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
}

/** An open scope: what it owns, the scope it was opened in; closed once it ended. */
interface Scope {
  owned: Set<Disposable>;
  parent: Scope | null;
  closed: boolean;
}

const context = new AsyncContext<Scope | null>(null);

/** The innermost open scope (a task that outlived its scope, never awaited by it, falls back to the enclosing one). */
function innermost(from = context.get()): Scope | null {
  let s = from;
  while (s?.closed) s = s.parent;
  return s;
}

/**
 * The key of the slot where a tracked object keeps what the open scope that owns it owns (or null),
 * so that a scope lets go of one disposed before it ends (a property: a WeakMap made creating a
 * tensor ~1.5x slower). Its set, not the scope: what a scope made must not keep the scope alive
 * (scopesLost below).
 */
export const OWNER = Symbol('owner');

/**
 * The key of the method a tracked object has called when no scope owns it any more while it lives
 * (made outside every scope, returned by the outermost one, kept, or owned by an object): from then
 * on only what the caller holds can free it. A tensor owned by a scope is held by it, so it can be
 * garbage-collected only with a scope lost unsettled, which hands its tensors this call first.
 */
export const UNOWNED = Symbol('unowned');

/** Makes `s` (or no scope, for null) the owner of `t`. */
function own(s: Scope | null, t: Disposable): void {
  const slot = t as Owned;
  if (slot[OWNER] === ENDED) return; // freed by its scope's end: it stays marked so
  slot[OWNER]?.delete(t);
  s?.owned.add(t);
  slot[OWNER] = s && s.owned;
  if (!s && !t.isDisposed) slot[UNOWNED]();
}

type Owned = Disposable & { [OWNER]?: Set<Disposable> | null; [UNOWNED](): void };

// The owner of what a scope freed at its end (not disposed by hand), for the use-after-dispose
// error to say so: a mark in the owner slot, not a WeakSet (whose entry cost a tensor ~1 µs).
const ENDED = new Set<Disposable>();

// An async scope whose callback never settles, garbage-collected with nothing left to settle it
// (awaiting a promise nothing will resolve): what it owned would go with it unnoticed, so it is
// handed to the caller as never owned, and reported as a leak when collected in turn.
const scopesLost = new FinalizationRegistry<Set<Disposable>>((owned) => {
  for (const t of owned) own(null, t);
});

/** Whether `t` was freed by the end of its scope (not disposed by hand). */
export const freedByScope = (t: Disposable): boolean => (t as Owned)[OWNER] === ENDED;

/** The key of a property every tracked object has (true), to recognise them in a scope's results. */
export const SCOPED = Symbol('scoped');

export function trackInScope(t: Disposable & { readonly [SCOPED]: true; [UNOWNED](): void }): void {
  const s = innermost();
  if (s) own(s, t);
  else t[UNOWNED]();
}

/**
 * Removes a tensor from the scope that owns it (e.g. a parameter's .grad, owned by the parameter);
 * a tensor disposed does so too, so that a scope open for a long loop holds none it made before.
 */
export function untrack(t: Disposable): void {
  own(null, t);
}

/** Keeps `t` alive past the end of every open scope. */
export function keep<T extends Disposable>(t: T): T {
  // keep([a, b]) or keep(model) kept nothing, without a word: their tensors went with the scope
  if (!(t as { [SCOPED]?: true } | null)?.[SCOPED]) {
    // not check.ts's describeValue: it imports the tensor, whose class reads SCOPED from here
    const got = Array.isArray(t) ? `an array of ${t.length}` : t !== null && typeof t === 'object' ? `a ${t.constructor?.name ?? 'plain object'}` : String(t);
    throw new TypeError(`keep: argument 't' must be a Tensor (an array's or a module's tensors are kept each: model.parameters().forEach((p) => keep(p))), got ${got}`);
  }
  untrack(t);
  return t;
}

export function scope<R>(fn: () => R): R {
  // scope(tensor) (the tensor, not a callback making it) would fail as 'fn is not a function'
  if (typeof fn !== 'function') throw new TypeError(`scope: argument 'fn' must be a function, got ${fn === null ? 'null' : typeof fn}`);
  const opened: Scope = { owned: new Set(), parent: innermost(), closed: false };
  let result: R;
  try {
    result = context.run(opened, fn);
  } catch (e) {
    close(opened, undefined);
    throw e;
  }
  if (result instanceof Promise) {
    scopesLost.register(opened, opened.owned, opened);
    const settle = (r: unknown) => {
      scopesLost.unregister(opened);
      close(opened, r);
    };
    return result.then(
      (r) => (settle(r), r),
      (e) => {
        settle(undefined);
        throw e;
      },
    ) as R;
  }
  close(opened, result);
  return result;
}

/**
 * Runs `fn`; if it throws, disposes the tensors it created and did not keep(). Otherwise changes
 * nothing: they go on to the enclosing scope, as without it. (An op's forward: what it allocated
 * before refusing, e.g. its output, is held by nothing outside a scope.)
 */
export function freeOnThrow<R>(fn: () => R): R {
  const made: Scope = { owned: new Set(), parent: innermost(), closed: false };
  let threw = true;
  try {
    const result = context.run(made, fn);
    threw = false;
    return result;
  } finally {
    made.closed = true;
    const parent = innermost(made.parent);
    for (const t of made.owned) {
      if (threw) t.dispose();
      else own(parent, t);
    }
  }
}

function close(s: Scope, result: unknown): void {
  s.closed = true;
  const kept = new Set<Disposable>();
  collect(result, kept, 0);
  const parent = innermost(s.parent);
  for (const t of s.owned) {
    if (kept.has(t)) own(parent, t);
    else if (!t.isDisposed) {
      t.dispose();
      (t as Owned)[OWNER] = ENDED;
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

// A value that follows async tasks: inside context.run(value, fn), fn and everything it awaits see
// `value`, while a task interleaved with it at an await keeps its own (a noGrad, autocast or scope
// of one task must not reach into another). In Node this is AsyncLocalStorage; where the platform
// has none (a browser), a global set while fn runs: an async fn's value then shows through to
// interleaved tasks until its promise settles.
interface Storage<T> {
  getStore(): T | undefined;
  run<R>(value: T, fn: () => R): R;
}

type StorageClass = new <T>() => Storage<T>;
const nodeProcess = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
const AsyncLocalStorage = (nodeProcess?.getBuiltinModule?.('node:async_hooks') as { AsyncLocalStorage?: StorageClass } | undefined)?.AsyncLocalStorage;

export class AsyncContext<T> {
  private readonly storage: Storage<{ value: T }> | null = AsyncLocalStorage ? new AsyncLocalStorage<{ value: T }>() : null;
  private global: T;

  constructor(initial: T) {
    this.global = initial;
  }

  get(): T {
    return this.storage?.getStore()?.value ?? this.global;
  }

  run<R>(value: T, fn: () => R): R {
    if (this.storage) return this.storage.run({ value }, fn);
    const prev = this.global;
    this.global = value;
    let result: R;
    try {
      result = fn();
    } catch (e) {
      this.global = prev;
      throw e;
    }
    if (result instanceof Promise) return result.finally(() => (this.global = prev)) as R;
    this.global = prev;
    return result;
  }
}

// Every test file ends leak-free: after its last test, a full garbage collection runs and any tensor
// it collects without dispose() (reported by src/tensor/tensor.ts with a console warning) fails the
// file, naming the tensors. A test that leaks on purpose catches the warning with its own spy.
import { afterAll } from 'vitest';

const LEAK = /a tensor was garbage-collected without dispose\(\): (.*) \(id/;
const leaked: string[] = [];
const forward = console.warn.bind(console);
console.warn = (...args: unknown[]) => {
  const found = LEAK.exec(String(args[0]));
  if (found) leaked.push(found[1]!);
  forward(...args);
};

afterAll(async () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('test/setup-leaks.ts: run the tests with --expose-gc (vitest.config.ts does)');
  // finalizers run as tasks after a collection; a few rounds let chains of dropped objects go
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 10));
  }
  if (leaked.length) throw new Error(`tensors garbage-collected without dispose() in this file: ${leaked.join(', ')}`);
});

import { beforeAll, describe, expect, it, vi } from 'vitest';
import { arange, device, enableGrad, full, Generator, keep, Linear, noGrad, ones, onesLike, scope, sum, tensor, zeros, zerosLike, Tensor } from '../src/index.js';
import { expectClose, setupDevice } from './helpers.js';
import { profile } from '../src/kernels/profile.js';
import { ref } from '../src/check/reference/index.js';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { inspect, promisify } from 'node:util';

const run = promisify(execFile);

beforeAll(setupDevice);

describe('creation', () => {
  it('from nested arrays, typed arrays and fills', () =>
    scope(async () => {
      const t = tensor([[1, 2, 3], [4, 5, 6]]);
      expect(t.shape).toEqual([2, 3]);
      expect([...(await t.toArray())]).toEqual([1, 2, 3, 4, 5, 6]);
      const i = tensor(new Int32Array([7, -8]));
      expect(i.dtype).toBe('int32');
      expect([...(await i.toArray())]).toEqual([7, -8]);
      expect([...(await zeros([2, 2]).toArray())]).toEqual([0, 0, 0, 0]);
      expect([...(await ones([3]).toArray())]).toEqual([1, 1, 1]);
      expect([...(await full([2], -2.5).toArray())]).toEqual([-2.5, -2.5]);
      expect(await tensor(4.5).item()).toBe(4.5);
      expect([...(await arange(5).toArray())]).toEqual([0, 1, 2, 3, 4]);
      expect(arange(5).dtype).toBe('int32');
      expect([...(await arange(1, 2, 0.25).toArray())]).toEqual([1, 1.25, 1.5, 1.75]);
      const big = arange(100_000_000, 100_000_003);
      expect([...(await big.toArray())]).toEqual([100_000_000, 100_000_001, 100_000_002]);
    }));

  // torch.tensor(data, dtype=torch.int32) written tensor(data, 'int32') was refused ('argument shape must be an array'), where zeros(2, 'int32') was taken
  it('tensor(data, dtype): the dtype in the shape\'s place, the shape inferred', () =>
    scope(async () => {
      const i = tensor([[1, 2], [3, 4]], 'int32');
      expect([i.dtype, i.shape]).toEqual(['int32', [2, 2]]);
      expect([...(await i.toArray())]).toEqual([1, 2, 3, 4]);
      const f = tensor(new Int32Array([5, -6]), 'float32');
      expect([f.dtype, f.shape, [...(await f.toArray())]]).toEqual(['float32', [2], [5, -6]]);
      expect(() => tensor([1.5], 'int32')).toThrow(/^tensor: argument 'data' must hold integers in \[-2\^31, 2\^31 - 1\] for dtype 'int32', got number 1.5 at \[0\]$/);
      expect(() => tensor([1], 'bfloat16' as never)).toThrow(/^tensor: argument 'dtype' must be 'float32', 'float16' or 'int32', got string 'bfloat16'$/);
    }));

  // as PyTorch computes a float32 arange (on the CPU): start + i * step in float64, rounded once; in
  // float32, i * step rounded before the sum, 2 million of arange(0, 1e6, 0.1)'s 10 million were an ulp off
  it('float32 arange is start + i * step in float64 rounded to float32, over 10 million values', () =>
    scope(async () => {
      for (const [start, end, step] of [[0, 1e6, 0.1], [0.3, 1000.3, 0.001], [5, -5, -1e-5]] as const) {
        const got = await arange(start, end, step).toArray();
        const n = Math.ceil((end - start) / step);
        expect(got.length).toBe(n);
        const wrong: string[] = [];
        for (let i = 0; i < n && wrong.length < 3; i++) {
          const want = Math.fround(start + i * step);
          if (got[i] !== want) wrong.push(`[${i}] ${got[i]}, not ${want}`);
        }
        expect(wrong, `arange(${start}, ${end}, ${step})`).toEqual([]);
      }
    }));

  // Tensor.empty is public: [-1] made a tensor of size -1, [2.5] one of 2.5, 'float64' one the ops misread
  it('Tensor.empty refuses a shape or dtype no tensor has, naming it', () => {
    expect(() => Tensor.empty([-1])).toThrow(/^Tensor\.empty: argument 'shape' must be an array of non-negative integers, got \[-1\]$/);
    expect(() => Tensor.empty([2.5])).toThrow(/^Tensor\.empty: argument 'shape' must be an array of non-negative integers, got \[2\.5\]$/);
    expect(() => Tensor.empty(3 as never)).toThrow(/^Tensor\.empty: argument 'shape' must be an array of non-negative integers, got number$/);
    expect(() => Tensor.empty([2], 'float64' as never)).toThrow(/^Tensor\.empty: argument 'dtype' must be one of float32, float16, int32, int8, got 'float64'$/);
  });

  it('rejects data that does not fill the shape', () => {
    expect(() => tensor([1, 2, 3], [2, 2])).toThrow(/tensor: 3 values do not fill shape \[2, 2\]/);
    expect(() => zeros([2, -1])).toThrow(/^zeros: argument 'shape' must be an array of non-negative integers, got array \[2, -1\]$/);
  });

  // a PyTorch user's first print(x): the engine's fields (storage, refs, GPUBuffer) are no answer to it
  it('console.log shows a tensor as toString does, also inside a module or an object', () =>
    scope(async () => {
      const t = tensor([[1, 2], [3, 4]]).requiresGrad_();
      expect(inspect(t)).toBe('Tensor(float32[2, 2], requiresGrad)');
      expect(inspect({ x: t, ids: tensor([1], [1], 'int32') })).toBe('{ x: Tensor(float32[2, 2], requiresGrad), ids: Tensor(int32[1]) }');
      const layer = new Linear(2, 3, { rng: new Generator(0) });
      expect(inspect(layer.stateDict())).toBe("Map(2) {\n  'weight' => Tensor(float32[3, 2], requiresGrad),\n  'bias' => Tensor(float32[3], requiresGrad)\n}");
      layer.dispose();
    }));
});

describe('reading back, as PyTorch spells it', () => {
  it('tolist nests the values a level per dim (a 0-d tensor: its number; a dim of 0: empty lists), as torch.tolist', () =>
    scope(async () => {
      // torch.arange(6.).reshape(2, 3).tolist(), torch.tensor(3.).tolist(), torch.zeros(2, 0, 3).tolist()
      expect(await arange(0, 6, 1).reshape(2, 3).astype('float32').tolist()).toEqual([[0, 1, 2], [3, 4, 5]]);
      expect(await arange(0, 24, 1).reshape(2, 3, 4).tolist()).toEqual([0, 1].map((i) => [0, 1, 2].map((j) => [0, 1, 2, 3].map((k) => 12 * i + 4 * j + k))));
      expect(await tensor(3).tolist()).toBe(3);
      expect(await zeros([2, 0, 3]).tolist()).toEqual([[], []]);
      expect(await tensor([7]).tolist()).toEqual([7]);
    }));

  it("toArray(dtype) types the array for the tensor's dtype and refuses another", () =>
    scope(async () => {
      const f: Float32Array = await tensor([1.5]).toArray('float32');
      const i: Int32Array = await tensor([2], 'int32').toArray('int32');
      expect([f[0], i[0]]).toEqual([1.5, 2]);
      await expect(tensor([2], 'int32').toArray('float32')).rejects.toThrow(/^toArray: argument 'dtype' must be the tensor's own, int32, got "float32" \(cast first: \.astype\("float32"\)\)$/);
    }));

  it('to(dtype), float(), half() and int() are astype under torch\'s names; to names itself refusing a device', () =>
    scope(async () => {
      const x = tensor([1.75, -2.5]);
      expect(x.int().dtype).toBe('int32');
      expect([...(await x.int().toArray())]).toEqual([1, -2]); // toward 0, as torch's .int()
      expect(x.int().float().dtype).toBe('float32');
      expect(x.to('int32').dtype).toBe('int32');
      if (profile().f16) expect(x.half().dtype).toBe('float16');
      expect(() => x.to('cuda' as never)).toThrow(/^to: argument 'dtype' must be /);
    }));
});

describe('views and scopes', () => {
  it('reshape shares storage (no new bytes) and keeps data', () =>
    scope(async () => {
      const t = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
      const before = device().memory().liveBytes;
      const r = t.reshape([3, -1]);
      expect(r.shape).toEqual([3, 2]);
      expect(device().memory().liveBytes).toBe(before);
      t.dispose();
      expect([...(await r.toArray())]).toEqual([1, 2, 3, 4, 5, 6]); // storage lives while a view does
      expect(() => r.reshape([4, 2])).toThrow(/reshape: cannot reshape float32\[3, 2\] \(6 elements\) to \[4, 2\]/);
    }));

  it("reshape's -1 beside a 0 is refused, as PyTorch does: any size fits it (it was made 0)", () =>
    scope(() => {
      const empty = zeros([0, 4]);
      expect(() => empty.reshape([0, -1])).toThrow(/^reshape: cannot infer the -1 of \[0, -1\] for float32\[0, 4\]: with 0 elements any size fits it$/);
      expect(() => empty.view([-1, 0, 2])).toThrow(/^reshape: cannot infer the -1 of \[-1, 0, 2\]/);
      expect(empty.reshape([-1]).shape).toEqual([0]); // no 0 beside it: -1 is 0
      expect(empty.reshape([2, -1, 2]).shape).toEqual([2, 0, 2]);
      // a tensor with elements fits no shape with a 0: its count is the error, not 'with 0 elements'
      expect(() => zeros([2, 2]).reshape([-1, -1])).toThrow(/^reshape: argument 'shape' must be integers >= 0 with at most one -1, got \[-1, -1\] for float32\[2, 2\]$/);
      expect(() => zeros([2, 2]).reshape([0, -1])).toThrow(/^reshape: cannot reshape float32\[2, 2\] \(4 elements\) to \[0, -1\]$/);
    }));

  it('a scope frees what it created across awaits, except what it returns', async () => {
    const before = device().memory().liveBytes;
    let inner: Tensor | undefined;
    const kept = await scope(async () => {
      const a = tensor([1, 2, 3]);
      await a.toArray();
      inner = a.mul(2); // created after an await: still owned by the scope
      await inner.toArray();
      return { out: a.add(1) };
    });
    expect(inner!.isDisposed).toBe(true);
    expect(kept.out.isDisposed).toBe(false);
    expect([...(await kept.out.toArray())]).toEqual([2, 3, 4]);
    kept.out.dispose();
    expect(device().memory().liveBytes).toBe(before);
  });

  it('two async scopes interleaved at awaits each free only what their own task created', async () => {
    const before = device().memory().liveBytes;
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    let outside: Tensor | undefined;
    let innerA: Tensor | undefined;
    const [a, b] = await Promise.all([
      scope(async () => {
        await sleep(5);
        innerA = tensor([1, 2]);
        await sleep(20); // scope B ends meanwhile
        return innerA.add(1);
      }),
      scope(async () => {
        await sleep(10); // scope A is open, waiting
        const t = tensor([10, 20]);
        return t.mul(2);
      }),
      (async () => {
        await sleep(15); // both open: this task is in neither
        outside = tensor([7]);
      })(),
    ]);
    expect(innerA!.isDisposed).toBe(true);
    expect([...(await a.toArray())]).toEqual([2, 3]);
    expect([...(await b.toArray())]).toEqual([20, 40]);
    expect(outside!.isDisposed).toBe(false);
    for (const t of [a, b, outside!]) t.dispose();
    expect(device().memory().liveBytes).toBe(before);
  });

  // keep([a, b]) or keep(model) kept nothing, without a word: their tensors were freed with the scope
  it('keep() refuses anything but a tensor, saying how to keep an array\'s or a module\'s', () =>
    scope(() => {
      const lin = new Linear(2, 3, { rng: new Generator(0) });
      const hint = /^keep: argument 't' must be a Tensor \(an array's or a module's tensors are kept each: model\.parameters\(\)\.forEach\(\(p\) => keep\(p\)\)\), got /;
      expect(() => keep(lin as never)).toThrow(new RegExp(`${hint.source}a Linear$`));
      expect(() => keep([tensor([1])] as never)).toThrow(new RegExp(`${hint.source}an array of 1$`));
    }));

  it('nested scopes hand returned tensors to the parent; keep() escapes all scopes', async () => {
    let fromInner: Tensor | undefined;
    let kept: Tensor | undefined;
    await scope(async () => {
      fromInner = scope(() => tensor([1]).add(1));
      kept = keep(tensor([5]));
      expect(fromInner.isDisposed).toBe(false);
    });
    expect(fromInner!.isDisposed).toBe(true);
    expect(kept!.isDisposed).toBe(false);
    kept!.dispose();
  });

  // a scope kept every tensor made in it until it ended, disposed ones too: a long loop inside one
  // scope that disposed its tensors by hand (or ops' own temporaries) grew the JS heap ~120 bytes a tensor
  it('a scope lets go of the tensors disposed while it is open', () =>
    scope(async () => {
      const x = tensor([1, 2]);
      const refs = Array.from({ length: 20 }, () => {
        const y = x.mul(2);
        y.dispose();
        return new WeakRef(y);
      });
      // and of one an inner scope returned to it, once disposed
      refs.push(
        ...[0, 1].map(() => {
          const moved = scope(() => x.sub(1));
          moved.dispose();
          return new WeakRef(moved);
        }),
      );
      await new Promise((r) => setTimeout(r, 0)); // a WeakRef holds its target until the job ends
      (globalThis as { gc?: () => void }).gc!();
      expect(refs.filter((r) => r.deref() !== undefined).length).toBe(0);
    }));

  it('a scope that throws, sync or async, frees what it made once (disposed by hand, kept or returned by an inner scope alike)', async () => {
    const before = device().memory().liveBytes;
    let kept!: Tensor;
    const body = (fail: () => never) => {
      tensor([1, 2, 3]).mul(2);
      tensor([4]).dispose();
      kept = scope(() => keep(tensor([5])));
      scope(() => tensor([6]).exp()); // returned to the failing scope: freed with it
      fail();
    };
    const boom = (): never => {
      throw new Error('boom');
    };
    expect(() => scope(() => body(boom))).toThrow(/^boom$/);
    kept.dispose();
    await expect(scope(async () => { await null; body(boom); })).rejects.toThrow(/^boom$/);
    kept.dispose();
    expect(device().memory().liveBytes).toBe(before);
  });

  // keep() looked for the tensor only in the scopes of the task calling it: kept from another task
  // (a callback outside the scope), it stayed in its own scope's and was freed at its end
  it('keep() from a task outside the scope that owns the tensor', async () => {
    let release!: () => void;
    const made = new Promise<Tensor>((resolveMade) =>
      void scope(async () => {
        resolveMade(tensor([1, 2]));
        await new Promise<void>((r) => (release = r));
      }),
    );
    const t = keep(await made); // this task is in no scope
    release();
    await new Promise((r) => setTimeout(r, 0));
    expect(t.isDisposed).toBe(false);
    t.dispose();
  });

  it('the same ops 100 times inside scopes leave live bytes flat', async () => {
    const x = tensor(Array.from({ length: 1000 }, (_, i) => i / 1000), [10, 100]);
    const live: number[] = [];
    for (let i = 0; i < 100; i++) {
      await scope(async () => {
        const y = x.mul(2).exp().sum(1, true).log().add(x).max(0).mean();
        await y.item();
      });
      live.push(device().memory().liveBytes);
    }
    expect(new Set(live).size, `live bytes: ${live.slice(0, 5)}`).toBe(1);
    const { pooledBytes, peakBytes } = device().memory();
    expect(pooledBytes).toBeGreaterThan(0);
    expect(peakBytes).toBeGreaterThanOrEqual(live[0]!);
    x.dispose();
  });
});

describe('bad input gets a clear error', () => {
  it('shape mismatch', () =>
    scope(() => {
      expect(() => tensor([1, 2, 3]).add(tensor([1, 2]))).toThrow(/add: shapes \[3\] and \[2\] cannot be broadcast together/);
    }));
  it('wrong dtype', () =>
    scope(() => {
      const i = tensor([1, 2], [2], 'int32');
      expect(() => i.exp()).toThrow(/^exp: argument 'input' must be a float32 or float16 tensor, got int32\[2\]$/);
      expect(() => tensor([1, 2]).mul(i)).toThrow(/^mul: argument 'other' must be a float32 or float16 tensor, got int32\[2\]$/);
    }));
  it('assign given something other than a tensor', () =>
    scope(() => {
      expect(() => tensor([1, 2]).assign([3, 4] as never)).toThrow(/^assign: argument 'src' must be a float32\[2\] tensor, got an array$/);
      expect(() => tensor([1, 2]).assign(tensor([1]))).toThrow(/^assign: expected a float32\[2\] tensor, got float32\[1\]$/);
    }));
  // assign to a disposed tensor retained src's storage before refusing: it was never freed
  it('assign to a disposed tensor is refused without holding on to the source', () => {
    const before = device().memory().liveBytes;
    const dst = tensor([1, 2]);
    dst.dispose();
    const src = tensor([3, 4]);
    expect(() => dst.assign(src)).toThrow(/^assign: tensor float32\[2\] was used after dispose\(\)$/);
    src.dispose();
    expect(device().memory().liveBytes).toBe(before);
  });
  // alias (public on every tensor) took any shape: [3] of a float32[2] read past its data
  it('alias to a shape of another size', () =>
    scope(() => {
      expect(() => tensor([1, 2]).alias([3])).toThrow(/^alias: shape \[3\] \(3 elements\) does not fit float32\[2\] \(2 elements\)$/);
      expect(() => tensor([1, 2]).alias([-1, -2])).toThrow(/^alias: shape \[-1, -2\] \(2 elements\) does not fit float32\[2\] \(2 elements\)$/);
    }));
  // tensor(Int8Array, shape, 'int8') was refused as a dtype tensor() does not make (it makes it from an Int8Array alone)
  it("dtype 'int8': from an Int8Array, and only from one", () =>
    scope(async () => {
      const q = tensor(new Int8Array([1, -2, 3, 4]), [2, 2], 'int8');
      expect(q.describe()).toBe('int8[2, 2]');
      expect([...(await q.toArray())]).toEqual([1, -2, 3, 4]);
      expect(() => tensor([1, 2], [2], 'int8')).toThrow(/^tensor: dtype 'int8' is made from an Int8Array \(quantized weights\), got array \[1, 2\]$/);
      expect(() => tensor(new Int8Array(2), [2], 'float32').dtype).not.toThrow();
    }));
  it('use after dispose', async () => {
    // item() said 'toArray: ...', a call the user never made
    const one = tensor([3]);
    one.dispose();
    await expect(one.item()).rejects.toThrow(/^item: tensor float32\[1\] was used after dispose\(\)$/);
    const t = tensor([1, 2]);
    t.dispose();
    expect(() => t.exp()).toThrow(/exp: tensor float32\[2\] was used after dispose\(\)/);
    // a disposed tensor keeps its shape and dtype: zerosLike and onesLike made a fill from them without a word
    expect(() => zerosLike(t)).toThrow(/^zerosLike: tensor float32\[2\] was used after dispose\(\)$/);
    expect(() => onesLike(t)).toThrow(/^onesLike: tensor float32\[2\] was used after dispose\(\)$/);
    return expect(t.toArray()).rejects.toThrow(/toArray: tensor float32\[2\] was used after dispose/);
  });
  // a module built in a scope and returned from it (not a tensor, so not kept) lost its parameters
  // at the scope's end, and its next forward said only 'was used after dispose()'
  it('use after the scope that created it ended: the error says so', () =>
    scope(() => {
      const lin = scope(() => new Linear(2, 3, { rng: new Generator(0) }));
      expect(() => lin.forward(tensor([[1, 2]]))).toThrow(
        /^linear: tensor float32\[3, 2\] was used after the scope that created it ended \(a scope keeps the tensors it returns, alone or in arrays, plain objects and Maps; keep\(\) others, e\.g\. a module's parameters\)$/,
      );
      let inner!: Tensor;
      scope(() => {
        inner = tensor([1]);
        inner.dispose(); // by hand, before its scope ended
      });
      expect(() => inner.exp()).toThrow(/^exp: tensor float32\[1\] was used after dispose\(\)$/);
    }));
  it('wrong axis', () =>
    scope(() => {
      const t = tensor([[1, 2]]);
      expect(() => sum(t, 2)).toThrow(/^sum: argument 'axes' must be an integer in \[-2, 1\] for float32\[1, 2\], got number 2$/);
      expect(() => t.argmax(-3)).toThrow(/^argmax: argument 'axis' must be an integer in \[-2, 1\] for float32\[1, 2\], got number -3$/);
      // the normalised list alone said 'sum: repeated axis in [1, 1]', not what was given
      expect(() => t.sum([1, -1])).toThrow(/^sum: argument 'axes' must be distinct axes of float32\[1, 2\], got array \[1, -1\] \(axis 1 twice\)$/);
      expect(() => t.max([0, 0])).toThrow(/^max: argument 'axes' must be distinct axes of float32\[1, 2\], got array \[0, 0\] \(axis 0 twice\)$/);
    }));
  it('scope, noGrad and enableGrad given something other than a function', () => {
    // scope(t) for scope(() => t) failed as 'fn is not a function'
    expect(() => scope(5 as never)).toThrow(/^scope: argument 'fn' must be a function, got number$/);
    expect(() => noGrad(null as never)).toThrow(/^noGrad: argument 'fn' must be a function, got null$/);
    expect(() => enableGrad(true as never)).toThrow(/^enableGrad: argument 'fn' must be a function, got boolean$/);
  });
});

describe('leaks are reported', () => {
  /**
   * The leak reports of the tensors whose ids `drop` returns (it makes them and drops them on the
   * floor), one a line, after up to 10 collections. Only these reports are caught: the collections
   * also collect what earlier tests leaked, and those reports must still reach the leak guard
   * (test/setup-leaks.ts).
   */
  async function reportsOf(drop: () => number[] | Promise<number[]>): Promise<string[]> {
    const gc = (globalThis as { gc?: () => void }).gc;
    expect(gc, 'tests run with --expose-gc').toBeDefined();
    const guard = console.warn;
    let ids: number[] = [];
    const mine = (args: unknown[]) => ids.some((id) => String(args[0]).includes(`(id ${id})`));
    const warn = vi.spyOn(console, 'warn').mockImplementation((...args) => void (mine(args) || guard(...args)));
    try {
      ids = await drop();
      for (let i = 0; i < 10 && warn.mock.calls.filter(mine).length < ids.length; i++) {
        gc!();
        await new Promise((r) => setTimeout(r, 20));
      }
      return warn.mock.calls.filter(mine).map((c) => String(c[0]));
    } finally {
      warn.mockRestore();
    }
  }

  it('a tensor garbage-collected without dispose() is reported, not silently freed', async () => {
    const before = device().memory().liveBytes;
    const reports = await reportsOf(() => [tensor([1, 2, 3, 4], [2, 2]).id]);
    expect(reports.join('\n')).toMatch(/garbage-collected without dispose\(\): float32\[2, 2\] \(id \d+\)/);
    expect(device().memory().liveBytes).toBeGreaterThan(before); // reported, still held
  });

  it('every way a tensor reaches user code outside a scope: reported when dropped', async () => {
    // each is a tensor no scope owns once made (or one a scope owns dropped with it), so nothing
    // frees it but the caller; each report names it
    let grad = -1;
    let dropped: number[] = [];
    const reports = await reportsOf(() => {
      const a = tensor([1, 2]);
      const opResult = a.add(a); // made inside the op's own guard scope, handed out to no scope
      const returned = scope(() => tensor([3, 4, 5])); // an outermost scope's result
      const kept = scope(() => keep(tensor([6])));
      const w = tensor([1, 2, 3]).requiresGrad_();
      const square = w.mul(w);
      const loss = sum(square);
      loss.backward(); // the leaf's .grad is owned by no scope
      grad = w.grad!.id;
      let inScope = -1;
      // an async scope that never settles, dropped with what it made: its tensors are collected with it
      void scope(async () => {
        inScope = tensor([7, 8]).id;
        await new Promise(() => {});
      });
      return (dropped = [a.id, opResult.id, returned.id, kept.id, w.id, square.id, loss.id, grad, inScope]);
    });
    const reported = reports.map((r) => Number(/\(id (\d+)\)/.exec(r)![1]));
    expect(reported.sort((x, y) => x - y)).toEqual(dropped.sort((x, y) => x - y));
    expect(reports.find((r) => r.includes(`(id ${grad})`))).toMatch(/: float32\[3\] \(id/);
  });

  it('each once, however it left its scopes; none that a scope freed, one that threw included', async () => {
    const never = () => new Promise<void>(() => {});
    const expected: number[] = [];
    const freed: number[] = [];
    const reports = await reportsOf(async () => {
      expected.push(scope(() => keep(keep(tensor([1])))).id); // kept twice: one report
      const passed = tensor([2]); // made outside every scope, used in one lost unsettled
      expected.push(passed.id);
      void scope(async () => {
        expected.push(passed.add(1).id);
        await never();
      });
      // an outer async scope lost unsettled, holding its own tensor and what an inner one returned to it
      await new Promise<void>((entered) => {
        void scope(async () => {
          expected.push(tensor([3]).id);
          const returned = await scope(async () => {
            await Promise.resolve();
            const t = tensor([4, 5]);
            freed.push(tensor([6]).id); // freed as the inner scope settled
            return t;
          });
          expected.push(returned.id);
          entered();
          await never();
        });
      });
      // scopes that threw free what they made
      try {
        scope(() => {
          freed.push(tensor([7]).id);
          throw new Error('sync');
        });
      } catch {}
      await scope(async () => {
        await Promise.resolve();
        freed.push(tensor([8]).id);
        throw new Error('async');
      }).catch(() => undefined);
      return [...expected, ...freed];
    });
    const reported = reports.map((r) => Number(/\(id (\d+)\)/.exec(r)![1]));
    expect(reported.sort((x, y) => x - y)).toEqual(expected.sort((x, y) => x - y));
  });

  it('GPT_LEAK_TRACE=1 adds where the leaked tensor was created', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gpt-leak-trace-'));
    const script = join(dir, 'leak.ts');
    writeFileSync(
      script,
      [
        `import { initDevice, tensor } from ${JSON.stringify(resolve('src/index.js'))};`,
        'await initDevice();',
        'function leakyHelper() { tensor([1, 2, 3]); }',
        'leakyHelper();',
        'for (let i = 0; i < 10; i++) { (globalThis as { gc: () => void }).gc(); await new Promise((r) => setTimeout(r, 20)); }',
      ].join('\n'),
    );
    const { stderr } = await run(process.execPath, ['--expose-gc', 'scripts/run-ts.mjs', script], { env: { ...process.env, GPT_LEAK_TRACE: '1' } });
    rmSync(dir, { recursive: true, force: true });
    expect(stderr).toMatch(/garbage-collected without dispose\(\): float32\[3\] \(id \d+\)\. Its GPU memory is still held\.\n  created at tensor \(.*\n.*at leakyHelper/);
  });

  it('GPT_LEAK_TRACE other than 0 or 1 is an error naming it, not read as off', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gpt-leak-trace-'));
    const script = join(dir, 'bad.ts');
    writeFileSync(script, [`import { initDevice, tensor } from ${JSON.stringify(resolve('src/index.js'))};`, 'await initDevice();', 'tensor([1]);'].join('\n'));
    const failure = await run(process.execPath, ['scripts/run-ts.mjs', script], { env: { ...process.env, GPT_LEAK_TRACE: 'true' } }).catch((e: { stderr: string }) => e);
    rmSync(dir, { recursive: true, force: true });
    expect(failure.stderr).toMatch(/GPT_LEAK_TRACE=true: expected 0 or 1\n/);
  });
});

describe('expectClose can fail', () => {
  it('detects a wrong value', () =>
    scope(async () => {
      await expect(expectClose(tensor([1, 2]), ref([2], [1, 2.5]), 1e-3, 0, 'probe')).rejects.toThrow(/element 1/);
    }));
});

import { beforeAll, describe, expect, it } from 'vitest';
import { concat, defineOp, device, enableGrad, full, gradcheck, linear, noGrad, scope, tensor, Tensor, type OpContext } from '../src/index.js';
import { castCached } from '../src/ops/index.js';
import { AdamW } from '../src/optim/adamw.js';
import { expectClose, setupDevice } from './helpers.js';
import { ref } from '../src/check/reference/index.js';

beforeAll(setupDevice);

const vec = (xs: number[]) => tensor(xs, [xs.length]);

describe('tape semantics', () => {
  it('accumulates gradients across backward calls until cleared', () =>
    scope(async () => {
      const x = vec([1, 2, 3]).requiresGrad_();
      x.mul(x).sum().backward(); // d = 2x
      x.mul(3).sum().backward(); // + 3
      await expectClose(x.grad!, ref([3], [5, 7, 9]), 0, 0, 'accumulated');
      x.grad!.dispose();
      x.grad = null;
      x.sum().backward();
      await expectClose(x.grad!, ref([3], [1, 1, 1]), 0, 0, 'after clearing');
    }));

  // the sum went into a new tensor and the old .grad was disposed: a handle on it taken after the
  // first backward (PyTorch's g = x.grad) failed with 'used after dispose()', a call the user never made
  it('a second backward sums into the same .grad tensor, as PyTorch does; a view taken before keeps its values', () =>
    scope(async () => {
      const x = vec([1, 2]).requiresGrad_();
      x.mul(x).sum().backward(); // 2x
      const held = x.grad!;
      const before = held.detach();
      x.mul(3).sum().backward(); // + 3
      expect(x.grad).toBe(held);
      await expectClose(held, ref([2], [5, 7]), 0, 0, 'the handle taken after the first backward');
      await expectClose(before, ref([2], [2, 4]), 0, 0, 'a view of it taken before');
    }));

  // castCached hands a leaf's gradient over late, summed in place: a .grad shared with a view was
  // replaced by a new tensor (the old one disposed), and one set inside a scope stayed that scope's
  // (freed at its end, the gradient with it)
  it('a late gradient (castCached) sums into the same .grad tensor too, and the leaf keeps it', () =>
    scope(async () => {
      const x = vec([1, 2]).requiresGrad_();
      const copy = vec([1, 2]); // x's cast (to its own dtype: the late path without float16)
      const loss = () => castCached(x, copy).mul(vec([3, 4])).sum();
      loss().backward();
      const held = x.grad!;
      const view = held.detach();
      loss().backward();
      expect(x.grad).toBe(held);
      await expectClose(held, ref([2], [6, 8]), 0, 0, 'the handle taken after the first backward');
      await expectClose(view, ref([2], [3, 4]), 0, 0, 'a view of it taken before');
      held.dispose();
      scope(() => {
        x.grad = vec([10, 10]);
        loss().backward();
      });
      await expectClose(x.grad!, ref([2], [13, 14]), 0, 0, 'a .grad set inside a scope that ended');
    }));

  it('a disposed .grad counts as cleared: the next backward starts afresh', () =>
    scope(async () => {
      const x = vec([1, 2]).requiresGrad_();
      x.mul(x).sum().backward();
      x.grad!.dispose(); // without `x.grad = null`
      x.mul(3).sum().backward();
      await expectClose(x.grad!, ref([2], [3, 3]), 0, 0, 'after dispose');
      x.grad!.dispose();
      scope(() => void (x.grad = vec([5, 5]))); // set inside a scope that has ended
      x.sum().backward();
      await expectClose(x.grad!, ref([2], [1, 1]), 0, 0, 'after a scope freed it');
    }));

  it('sums gradients of a tensor used twice (diamond)', () =>
    scope(async () => {
      const x = vec([0.5, -1]).requiresGrad_();
      const y = x.exp();
      y.mul(y).add(y).sum().backward(); // d/dx (e^2x + e^x) = 2e^2x + e^x
      await expectClose(x.grad!, ref([2], [0.5, -1].map((v) => 2 * Math.exp(2 * v) + Math.exp(v))), 1e-5, 1e-5, 'diamond');
    }));

  it('backward(grad) seeds a non-scalar output', () =>
    scope(async () => {
      const x = vec([1, 2]).requiresGrad_();
      x.mul(x).backward(vec([10, 100]));
      await expectClose(x.grad!, ref([2], [20, 400]), 0, 0, 'seeded');
    }));

  // view() was the core's handle on the storage, outside the graph: x.view(shape) in a loss left
  // x.grad null (or, beside another parameter, silently without x's share)
  it('view is reshape under its PyTorch name: the gradient flows through it', () =>
    scope(async () => {
      const x = vec([1, 2, 3, 4]).requiresGrad_();
      const w = tensor([[1, 2], [3, 4]]).requiresGrad_();
      const y = x.view([2, 2]);
      expect(y.gradFn?.opName).toBe('reshape');
      y.mul(w).sum().backward();
      await expectClose(x.grad!, ref([4], [1, 2, 3, 4]), 0, 0, 'd/dx of sum(x.view * w)');
      expect(x.detach().view([2, 2]).requiresGrad).toBe(false);
    }));

  it('an async noGrad turns recording off for its own task only, not for a task interleaved with it', () =>
    scope(async () => {
      const x = vec([1, 2]).requiresGrad_();
      const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
      const [inside, outside] = await Promise.all([
        noGrad(async () => {
          await sleep(20);
          return x.mul(2); // after the other task ran meanwhile
        }),
        (async () => {
          await sleep(5); // while the noGrad above waits
          return x.mul(3);
        })(),
      ]);
      expect(inside.requiresGrad).toBe(false);
      expect(outside.requiresGrad).toBe(true);
    }));

  it('noGrad and detach record nothing', () =>
    scope(async () => {
      const x = vec([1, 2]).requiresGrad_();
      const y = noGrad(() => x.mul(2));
      expect(y.requiresGrad).toBe(false);
      const z = x.detach().mul(2);
      expect(z.requiresGrad).toBe(false);
      const w = x.mul(x.detach()).sum(); // d/dx (x * c) = c
      w.backward();
      await expectClose(x.grad!, ref([2], [1, 2]), 0, 0, 'detached factor');
    }));
});

describe('autograd errors', () => {
  it('backward on a non-scalar without a gradient', () =>
    scope(() => {
      const x = vec([1, 2]).requiresGrad_();
      expect(() => x.mul(2).backward()).toThrow(/backward: tensor float32\[2\] is not a scalar/);
    }));

  it('a second backward through a released graph', () =>
    scope(() => {
      const x = vec([1, 2]).requiresGrad_();
      const loss = x.exp().sum();
      loss.backward();
      expect(() => loss.backward()).toThrow(/already freed/);
      // two losses over one graph (PyTorch's retain_graph=True case): the error says what to do instead
      const h = x.exp();
      const [l1, l2] = [h.sum(), h.mul(2).sum()];
      l1.backward();
      expect(() => l2.backward()).toThrow(
        /^backward: the graph through 'exp' was already freed by an earlier backward\(\) or by disposing its tensors \(there is no retain_graph: backpropagate the sum of the losses once, or run the forward again\)$/,
      );
    }));

  // an int8 tensor (quantized weights) was let through: only int32 was refused
  it('gradient of an int32 or int8 tensor', () =>
    scope(() => {
      expect(() => tensor([1, 2], [2], 'int32').requiresGrad_()).toThrow(/^requiresGrad_: only float32 and float16 tensors can require grad, got int32\[2\]$/);
      const q = tensor(new Int8Array([1, 2, 3, 4]));
      expect(() => q.requiresGrad_()).toThrow(/^requiresGrad_: only float32 and float16 tensors can require grad, got int8\[4\]$/);
      expect(q.requiresGrad).toBe(false);
    }));

  // it turned the flag off and kept the graph: ops after it silently recorded nothing, and its
  // backward said 'no input had requiresGrad set' (PyTorch refuses it too)
  it('requiresGrad_(false) on a tensor an op computed', () =>
    scope(() => {
      const y = vec([1, 2]).requiresGrad_().mul(2);
      expect(() => y.requiresGrad_(false)).toThrow(/^requiresGrad_: float32\[2\] was computed by 'mul' \(not a leaf\); use detach\(\) for the same data outside the graph$/);
      expect(y.requiresGrad).toBe(true);
      expect(vec([1]).requiresGrad_().requiresGrad_(false).requiresGrad).toBe(false); // a leaf may
    }));

  // PyTorch's x.requires_grad = False is ported as x.requiresGrad = false, a plain field that took
  // anything: on a computed tensor it cut the graph as detach() would (w's gradient came, x's did
  // not), an int32 tensor was recorded by cast, a string read as true. PyTorch refuses the first two
  it('assigning requiresGrad follows the rules of requiresGrad_', () =>
    scope(async () => {
      const x = vec([1, 2]).requiresGrad_();
      const y = x.mul(2);
      expect(() => (y.requiresGrad = false)).toThrow(/^requiresGrad: float32\[2\] was computed by 'mul' \(not a leaf\); use detach\(\) for the same data outside the graph$/);
      const ids = tensor([1, 0], [2], 'int32');
      expect(() => (ids.requiresGrad = true)).toThrow(/^requiresGrad: only float32 and float16 tensors can require grad, got int32\[2\]$/);
      expect(() => ((x as { requiresGrad: unknown }).requiresGrad = 'no')).toThrow(/^requiresGrad: argument 'on' must be a boolean, got string 'no'$/);
      expect([y.requiresGrad, ids.requiresGrad, x.requiresGrad]).toEqual([true, false, true]);
      const w = vec([3, 4]);
      w.requiresGrad = true; // a float leaf may, as with requiresGrad_()
      y.mul(w).sum().backward(); // d/dx = 2w, d/dw = y = 2x
      await expectClose(x.grad!, ref([2], [6, 8]), 0, 0, 'x');
      await expectClose(w.grad!, ref([2], [2, 4]), 0, 0, 'w');
    }));

  it('requiresGrad_ with something other than a boolean, or on a disposed tensor', () =>
    scope(() => {
      // requiresGrad_('no') set requiresGrad to the string, which reads as true
      const x = tensor([1, 2]);
      expect(() => x.requiresGrad_('no' as never)).toThrow(/^requiresGrad_: argument 'on' must be a boolean, got string 'no'$/);
      expect(x.requiresGrad).toBe(false);
      x.dispose();
      expect(() => x.requiresGrad_()).toThrow(/^requiresGrad_: tensor float32\[2\] was used after dispose\(\)$/);
    }));

  it('in-place change of a tensor saved for backward', () =>
    scope(() => {
      const w = vec([1, 2]).requiresGrad_();
      const loss = w.mul(w).sum(); // saves w
      w.grad = vec([1, 1]);
      const opt = new AdamW([w]);
      opt.step(); // updates w in place
      expect(() => loss.backward()).toThrow(/backward of 'mul': a float32\[2\] tensor saved for the gradient was modified in place/);
      opt.dispose();
    }));

  it('backward on a tensor that does not require grad', () =>
    scope(() => {
      expect(() => vec([1]).backward()).toThrow(/does not require grad/);
    }));

  // a disposed loss (its graph dropped with it) returned without a word and without gradients; a
  // .grad set by hand in another shape was summed into, keeping its shape (x [2] got a [3] gradient);
  // an int32 seed failed in 'sumTo', a disposed one in the engine's internal 'alias'
  it('a disposed root or seed, a seed of another dtype, a .grad of another shape', () =>
    scope(() => {
      const x = vec([1, 2]).requiresGrad_();
      const loss = x.mul(2).sum();
      loss.dispose();
      expect(() => loss.backward()).toThrow(/^backward: tensor float32\[\] was used after dispose\(\)$/);
      const seed = vec([1, 1]);
      seed.dispose();
      expect(() => x.mul(2).backward(seed)).toThrow(/^backward: tensor float32\[2\] was used after dispose\(\)$/);
      expect(() => x.mul(2).backward(tensor(new Int32Array([1, 1])))).toThrow(/^backward: argument 'grad' must be a float32 tensor like float32\[2\], got int32\[2\]$/);
      x.grad = vec([10, 20, 30]);
      expect(() => x.mul(2).sum().backward()).toThrow(/^backward: the \.grad of float32\[2\] is float32\[3\]; set it to a tensor of its shape and dtype, or null$/);
      expect(x.grad.shape).toEqual([3]);
    }));
});

describe('tensors of no elements and of rank 0', () => {
  // the gradient of a 0-size product or broadcast is zeros, as PyTorch's: a broadcast operand gets
  // nothing summed into it, a product over K = 0 contributes nothing
  it('backward through each op family gives zeros of the inputs\' shapes', () =>
    scope(async () => {
      const leaf = (shape: number[], v = 1) => full(shape, v).requiresGrad_();
      const [a, row] = [leaf([0, 3]), leaf([3])];
      a.mul(row).exp().sum(1, true).mean().add(a.max(1).sum()).backward();
      expect(a.grad!.shape).toEqual([0, 3]);
      await expectClose(row.grad!, ref([3], [0, 0, 0]), 0, 0, 'a broadcast operand of a 0-size product');
      const [m, k, n] = [leaf([2, 0]), leaf([0, 3]), leaf([3])];
      linear(m, k.transpose(), n).softmax().layerNorm(leaf([3], 2)).sum().backward(); // K = 0: every row is the bias
      expect([m.grad!.shape, k.grad!.shape]).toEqual([[2, 0], [0, 3]]);
      const [e, w] = [leaf([0, 4]), leaf([4, 2])];
      concat([e, full([1, 4], 5)], 0).matmul(w).sum().backward(); // M = 0 rows beside one of 5s
      await expectClose(w.grad!, ref([4, 2], new Array(8).fill(5)), 0, 0, 'only the non-empty rows reach w');
      const s = leaf([], 0.5); // rank 0 through elementwise, reduce, reshape and a vector product
      s.exp().mul(s).sum(-1, true).reshape([1]).matmul(full([1], 2)).backward(); // d(2 s e^s) = 2 e^s (1 + s)
      await expectClose(s.grad!, ref([], [2 * Math.exp(0.5) * 1.5]), 1e-6, 1e-6, 'rank 0');
    }));
});

describe('autograd memory', () => {
  it('live bytes stay flat over 100 training-like iterations', async () => {
    const w = tensor([0.1, -0.2, 0.3, 0.4, 0.5, -0.6], [2, 3]).requiresGrad_();
    const x = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const live: number[] = [];
    for (let step = 0; step < 100; step++) {
      await scope(async () => {
        const loss = w.mul(x).tanh().sum(1).mean();
        loss.backward();
        w.assign(noGrad(() => w.sub(w.grad!.mul(0.1))));
        await loss.item();
        w.grad!.dispose();
        w.grad = null;
      });
      live.push(device().memory().liveBytes);
    }
    expect(new Set(live.slice(2)).size, `live bytes per step: ${live.slice(0, 5)}...`).toBe(1);
    w.dispose();
    x.dispose();
  });

  it('assign swaps data without disturbing values saved for backward', () =>
    scope(async () => {
      const x = vec([1, 2]).requiresGrad_();
      const y = x.mul(x).sum(); // saves x = [1, 2]
      x.assign(vec([10, 20]));
      y.backward();
      await expectClose(x.grad!, ref([2], [2, 4]), 0, 0, 'grad uses the saved values');
      expect(() => x.assign(vec([1, 2, 3]))).toThrow(/assign: expected a float32\[2\] tensor, got float32\[3\]/);
    }));

  it('a graph that is never backpropagated is freed with its scope', async () => {
    const x = vec([1, 2, 3]).requiresGrad_();
    const before = device().memory().liveBytes;
    await scope(async () => {
      const y = x.exp().mul(x).log().sum(); // saves intermediates for a backward that never runs
      await y.item();
    });
    expect(device().memory().liveBytes).toBe(before);
    x.dispose();
  });

  it("neg keeps nothing for its backward (its gradient is the incoming one's negation): a disposed input's storage goes", async () => {
    const x = vec([1, -2, 3]).requiresGrad_();
    const a = x.mul(x); // a recorded tensor only neg could keep
    const y = a.neg();
    const held = device().memory().liveBytes;
    a.dispose();
    expect(held - device().memory().liveBytes).toBeGreaterThanOrEqual(12); // its 12 bytes, as allocated
    const loss = y.sum();
    loss.backward();
    expect(Array.from((await x.grad!.toArray()) as Float32Array)).toEqual([-2, 4, -6]); // d(-x²) = -2x
    for (const t of [x, x.grad!, y, loss]) t.dispose();
  });

  // what a forward saved before it threw (matmul's operands, then 'one row is wider than a binding')
  // was held by no node and no scope: its storage stayed live until garbage collection
  it('a forward that throws after saving frees what it saved with its scope', async () => {
    const failing = defineOp({
      name: 'fails late',
      forward(ctx: OpContext, a: Tensor): Tensor {
        ctx.save(a);
        throw new Error('fails late: refused');
      },
      backward: (_ctx, g) => [g],
    });
    const before = device().memory().liveBytes;
    await scope(async () => {
      expect(() => failing(vec([1, 2, 3]).requiresGrad_())).toThrow(/^fails late: refused$/);
    });
    expect(device().memory().liveBytes).toBe(before);
  });

  // outside a scope nothing held what the forward had made: its intermediates, and its result
  // when the op refused it afterwards (not a tensor of the shape its rule says)
  it('a forward that throws outside any scope frees what it made', () => {
    const late = defineOp({
      name: 'fails late',
      forward(_ctx: OpContext, a: Tensor): Tensor {
        a.mul(2).exp();
        throw new Error('fails late: refused');
      },
      backward: (_ctx, g) => [g],
    });
    const misshapen = defineOp({ name: 'misshapen', forward: (_ctx: OpContext, a: Tensor) => a.mul(2).sum(), shape: ([a]) => ({ shape: a.shape, dtype: a.dtype }), backward: (_ctx, g) => [g] });
    const x = vec([1, 2, 3]).requiresGrad_();
    const before = device().memory();
    expect(() => late(x)).toThrow(/^fails late: refused$/);
    expect(() => misshapen(x)).toThrow(/^misshapen: the forward made float32\[\], its shape rule says float32\[3\]$/);
    expect(device().memory().liveBytes).toBe(before.liveBytes);
    expect(device().memory().liveBuffers).toBe(before.liveBuffers);
    x.dispose();
  });
});

describe('user-defined ops that break the contract', () => {
  // a backward returning [] or 5 left the input's .grad silently null, [5] failed reading 'length' of
  // undefined, and a forward returning [1, 2] was handed back as the op's result
  const twice = (name: string, backward: (g: Tensor) => unknown) =>
    defineOp({ name, forward: (_ctx: OpContext, a: Tensor): Tensor => a.mul(2), backward: (_ctx, g): Tensor[] => backward(g) as Tensor[] });
  it.each([
    ['too few', (): unknown => [], /^backward of 'too few': the backward rule must return an array of a Tensor or null for each of its 1 tensor input, got array \[\]$/],
    ['not an array', (): unknown => 5, /^backward of 'not an array': the backward rule must return an array of .*, got number 5$/],
    ['a number inside', (): unknown => [5], /^backward of 'a number inside': gradient 0 must be a Tensor or null for each of its 1 tensor input, got number 5$/],
  ] as const)('a backward rule returning %s', (name, rule, message) =>
    scope(() => {
      const x = vec([1, 2]).requiresGrad_();
      expect(() => twice(name, rule)(x).sum().backward()).toThrow(message);
    }));

  // a rule returning its upstream gradient (PyTorch's `return grad_output`) handed the input a
  // gradient backward had just disposed ('toArray: ... used after dispose()', or 'mul backward' one
  // op further down), and one tensor for two inputs became both leaves' .grad: clearing one freed the other
  it('a backward rule returning its upstream gradient, or one tensor for two inputs', () =>
    scope(async () => {
      const passThrough = defineOp({ name: 'passThrough', forward: (_ctx: OpContext, a: Tensor) => a.mul(1), backward: (_ctx, g) => [g] });
      const x = vec([1, 2]).requiresGrad_();
      passThrough(x).mul(vec([3, 4])).sum().backward();
      passThrough(x.mul(5)).sum().backward();
      await expectClose(x.grad!, ref([2], [3 + 5, 4 + 5]), 0, 0, 'through a leaf, then an interior node');
      const sum = defineOp({ name: 'sum2', forward: (_ctx: OpContext, a: Tensor, b: Tensor) => a.add(b), backward: (_ctx, g) => { const d = g.mul(1); return [d, d]; } });
      const [a, b] = [vec([1, 2]).requiresGrad_(), vec([3, 4]).requiresGrad_()];
      sum(a, b).mul(vec([6, 7])).sum().backward();
      a.grad!.dispose();
      a.grad = null;
      await expectClose(b.grad!, ref([2], [6, 7]), 0, 0, "b's gradient after a's was cleared");
    }));

  // a rule that threw or broke its contract left the gradients waiting in the sweep (its own
  // upstream one, those for other branches) held by nothing: outside a scope they stayed live
  it.each([
    ['throws', (): unknown => { throw new Error('rule failed'); }, /^rule failed$/],
    ['returns a wrong shape', (g: Tensor): unknown => [g.sum()], /^backward of 'returns a wrong shape': gradient \[\] for input 0 does not match its shape \[2\]$/],
    ['returns too many', (g: Tensor): unknown => [g, g], /^backward of 'returns too many': the backward rule must return an array/],
  ] as const)('a backward rule that %s frees every pending gradient', (name, rule, message) => {
    const before = device().memory();
    const [x, y] = [vec([1, 2]).requiresGrad_(), vec([3, 4]).requiresGrad_()];
    const made = [x.exp()]; // every tensor made, disposed by hand: no scope to catch what backward drops
    made.push(twice(name, rule)(made[0]!), x.mul(y));
    made.push(made[1]!.add(made[2]!));
    made.push(made[3]!.sum());
    expect(() => made[4]!.backward()).toThrow(message);
    for (const t of [...made, x, y]) t.dispose();
    expect(device().memory().liveBytes).toBe(before.liveBytes);
    expect(device().memory().liveBuffers).toBe(before.liveBuffers);
  });

  it('a disposed input is named under the op, not the first op its forward calls', () => {
    const square = defineOp({ name: 'square', forward: (_ctx: OpContext, a: Tensor) => a.mul(a), backward: (_ctx, g) => [g] });
    const t = tensor([1, 2]);
    t.dispose();
    expect(() => square(t)).toThrow(/^square: tensor float32\[2\] was used after dispose\(\)$/);
  });

  it('a forward returning something other than a tensor', () =>
    scope(() => {
      const op = defineOp({ name: 'listy', forward: (_ctx: OpContext, _a: Tensor): Tensor => [1, 2] as never, backward: (_ctx, g): Tensor[] => [g] });
      expect(() => op(vec([1]))).toThrow(/^listy: the op's forward must return a Tensor, got array \[1, 2\]$/);
    }));

  // an int32 result was marked as requiring grad, which no tensor of that dtype may; what the forward
  // made and saved is freed (outside a scope nothing else would)
  it('a differentiable op returning an int32 tensor from inputs that require grad', () => {
    const before = device().memory();
    const rounded = defineOp({
      name: 'rounded',
      forward: (ctx: OpContext, a: Tensor) => (ctx.save(a), a.astype('int32')),
      backward: (_ctx, g) => [g],
    });
    const x = vec([1.5, 2]).requiresGrad_();
    expect(() => rounded(x)).toThrow(/^rounded: a differentiable op must return a float32 or float16 tensor \(gradients are float\), got int32\[2\]; an op without a gradient has backward: NOT_DIFFERENTIABLE$/);
    x.dispose();
    expect(device().memory().liveBuffers).toBe(before.liveBuffers);
  });
});

describe('gradcheck', () => {
  const square = defineOp({
    name: 'square',
    forward(ctx: OpContext, a: Tensor) {
      ctx.save(a);
      return a.mul(a);
    },
    backward(ctx, g) {
      return [g.mul(ctx.saved[0]!).mul(2)]; // d a^2 = 2a da
    },
  });
  const wrongSquare = defineOp({
    name: 'wrong_square',
    forward(ctx: OpContext, a: Tensor) {
      ctx.save(a);
      return a.mul(a);
    },
    backward(ctx, g) {
      return [g.mul(ctx.saved[0]!)]; // missing the factor 2
    },
  });
  const input = [{ data: [0.5, -1.5, 2], shape: [3] }];

  it('accepts a correct user-defined gradient', async () => {
    const r = await gradcheck(square, input);
    expect(r.ok, JSON.stringify(r)).toBe(true);
  });

  it('rejects a wrong one and says where', async () => {
    const r = await gradcheck(wrongSquare, input);
    expect(r.ok).toBe(false);
    expect(r.worst).toBeDefined();
  });

  // torch.autograd.gradcheck(fn, (x,)) takes tensors; here they were refused ('must be { data, shape }')
  it('takes float32 tensors as inputs, leaving them as they were; refuses an int32 or disposed one', async () => {
    const x = tensor([0.5, -1.5, 2]);
    const y = tensor([[1, -2]]).requiresGrad_();
    const mixed = await gradcheck((a, b) => square(a).sum().mul(b), [x, { data: [1, -2], shape: [1, 2] }]);
    expect(mixed.ok, JSON.stringify(mixed)).toBe(true);
    expect((await gradcheck(wrongSquare, [x])).ok).toBe(false);
    expect((await gradcheck((a) => square(a), [y])).ok).toBe(true);
    expect(Array.from(await x.toArray())).toEqual([0.5, -1.5, 2]);
    expect([y.grad, y.requiresGrad]).toEqual([null, true]);
    const ids = tensor([1, 2], undefined, 'int32');
    await expect(gradcheck(square, [ids])).rejects.toThrow(/^gradcheck: inputs\[0\] must be a float32 tensor \(the check runs in float32\), got int32\[2\]$/);
    ids.dispose();
    x.dispose();
    await expect(gradcheck(square, [x])).rejects.toThrow(/^gradcheck: tensor float32\[3\] was used after dispose\(\)$/);
    y.dispose();
  });

  // eps 0 made every difference NaN: { ok: false, maxError: Infinity } for a correct gradient
  it('refuses options it cannot check with, naming them', async () => {
    await expect(gradcheck(square, input, { eps: 0 })).rejects.toThrow(/^gradcheck: argument 'eps' must be a finite number > 0, got number 0$/);
    await expect(gradcheck(square, input, { atol: -1 })).rejects.toThrow(/^gradcheck: argument 'atol' must be a finite number >= 0, got number -1$/);
    await expect(gradcheck(square, input, { rtol: '0.1' as never })).rejects.toThrow(/^gradcheck: argument 'rtol' must be a finite number >= 0, got string '0.1'$/);
    await expect(gradcheck(5 as never, input)).rejects.toThrow(/^gradcheck: argument 'fn' must be a function, got number 5$/);
    // a misspelt option was ignored; the inputs failed as 'inputs.map is not a function' or under tensor's name
    await expect(gradcheck(square, input, { epsilon: 1e-3 } as never)).rejects.toThrow(/^gradcheck: unknown option 'epsilon' \(the options are eps, atol, rtol, seed\)$/);
    await expect(gradcheck(square, input, { seed: NaN })).rejects.toThrow(/^gradcheck: argument 'seed' must be an integer in \[0, 2\^32 - 1\], got number NaN$/);
    await expect(gradcheck(square, 5 as never)).rejects.toThrow(/^gradcheck: argument 'inputs' must be an array of \{ data, shape \} or float32 tensors, got number 5$/);
    await expect(gradcheck(square, [{ data: [1, 2], shape: [3] }])).rejects.toThrow(/^gradcheck: inputs\[0\] has 2 values for shape \[3\] \(3 elements\)$/);
    await expect(gradcheck(square, [{ data: [1], shape: 1 as never }])).rejects.toThrow(/^gradcheck: argument 'inputs\[0\]\.shape' must be an array of non-negative integers, got number 1 \(a shape is an array: \[1, \.\.\.\]\)$/);
  });

  // backward refused the loss ('does not require grad (no input had requiresGrad set)', though
  // gradcheck had set it) where fn cut its inputs off the graph: the gradient is then 0, and wrong
  it('an fn whose gradient does not reach its inputs (a detach) fails the check where it depends on them, passes where not', async () => {
    const cut = await gradcheck((x) => x.detach().mul(2), input);
    expect(cut.ok).toBe(false);
    expect(cut.worst).toMatchObject({ analytic: 0 });
    expect(cut.worst!.numeric).not.toBeCloseTo(0, 1);
    expect((await gradcheck(() => tensor([1, 2]), input)).ok).toBe(true);
  });

  it('rejects a gradient that is NaN (NaN never passes a tolerance)', async () => {
    const nanSquare = defineOp({
      name: 'nan_square',
      forward: (_ctx: OpContext, a: Tensor) => a.mul(a),
      backward: (_ctx, g) => [g.mul(NaN)],
    });
    const r = await gradcheck(nanSquare, input);
    expect(r.ok).toBe(false);
    expect(r.worst?.analytic).toBeNaN();
  });
});

describe('ops that hand back their input', () => {
  it("a custom op returning its input gives a view: the input's own gradient path is untouched", () =>
    scope(async () => {
      const identity = defineOp({
        name: 'identity',
        forward: (_ctx: OpContext, a: Tensor) => a,
        backward: (_ctx, g) => [g.mul(3)], // a marked gradient, to see it flow through this op
      });
      const x = vec([1, 2]).requiresGrad_();
      const y = x.mul(2);
      const z = identity(y);
      expect(z).not.toBe(y);
      expect(y.gradFn?.opName).toBe('mul');
      z.sum().backward();
      await expectClose(x.grad!, ref([2], [6, 6]), 0, 0, 'd/dx of 3 * (2x)');
    }));

  // only an input was viewed: a forward returning a tensor it closes over (a cached constant, a
  // parameter, a recorded tensor) had the op's node hung on that tensor itself, so a parameter became
  // a non-leaf and a recorded tensor lost its own node (and what it saved, never freed)
  it("a custom op returning a tensor it closes over gives a view: that tensor's own gradient path is untouched", () =>
    scope(async () => {
      const w = vec([1, 2]).requiresGrad_();
      const w3 = w.mul(3);
      const returning = (t: Tensor) =>
        defineOp({ name: 'closure', forward: (_ctx: OpContext, _a: Tensor) => t, backward: (_ctx, g) => [g.mul(5)] });
      const x = vec([1, 1]).requiresGrad_();
      x.sum().backward(); // x.grad exists from here on: the live bytes stay as they are
      const before = device().memory().liveBytes;
      for (const t of [w, w3]) {
        const y = returning(t)(x);
        expect(y).not.toBe(t);
        expect(y.gradFn?.opName).toBe('closure');
        const loss = y.sum();
        loss.backward(); // d/dx = 5 each time
        for (const t of [loss, y]) t.dispose(); // the op's node and what it holds go with them
      }
      expect(w.gradFn).toBeNull();
      expect(w3.gradFn?.opName).toBe('mul');
      expect(device().memory().liveBytes).toBe(before);
      w3.sum().backward();
      await expectClose(x.grad!, ref([2], [11, 11]), 0, 0, 'd/dx of the sum and the two ops');
      await expectClose(w.grad!, ref([2], [3, 3]), 0, 0, 'd/dw of 3w, through its own node');
    }));

  // its node replaced the graph the forward recorded under enableGrad without letting go of it: what
  // that graph saved stayed live after every tensor was disposed
  it('a forward that records (enableGrad) hands back its result with the op\'s node alone', () => {
    const before = device().memory().liveBytes;
    const w = vec([1, 2]).requiresGrad_();
    const recording = defineOp({ name: 'recording', forward: (_ctx: OpContext, a: Tensor) => enableGrad(() => a.mul(w)), backward: (_ctx, g) => [g.mul(5)] });
    const x = vec([3, 4]).requiresGrad_();
    const y = recording(x);
    const loss = y.sum();
    loss.backward();
    expect(w.grad).toBeNull(); // the op's rule is its gradient, not the graph its forward made
    for (const t of [loss, y, x, w]) t.dispose();
    expect(device().memory().liveBytes).toBe(before);
  });

  it('astype to the same dtype keeps the gradient flowing', () =>
    scope(async () => {
      const x = vec([1, 2]).requiresGrad_();
      x.astype('float32').mul(x).sum().backward(); // d(x^2) = 2x
      await expectClose(x.grad!, ref([2], [2, 4]), 0, 0, 'd/dx of x * x.astype(float32)');
    }));
});

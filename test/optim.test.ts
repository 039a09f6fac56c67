// The optimizer classes over the update ops (AdamW, clipGradNorm) and the learning-rate schedule.
// The updates themselves are held to their float64 references by the op table (test/ops.test.ts);
// here: several steps from zero moments, decay only for rank >= 2 weights, parameters without a
// gradient, moments saved and loaded, clipping through the class.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { device } from '../src/device/device.js';
import { AdamW } from '../src/optim/adamw.js';
import { clipGradNorm } from '../src/optim/clip.js';
import { learningRate } from '../src/optim/schedule.js';
import { profile, setProfile } from '../src/kernels/profile.js';
import { GradScaler } from '../src/optim/grad-scaler.js';
import { Generator, Linear, scope, tensor } from '../src/index.js';
import { adamw } from '../src/ops/index.js';
import { expectClose, seededValues, setupDevice, widestBinding } from './helpers.js';
import { adamwStepRef, gradNormRef, ref } from '../src/check/reference/index.js';

beforeAll(setupDevice);

/** AdamW in float64 from zero moments, one step per gradient. */
function adamwRef(p: number[], grads: number[][], o: { lr: number; b1: number; b2: number; eps: number; wd: number }) {
  let state = { p: Float64Array.from(p), m: new Float64Array(p.length), v: new Float64Array(p.length) };
  grads.forEach((g, t) => {
    state = adamwStepRef(state.p, g, state.m, state.v, 1, { lr: o.lr, beta1: o.b1, beta2: o.b2, eps: o.eps, weightDecay: o.wd, step: t + 1 });
  });
  return state.p;
}

/** Greedy runs of consecutive sizes summing to at most `room` (a size larger than room alone), as [first, end). */
function shardsOf(sizes: number[], room: number): [number, number][] {
  const out: [number, number][] = [];
  let first = 0;
  let sum = 0;
  sizes.forEach((n, i) => {
    if (i > first && sum + n > room) {
      out.push([first, i]);
      [first, sum] = [i, 0];
    }
    sum += n;
  });
  out.push([first, sizes.length]);
  return out;
}

describe('AdamW', () => {
  afterEach(() => setProfile(null));
  it('matches the float64 reference over several steps; decays only rank >= 2 weights', () =>
    scope(async () => {
      const init = [...seededValues(6, 1)];
      const grads = [0, 1, 2, 3, 4].map((s) => [...seededValues(6, 10 + s)]);
      const o = { lr: 0.01, b1: 0.9, b2: 0.99, eps: 1e-8, wd: 0.1 };
      const w = tensor(init, [2, 3]).requiresGrad_(); // decayed
      const b = tensor(init, [6]).requiresGrad_(); // not decayed
      const opt = new AdamW([w, b], { lr: o.lr, betas: [o.b1, o.b2], eps: o.eps, weightDecay: o.wd });
      for (const g of grads) {
        w.grad = tensor(g, [2, 3]);
        b.grad = tensor(g, [6]);
        opt.step();
        opt.zeroGrad();
      }
      await expectClose(w, ref([2, 3], adamwRef(init, grads, o)), 1e-6, 1e-5, 'weight');
      await expectClose(b, ref([6], adamwRef(init, grads, { ...o, wd: 0 })), 1e-6, 1e-5, 'bias');
      opt.dispose();
    }));

  // the optimizer held the caller's array: reordering it afterwards gave each parameter another's
  // moments (and a parameter pushed onto it was never updated), without a word
  it("keeps its own list of the parameters: the caller's array changing later changes nothing", () =>
    scope(async () => {
      const o = { lr: 0.01, b1: 0.9, b2: 0.99, eps: 1e-8, wd: 0 };
      const inits = [[...seededValues(3, 5)], [...seededValues(5, 6)]];
      const grads = [0, 1].map((t) => inits.map((x, i) => [...seededValues(x.length, 50 + 10 * i + t)]));
      const params = inits.map((x) => tensor(x, [x.length]).requiresGrad_());
      const given = [...params];
      const opt = new AdamW(given, { lr: o.lr, betas: [o.b1, o.b2], eps: o.eps, weightDecay: o.wd });
      for (const g of grads) {
        params.forEach((p, i) => (p.grad = tensor(g[i]!, p.shape)));
        opt.step();
        opt.zeroGrad();
        given.reverse();
      }
      for (const [i, p] of params.entries()) await expectClose(p, ref([...p.shape], adamwRef(inits[i]!, grads.map((g) => g[i]!), o)), 1e-6, 1e-5, `param ${i}`);
      opt.dispose();
    }));

  // the step count was the optimizer's: a parameter whose first gradient came at step 3 had its
  // moments bias-corrected for step 3 (its first update 0.64 lr rather than lr; after 1000 steps
  // without a gradient, 3.2 lr). torch.optim.AdamW counts steps per parameter, those with a gradient
  it('counts steps per parameter: one without a gradient at some steps is corrected for the steps it took', () =>
    scope(async () => {
      const o = { lr: 0.01, b1: 0.9, b2: 0.99, eps: 1e-8, wd: 0 };
      const init = [...seededValues(4, 2)];
      const grads = [0, 1, 2].map((s) => [...seededValues(4, 20 + s)]);
      const has = [[true, true, true], [false, false, true], [true, false, true]]; // per parameter, per step
      const params = has.map(() => tensor(init, [4]).requiresGrad_());
      const opt = new AdamW(params, { lr: o.lr, betas: [o.b1, o.b2], eps: o.eps, weightDecay: o.wd });
      for (let t = 0; t < 3; t++) {
        params.forEach((p, i) => (p.grad = has[i]![t] ? tensor(grads[t]!, [4]) : null));
        opt.step();
        opt.zeroGrad();
      }
      for (const [i, p] of params.entries()) {
        await expectClose(p, ref([4], adamwRef(init, grads.filter((_, t) => has[i]![t]), o)), 1e-6, 1e-5, `param ${i}`);
      }
      opt.dispose();
    }));

  it.each(['readMoments / loadMoments', 'copyMoments'])(
    "a run continued in a new optimizer through %s keeps each parameter's step count (bias correction) exact",
    (route) =>
      scope(async () => {
        const o = { lr: 0.01, b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0 };
        const init = [...seededValues(4, 3)];
        const grads = [0, 1, 2, 3, 4, 5].map((s) => [...seededValues(4, 40 + s)]);
        // per parameter, per step: the second misses its first three gradients, the third two of them
        const has = [[true, true, true, true, true, true], [false, false, false, true, true, true], [true, false, false, true, false, true]];
        const params = has.map(() => tensor(init, [4]).requiresGrad_());
        const opts = { lr: o.lr, betas: [o.b1, o.b2] as [number, number], eps: o.eps, weightDecay: o.wd };
        const steps = (opt: AdamW, from: number, to: number) => {
          for (let t = from; t < to; t++) {
            params.forEach((p, i) => (p.grad = has[i]![t] ? tensor(grads[t]!, [4]) : null));
            opt.step();
            opt.zeroGrad();
          }
        };
        const first = new AdamW(params, opts);
        steps(first, 0, 3);
        const second = new AdamW(params, opts);
        if (route === 'copyMoments') second.copyMoments(first);
        else {
          const { m, v, steps: counts } = await first.readMoments();
          expect(counts).toEqual(has.map((h) => h.slice(0, 3).filter(Boolean).length));
          expect(() => second.loadMoments(m, v, counts.slice(1))).toThrow(/^AdamW.loadMoments: argument 'steps' must be 3 step counts \(integers >= 0\), one per parameter, got /);
          second.loadMoments(m, v, counts);
        }
        steps(second, 3, 6);
        for (const [i, p] of params.entries()) {
          await expectClose(p, ref([4], adamwRef(init, grads.filter((_, t) => has[i]![t]), o)), 1e-6, 1e-5, `param ${i}`);
        }
        for (const opt of [first, second]) opt.dispose();
      }),
  );

  // a buffer limit of 64 bytes (16 moments) shards them: 20 parameters over many shards, one larger than a shard alone
  it.each([
    ['one shard', null],
    ['moments sharded by a 64-byte buffer limit', 64],
  ])('updates many parameters in grouped dispatches: each matches the reference, one without a grad stays put (%s)', (_, bufferLimit) =>
    scope(async () => {
      setProfile(bufferLimit ? { bufferLimit } : null);
      const o = { lr: 0.02, b1: 0.8, b2: 0.95, eps: 1e-8, wd: 0.05 };
      const shapes = [[3, 2], [5], [1], [2, 2, 2], [7], [4, 1], [1], [3], [9, 2], [2], [1, 1], [6], [2, 5], [3], [1], [8], [2, 3], [4], [5, 5], [2]];
      const frozen = 6; // never gets a gradient: splits the groups around it
      const inits = shapes.map((s, i) => [...seededValues(s.reduce((a, b) => a * b, 1), 100 + i)]);
      const params = shapes.map((s, i) => tensor(inits[i]!, s).requiresGrad_());
      const opt = new AdamW(params, { lr: o.lr, betas: [o.b1, o.b2], eps: o.eps, weightDecay: o.wd });
      // shards cover the parameters in order, each within the limit unless a parameter alone is larger
      expect(opt.shards.map((sh) => [sh.first, sh.end])).toEqual(shardsOf(shapes.map((sh) => sh.reduce((a, b) => a * b, 1)), (bufferLimit ?? Infinity) / 4));
      const scale = 0.5; // e.g. a clipping factor: multiplies every gradient
      const grads = params.map((p, i) => [0, 1, 2].map((t) => [...seededValues(p.size, 1000 + 10 * i + t)]));
      for (let t = 0; t < 3; t++) {
        params.forEach((p, i) => (p.grad = i === frozen ? null : tensor(grads[i]![t]!, p.shape)));
        opt.step(tensor([scale], []));
        opt.zeroGrad();
      }
      for (const [i, p] of params.entries()) {
        const want = i === frozen ? inits[i]! : adamwRef(inits[i]!, grads[i]!.map((g) => g.map((x) => x * scale)), { ...o, wd: p.rank >= 2 ? o.wd : 0 });
        await expectClose(p, ref([...p.shape], want), 1e-6, 1e-5, `param ${i} ${p.describe()}`);
      }
      // moments survive a read / load round trip into a fresh optimizer
      const { m, v } = await opt.readMoments();
      const again = new AdamW(params);
      again.loadMoments(m, v);
      const flat = (o: AdamW) => Promise.all(o.shards.flatMap((sh) => [sh.m.toArray(), sh.v.toArray()]));
      expect(await flat(again)).toEqual(await flat(opt));
      expect(() => again.loadMoments(m.slice(1), v)).toThrow(/AdamW.loadMoments: parameter 0 .* got \d+ values/);
      // refused at the last parameter: nothing was loaded, not even the shards before it
      expect(() => again.loadMoments(m.map((x) => x.map(() => 7)), v.slice(0, -1))).toThrow(/AdamW.loadMoments: parameter 19 .* got no values/);
      expect(await flat(again)).toEqual(await flat(opt));
      // as tensors (a checkpoint's, uploaded as read): loadMoments copies them on the GPU and leaves them;
      // the constructor adopts them, each freed once copied, and refuses bad ones before taking any
      const asTensors = (xs: Float32Array[]) => xs.map((x) => tensor(x, [x.length]));
      const [mt, vt] = [asTensors(m), asTensors(v)];
      const copied = new AdamW(params);
      copied.loadMoments(mt, vt);
      expect(await flat(copied)).toEqual(await flat(opt));
      expect([...mt, ...vt].some((t) => t.isDisposed)).toBe(false);
      expect(() => new AdamW(params, {}, { m: mt, v: vt.slice(1) })).toThrow(/^AdamW: parameter 0 float32\[3, 2\] got 5 values$/);
      expect([...mt, ...vt].some((t) => t.isDisposed)).toBe(false);
      // readMoments' steps beside them were dropped (every parameter's bias correction restarted
      // on moments that are not new), and lists that are not arrays failed in JavaScript's words
      const read = await opt.readMoments();
      expect(() => new AdamW(params, {}, read)).toThrow(/^AdamW: argument 'moments' must be \{ m, v \} alone \(readMoments' steps are loadMoments' to take\), got an object with keys m, steps, v$/);
      expect(() => new AdamW(params, {}, { m: mt } as never)).toThrow(/^AdamW: argument 'moments' must be .*, got an object with keys m$/);
      expect(() => new AdamW(params, {}, { m: mt, v: 'x' } as never)).toThrow(/^AdamW: argument 'moments.v' must be an array of 20 moments, one per parameter, got string 'x'$/);
      // a tensor twice was freed once copied, then read: 'use: tensor float32[3, 2] was used after dispose()', and gone
      expect(() => new AdamW(params, {}, { m: mt, v: [mt[0]!, ...vt.slice(1)] })).toThrow(/^AdamW: moments.v\[0\] is moments.m\[0\] again; the constructor frees each tensor once copied: pass each once$/);
      expect(() => again.loadMoments(m, undefined as never)).toThrow(/^AdamW.loadMoments: argument 'v' must be an array of 20 moments, one per parameter, got undefined$/);
      expect([...mt, ...vt].some((t) => t.isDisposed)).toBe(false);
      const adopted = new AdamW(params, {}, { m: mt, v: vt });
      expect(await flat(adopted)).toEqual(await flat(opt));
      expect([...mt, ...vt].every((t) => t.isDisposed)).toBe(true);
      for (const o of [opt, again, copied, adopted]) o.dispose();
    }));

  it('refuses a parameter passed twice and hyperparameters outside their ranges, in one line naming them', () =>
    scope(async () => {
      const p = tensor([1, 2]).requiresGrad_();
      expect(() => new AdamW([p, p])).toThrow(/^AdamW: params\[1\] float32\[2\] is params\[0\] again; pass each parameter once$/);
      // a tensor computed from a parameter never gets a .grad of its own: it was taken and never trained,
      // its leaf neither (PyTorch: "can't optimize a non-leaf Tensor")
      expect(() => new AdamW([p, p.mul(2)])).toThrow(/^AdamW: params\[1\] float32\[2\] was computed by 'mul' \(not a leaf\): it never gets a \.grad of its own; pass the leaf it was computed from$/);
      const bad: [object, RegExp][] = [
        [{ lr: NaN }, /^AdamW: argument 'lr' must be a finite number >= 0, got number NaN$/],
        [{ lr: '0.1' }, /^AdamW: argument 'lr' must be a finite number >= 0, got string '0.1'$/],
        [{ eps: -1 }, /^AdamW: argument 'eps' must be a finite number >= 0, got number -1$/],
        [{ weightDecay: Infinity }, /^AdamW: argument 'weightDecay' must be a finite number >= 0, got number Infinity$/],
        // float32 uniforms of the kernel: past float32's range each was refused at the first step, as a bug of the kernel's
        [{ lr: 1e39 }, /^AdamW: argument 'lr' must be within float32's range \(\|x\| < 3\.4e38: a kernel takes it as float32\), got number 1e\+39$/],
        [{ eps: 1e39 }, /^AdamW: argument 'eps' must be within float32's range \(\|x\| < 3\.4e38: a kernel takes it as float32\), got number 1e\+39$/],
        [{ weightDecay: 4e38 }, /^AdamW: argument 'weightDecay' must be within float32's range \(\|x\| < 3\.4e38: a kernel takes it as float32\), got number 4e\+38$/],
        [{ betas: [1, 0.999] }, /^AdamW: argument 'betas' must be two numbers in \[0, 1\), got array \[1, 0.999\]$/],
        [{ betas: 0.9 }, /^AdamW: argument 'betas' must be two numbers in \[0, 1\), got number 0.9$/],
        // PyTorch's spelling (or amsgrad, which this AdamW has not) was ignored: weight decay stayed 0.01
        [{ lr: 0.1, weight_decay: 0.1 }, /^AdamW: unknown option 'weight_decay' \(the options are lr, betas, eps, weightDecay\)$/],
        [{ amsgrad: true }, /^AdamW: unknown option 'amsgrad' \(the options are lr, betas, eps, weightDecay\)$/],
      ];
      for (const [opts, message] of bad) expect(() => new AdamW([p], opts)).toThrow(message);
      expect(() => new AdamW((() => [p]) as never)).toThrow(/^AdamW: argument 'params' must be an array of Tensors, got function$/);
      // an iterator (namedParameters(), a Set's values()) read 'got an object ()' and 'got an object (Object)'
      expect(() => new AdamW(new Set([p]).values() as never)).toThrow(/^AdamW: argument 'params' must be an array of Tensors, got an iterator \(Set Iterator\)$/);
      expect(() => new AdamW(new Linear(1, 1, { rng: new Generator(0) }).namedParameters() as never)).toThrow(/^AdamW: argument 'params' must be an array of Tensors, got an iterator \(Generator\)$/);
      expect(() => new AdamW([1] as never)).toThrow(/^AdamW: argument 'params\[0\]' must be a Tensor, got number 1$/);
      // PyTorch's parameter groups were refused as 'must be a Tensor, got an object (Object)', not saying
      // that groups are not taken, nor how decay is chosen without them
      expect(() => new AdamW([{ params: [p], weight_decay: 0 }] as never)).toThrow(
        /^AdamW: params\[0\] is a parameter group \(\{ params, \.\.\. \}\); AdamW takes one array of Tensors: weight decay goes to those of rank >= 2 \(nanoGPT's groups\), and another lr or decay takes another AdamW$/,
      );
      // lr set between steps (a schedule) is checked by the step, before anything moves
      const opt = new AdamW([p]);
      p.grad = tensor([1, 1]);
      opt.lr = NaN;
      expect(() => opt.step()).toThrow(/^AdamW.step: argument 'lr' must be a finite number >= 0, got number NaN$/);
      opt.lr = 1e39;
      expect(() => opt.step()).toThrow(/^AdamW.step: argument 'lr' must be within float32's range \(\|x\| < 3\.4e38: a kernel takes it as float32\), got number 1e\+39$/);
      opt.lr = 0.1;
      // so are the other hyperparameters (loadStateDict sets them too): each was refused at launch as a bug of the kernel's ('adamw: uniform 'eps' must be a finite float32')
      opt.eps = 1e39;
      expect(() => opt.step()).toThrow(/^AdamW.step: argument 'eps' must be within float32's range \(\|x\| < 3\.4e38: a kernel takes it as float32\), got number 1e\+39$/);
      [opt.eps, opt.weightDecay] = [1e-8, -1];
      expect(() => opt.step()).toThrow(/^AdamW.step: argument 'weightDecay' must be a finite number >= 0, got number -1$/);
      [opt.weightDecay, opt.betas] = [0.01, [NaN, 0.999]];
      expect(() => opt.step()).toThrow(/^AdamW.step: argument 'betas' must be two numbers in \[0, 1\), got array \[NaN, 0.999\]$/);
      expect(opt.stepCount).toBe(0);
      expect(Array.from(await p.toArray())).toEqual([1, 2]);
      opt.dispose();
    }));

  // a disposed parameter (its .grad disposed with it) was skipped as one without a gradient, and a
  // disposed optimizer counted the step before failing in the 'adamw' kernel's argument check
  it('refuses a disposed parameter or a disposed optimizer, before anything moves', () =>
    scope(async () => {
      const [p, q] = [tensor([1, 2]).requiresGrad_(), tensor([3]).requiresGrad_()];
      const opt = new AdamW([p, q]);
      p.grad = tensor([1, 1]);
      q.dispose();
      expect(() => opt.step()).toThrow(/^AdamW.step: params\[1\] float32\[1\] was disposed; an optimizer's parameters must live as long as it steps$/);
      expect(() => new AdamW([q])).toThrow(/^AdamW: params\[0\]: tensor float32\[1\] was used after dispose\(\)$/);
      opt.dispose();
      expect(() => opt.step()).toThrow(/^AdamW.step: the optimizer was disposed/);
      expect(opt.stepCount).toBe(0);
      expect(Array.from(await p.toArray())).toEqual([1, 2]);
      // loading moments into it staged a fresh shard first, then failed to swap it in: the shard stayed allocated
      const live = device().memory().liveBytes;
      expect(() => opt.loadMoments([[0, 0], [0]], [[0, 0], [0]])).toThrow(/^AdamW.loadMoments: the optimizer was disposed/);
      expect(device().memory().liveBytes).toBe(live);
      // reading them back failed as 'toArray: tensor float32[3] was used after dispose()'
      await expect(opt.readMoments()).rejects.toThrow(/^AdamW.readMoments: the optimizer was disposed/);
      await expect(opt.readMoment('m', 0)).rejects.toThrow(/^AdamW.readMoment: the optimizer was disposed/);
    }));

  // torch steps it silently (zero_grad before step, or no backward: a run that never trains); one
  // parameter with a gradient is enough, the others skipped as torch skips a None .grad
  it('refuses a step where no parameter holds a gradient, before anything moves', () =>
    scope(async () => {
      const [p, q] = [tensor([1, 2]).requiresGrad_(), tensor([3]).requiresGrad_()];
      const opt = new AdamW([p, q]);
      expect(() => opt.step()).toThrow(/^AdamW.step: none of its 2 parameters holds a gradient \(call loss.backward\(\) before step\(\), and zeroGrad\(\) after it\)$/);
      expect(opt.stepCount).toBe(0);
      q.grad = tensor([1]);
      opt.step();
      expect(opt.stepCount).toBe(1);
      expect(Array.from(await p.toArray())).toEqual([1, 2]);
      opt.dispose();
    }));

  // backward reads a .grad disposed by hand (without `= null`) as a cleared one; AdamW.step,
  // clipGradNorm and GradScaler.unscale failed on it as 'adamw' or 'gradNorm: tensor float32[2] was
  // used after dispose()', and a .grad of another shape was refused as the kernel's grads[0]
  it('reads a .grad as backward does: a disposed one is cleared (that parameter is skipped), one of another shape refused naming the caller', () =>
    scope(async () => {
      const o = { lr: 0.1, b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0 };
      const [p, q] = [tensor([1, 2]).requiresGrad_(), tensor([3, -4]).requiresGrad_()];
      const opt = new AdamW([p, q], { lr: o.lr, betas: [o.b1, o.b2], eps: o.eps, weightDecay: o.wd });
      p.grad = tensor([0.5, -0.5]);
      q.grad = tensor([3, 4]);
      p.grad.dispose();
      const scaler = new GradScaler();
      expect(await scaler.unscale([p, q], Infinity).item()).toBeCloseTo(5 / 2 ** 16, 9); // q's alone, unscaled
      scaler.dispose();
      const { norm, scale } = clipGradNorm([p, q], 1);
      expect(await norm.item()).toBeCloseTo(5, 5);
      opt.step(scale);
      expect(Array.from(await p.toArray())).toEqual([1, 2]);
      await expectClose(q, ref([2], adamwRef([3, -4], [[3 / 5, 4 / 5]], o)), 1e-6, 1e-5, 'q');
      p.grad = tensor([1]);
      const wrong = /^(AdamW\.step|clipGradNorm): the \.grad of float32\[2\] is float32\[1\]; set it to a tensor of its shape and dtype, or null$/;
      expect(() => opt.step()).toThrow(wrong);
      expect(() => clipGradNorm([p, q], 1)).toThrow(wrong);
      opt.dispose();
    }));
});

describe('the AdamW kernel: vec4 and scalar groups', () => {
  afterEach(() => setProfile(null));
  // a run of sizes a multiple of 4 from a moment 4 (after parameters of 3 and 1 without a
  // gradient), longer than a group (2, 6 or 8 parameters, as the adapter's bindings allow); groups
  // mixing multiples of 4 with others, some starting off a multiple of 4; windows of a binding of
  // four offset alignments (64 bytes where bindings start at multiples of 16, as on lavapipe); a
  // 0-d gradient scale or a GradScaler's control (bias corrected for the steps taken, or the step
  // skipped)
  const sizes = [3, 1, 8, 12, 16, 4, 20, 40, 8, 4, 5, 7, 72, 100, 36, 9, 44, 2, 128];
  const hasGrad = sizes.map((_, i) => ![0, 1, 11].includes(i));
  it.each([
    ['0-d scale', null, [0.5]],
    ['0-d scale, 4-alignment bindings', 4, [0.5]],
    ['control, 2 of 5 steps skipped', null, [0.25, 0, 2, 1]],
    ['control, 2 of 5 steps skipped, 4-alignment bindings', 4, [0.25, 0, 2, 1]],
    ['control, this step skipped', 4, [0.25, 1, 2, 0]],
  ] as const)('every parameter, m and v equal float64 (%s)', (_, alignments, scale) =>
    scope(async () => {
      const bindingLimit = alignments && alignments * profile().offsetAlignment;
      const hyper = { lr: 0.01, beta1: 0.9, beta2: 0.98, eps: 1e-8, weightDecay: 0.1, step: 5 };
      const total = sizes.reduce((a, b) => a + b, 0);
      const values = (n: number, seed: number, lo = -1, hi = 1) => Float32Array.from(seededValues(n, seed, lo, hi)); // as the tensors hold them
      const [m0, v0] = [values(total, 1, -0.1, 0.1), values(total, 2, 0.01, 0.1)];
      const ps = sizes.map((n, i) => values(n, 10 + i));
      const gs = sizes.map((n, i) => values(n, 50 + i));
      const decay = sizes.map((_, i) => i % 2 === 0);
      const params = ps.map((p) => tensor(p));
      const [m, v] = [tensor(m0), tensor(v0)];
      const [grads, gradScale] = [gs.map((g, i) => (hasGrad[i] ? tensor(g) : null)), tensor([...scale], scale.length > 1 ? [4] : [])];
      setProfile(bindingLimit ? { bindingLimit } : null);
      const [, widest] = await widestBinding(async () => adamw(params, grads, m, v, gradScale, decay, hyper));
      setProfile(null);
      // the moments' windows too: a parameter in pieces from an unaligned moment (44 from 345) bound 68 bytes with 16-byte alignment
      if (bindingLimit) expect(widest, 'the widest binding').toBeLessThanOrEqual(bindingLimit);
      const [skip, taken] = scale.length > 1 ? [scale[1] === 1, hyper.step - scale[2]!] : [false, hyper.step];
      const [mWant, vWant] = [Float64Array.from(m0), Float64Array.from(v0)];
      let at = 0;
      for (const [i, n] of sizes.entries()) {
        let want: ArrayLike<number> = ps[i]!;
        if (hasGrad[i] && !skip) {
          const h = { ...hyper, step: taken, weightDecay: decay[i] ? hyper.weightDecay : 0 };
          const next = adamwStepRef(ps[i]!, gs[i]!, m0.subarray(at, at + n), v0.subarray(at, at + n), scale[0], h);
          want = next.p;
          mWant.set(next.m, at);
          vWant.set(next.v, at);
        }
        await expectClose(params[i]!, ref([n], want), 1e-6, 1e-5, `param ${i} of ${n}`);
        at += n;
      }
      await expectClose(m, ref([total], mWant), 1e-7, 1e-5, 'm');
      await expectClose(v, ref([total], vWant), 1e-7, 1e-5, 'v');
    }));
});

describe('AdamW at the edges of its hyperparameters', () => {
  // 1 - beta in float32 from a beta rounded to float32 cancels: for beta2 = 0.999 it was off by
  // 1.3e-5 relative, so the first step's update g / |g| came out 1 + 6.4e-6 (about 100 ulp).
  // A GradScaler's control [multiplier, skip, skipped, clean]: after skipped steps the kernel
  // corrects for the steps taken (step - skipped) itself.
  it.each([
    ['step 1, eps 0', 1, 0, null],
    ['step 1, eps 1e-8', 1, 1e-8, null],
    ['step 1e6, eps 0', 1e6, 0, null],
    ['step 4 after 3 skipped, eps 0', 4, 0, [1, 0, 3, 0]],
    ['step 1e6 after 10 skipped, eps 0', 1e6, 0, [1, 0, 10, 0]],
  ] as const)('the update of gradients from 1e-15 to 1e15 equals float64 to a few ulp (%s)', (_, step, eps, control) =>
    scope(async () => {
      const g = Float32Array.from([1e-15, -3e-7, 0.5, -2, 7e4, -1e15]);
      const n = g.length;
      for (const [beta1, beta2] of [[0.9, 0.999], [0.9, 0.95], [0.99, 0.9999]]) {
        const hyper = { lr: 1, beta1, beta2, eps, weightDecay: 1, step };
        const param = tensor(new Float32Array(n)); // 0: the result is -update, whatever the decay
        const gscale = control ? tensor([...control], [4]) : tensor(1);
        adamw([param], [tensor(g)], tensor(new Float32Array(n)), tensor(new Float32Array(n)), gscale, [true], hyper);
        const taken = { ...hyper, step: step - (control?.[2] ?? 0) };
        const want = adamwStepRef(new Float64Array(n), g, new Float64Array(n), new Float64Array(n), 1, taken).p;
        await expectClose(param, ref([n], want), 0, 5e-7, `beta1 ${beta1}, beta2 ${beta2}`);
      }
    }));
});

describe('float16 parameters', () => {
  it('are refused up front by AdamW, clipGradNorm and GradScaler, naming the parameter by its place in the list given', (ctx) => {
    if (!profile().f16) return ctx.skip();
    scope(() => {
      const a = tensor([1, 2]).requiresGrad_(); // no gradient: the float16 one is params[1], not the first gradient
      const b = tensor([1, 2], [2], 'float16').requiresGrad_();
      b.mul(b).sum().backward();
      const advice = 'float16 compute keeps float32 parameters and runs the forward under autocast';
      expect(() => new AdamW([a, b])).toThrow(new RegExp(`^AdamW: params\\[1\\] is float16\\[2\\]; AdamW updates float32 parameters \\(${advice}\\)$`));
      expect(() => clipGradNorm([a, b], 1)).toThrow(new RegExp(`^clipGradNorm: params\\[1\\].grad is float16\\[2\\]; gradients are measured in float32 \\(${advice}\\)$`));
      const scaler = new GradScaler();
      expect(() => scaler.unscale([a, b], 1)).toThrow(/^GradScaler.unscale: params\[1\].grad is float16\[2\]; gradients are measured in float32/);
      scaler.dispose();
    });
  });
});

describe('gradient clipping', () => {
  it('computes the global norm and scales only when it exceeds maxNorm', () =>
    scope(async () => {
      const a = tensor([1, 2, 3]).requiresGrad_();
      const b = tensor([[4]]).requiresGrad_();
      a.grad = tensor([3, 0, 0]);
      b.grad = tensor([[4]]);
      const big = clipGradNorm([a, b], 1);
      expect(await big.norm.item()).toBeCloseTo(5, 5);
      expect(await big.scale.item()).toBeCloseTo(1 / (5 + 1e-6), 6);
      const small = clipGradNorm([a, b], 10);
      expect(await small.scale.item()).toBe(1);
      // a limit past 2^126 but finite in float32: no clipping, scale exactly 1 (a GPU dividing through
      // a reciprocal flushes 1 / 1e38 to 0, so 1e38 / 1e38 was 0 there; lavapipe divides exactly)
      expect(await clipGradNorm([a, b], 1e38).scale.item()).toBe(1);
      const off = clipGradNorm([a, b], Infinity); // --grad-clip 0: measure only
      expect(await off.norm.item()).toBeCloseTo(5, 5);
      expect(await off.scale.item()).toBe(1);
    }));

  // torch's clip_grad_norm_ scales the gradients in place; here the scale goes to the optimizer's
  // step, and clipGradNorm(params, 1) then opt.step() stepped with the unclipped gradients, without a word
  it("AdamW.step refuses gradients clipGradNorm clipped unless given its scale", () =>
    scope(async () => {
      const p = tensor([1, 2]).requiresGrad_();
      const opt = new AdamW([p], { lr: 0.1, weightDecay: 0 });
      p.grad = tensor([30, 40]);
      const { scale } = clipGradNorm([p], 1);
      expect(() => opt.step()).toThrow(/^AdamW\.step: clipGradNorm clipped these gradients through its 'scale' \(they are not changed in place\); pass it: step\(scale\)$/);
      expect(await p.toArray()).toEqual(new Float32Array([1, 2]));
      opt.step(scale);
      clipGradNorm([p], Infinity); // measured, not clipped: nothing to pass
      opt.step();
      expect(opt.stepCount).toBe(2);
      opt.dispose();
    }));

  // torch's clip_grad_norm_(some) scales those gradients only, and the optimizer steps every other
  // parameter with its own: the scale of clipGradNorm([w], 1) passed to AdamW.step multiplied every
  // gradient, the unclipped parameters' too
  it('a scale measured for some of the parameters clips only their gradients in the step, as torch clips only those given', () =>
    scope(async () => {
      const hyper = { lr: 0.1, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0, step: 1 };
      // first steps are sign-like (m / sqrt(v) = g / |g|): eps 1 keeps the gradient's size in the update
      const o = { lr: hyper.lr, betas: [hyper.beta1, hyper.beta2] as [number, number], eps: 1, weightDecay: 0 };
      const clipped = tensor([1, 2]).requiresGrad_();
      const other = tensor([1, 2]).requiresGrad_();
      const opt = new AdamW([clipped, other], o);
      clipped.grad = tensor([30, 40]);
      other.grad = tensor([30, 40]);
      const { scale } = clipGradNorm([clipped], 1);
      opt.step(scale);
      const zero = [0, 0];
      const want = (factor: number) => adamwStepRef([1, 2], [30, 40], zero, zero, factor, { ...hyper, eps: 1 }).p;
      await expectClose(clipped, ref([2], want(1 / (50 + 1e-6))), 1e-6, 1e-5, 'clipped');
      await expectClose(other, ref([2], want(1)), 1e-6, 1e-5, 'not clipped');
      // each clipped by a scale of its own: one step cannot take both, and leaving one unclipped is refused
      opt.zeroGrad();
      clipped.grad = tensor([30, 40]);
      other.grad = tensor([30, 40]);
      const first = clipGradNorm([clipped], 1).scale;
      clipGradNorm([other], 1);
      expect(() => opt.step(first)).toThrow(/^AdamW\.step: clipGradNorm clipped some of these gradients through another 'scale' than the one given; clip them in one call, or step them with another AdamW$/);
      expect(opt.stepCount).toBe(1);
      opt.dispose();
    }));

  it('maxNorm must be a number > 0 (Infinity: no clipping): NaN is refused, not taken as no clipping, naming the function called', () =>
    scope(() => {
      const p = tensor([1, 2]).requiresGrad_();
      p.grad = tensor([3, 4]);
      const scaler = new GradScaler();
      for (const [v, shown] of [[0, 'number 0'], [-1, 'number -1'], [NaN, 'number NaN'], ['1', "string '1'"], [undefined, 'undefined']] as const) {
        expect(() => clipGradNorm([p], v as never)).toThrow(`clipGradNorm: argument 'maxNorm' must be a number > 0 (Infinity: no clipping), got ${shown}`);
        expect(() => scaler.unscale([p], v as never)).toThrow(`GradScaler.unscale: argument 'maxNorm' must be a number > 0 (Infinity: no clipping), got ${shown}`);
      }
      scaler.dispose();
    }));

  // [[p]] or [...model.namedParameters()] (name, tensor pairs) measured no gradient: a norm of 0, so nothing was clipped, without a word
  it('params must be an array of Tensors: anything else in it is refused, naming its place, by clipGradNorm and GradScaler.unscale', () =>
    scope(() => {
      const p = tensor([3, 4]).requiresGrad_();
      p.grad = tensor([30, 40]);
      const scaler = new GradScaler();
      for (const [fn, name] of [[(ps: never) => clipGradNorm(ps, 1), 'clipGradNorm'], [(ps: never) => scaler.unscale(ps, 1), 'GradScaler.unscale']] as const) {
        expect(() => fn([[p]] as never)).toThrow(new RegExp(`^${name}: argument 'params\\[0\\]' must be a Tensor, got array \\[float32\\[2\\]\\]$`));
        expect(() => fn([p, ['w', p]] as never)).toThrow(new RegExp(`^${name}: argument 'params\\[1\\]' must be a Tensor, got array \\['w', float32\\[2\\]\\]$`));
        expect(() => fn(p as never)).toThrow(new RegExp(`^${name}: argument 'params' must be an array of Tensors, got a float32\\[2\\] tensor$`));
      }
      scaler.dispose();
    }));

  it('norm and scale match the float64 reference for many gradients of many shapes (grouped dispatches)', () =>
    scope(async () => {
      const shapes = [[3, 5], [7], [1], [64, 33], [2, 2, 2], [300], [5, 1], [1, 1], [17, 4], [9], [1000], [2, 3]];
      const params = shapes.map((s, i) => {
        const p = tensor(new Float32Array(s.reduce((a, b) => a * b, 1)), s).requiresGrad_();
        p.grad = tensor(Float32Array.from(seededValues(p.size, 50 + i, -2, 2)), s);
        return p;
      });
      params[4]!.grad = null; // a parameter without a gradient is skipped
      let sumsq = 0;
      for (const p of params) if (p.grad) for (const v of await p.grad.toArray()) sumsq += v * v;
      const want = Math.sqrt(sumsq);
      for (const maxNorm of [want / 3, want * 2]) {
        const { norm, scale } = clipGradNorm(params, maxNorm);
        expect(Math.abs((await norm.item()) - want) / want).toBeLessThan(1e-5);
        const wantScale = Math.min(1, maxNorm / (want + 1e-6));
        expect(Math.abs((await scale.item()) - wantScale) / wantScale).toBeLessThan(1e-5);
      }
    }));

  // Squares of gradients near 1e20 overflow float32 and those near 1e-25 underflow it, though the
  // norms (up to ~1e24 and down to ~1e-23 here) are float32 numbers: summed naively, the norm was
  // Infinity (every gradient then clipped to 0) or 0. Each slice is scaled by a power of two first.
  it('is right where the squares overflow or underflow float32 (gradients of 1e20, 1e-25), across slices of very different sizes', () =>
    scope(async () => {
      const big = Float32Array.from(seededValues(70_000, 61, -1, 1), (v) => v * 1e20); // two slices
      const tiny = Float32Array.from(seededValues(300, 62, -1, 1), (v) => v * 1e-25);
      // 2e38: past 2^127, the largest exponent a scale 2^-e can undo as a normal number
      for (const grads of [[big], [tiny], [big, tiny], [tiny, Float32Array.of(3, 4)], [Float32Array.of(2e38, -1), tiny]]) {
        const params = grads.map((g) => {
          const p = tensor(new Float32Array(g.length)).requiresGrad_();
          p.grad = tensor(g);
          return p;
        });
        let sumsq = 0;
        for (const g of grads) for (const v of g) sumsq += v * v;
        const want = Math.sqrt(sumsq);
        const { norm, scale } = clipGradNorm(params, 1);
        expect(Math.abs((await norm.item()) - want) / want, `norm ${want}`).toBeLessThan(1e-5);
        const wantScale = Math.min(1, 1 / (want + 1e-6));
        expect(Math.abs((await scale.item()) - wantScale) / wantScale, `scale ${wantScale}`).toBeLessThan(1e-5);
      }
    }));

  // As torch 1.13's clip_grad_norm_ (error_if_nonfinite False, its default) then torch.optim.AdamW,
  // checked there: an infinite gradient gives norm Infinity and factor 0 (the finite gradients
  // zeroed, the infinite element NaN), a NaN gives norm NaN and factor NaN (every weight NaN). The
  // factor was 1 for a NaN on lavapipe (a NaN compared: WGSL may assume finite floats), so only the
  // NaN's own elements went NaN. Without a limit (--grad-clip 0: nanoGPT never calls
  // clip_grad_norm_) the factor stays exactly 1.
  it.each([
    ['Infinity', 1, Infinity],
    ['-Infinity', 1, -Infinity],
    ['NaN', 1, NaN],
    ['NaN', Infinity, NaN],
  ])('a gradient element of %s, maxNorm %s: norm and factor as torch, the step as float64 AdamW with that factor', (_, maxNorm, bad) =>
    scope(async () => {
      const hyper = { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, step: 1 };
      const inits = [[1, 2, 3, 4], [0.5, -0.5]];
      const grads = [[0.5, bad, -0.5, 1], [2, 1]];
      const params = inits.map((x, i) => tensor(x, i ? [2] : [2, 2]).requiresGrad_());
      params.forEach((p, i) => (p.grad = tensor(grads[i]!, p.shape)));
      const want = gradNormRef(grads, maxNorm);
      const wantScale = Number.isFinite(maxNorm) ? want.scale : 1;
      const { norm, scale } = clipGradNorm(params, maxNorm);
      expect(await norm.item()).toBe(want.norm); // Infinity, or NaN
      expect(await scale.item()).toBe(wantScale);
      const opt = new AdamW(params, { lr: hyper.lr, betas: [hyper.beta1, hyper.beta2], eps: hyper.eps, weightDecay: hyper.weightDecay });
      opt.step(scale);
      for (const [i, p] of params.entries()) {
        const zero = new Float64Array(inits[i]!.length);
        const stepped = adamwStepRef(inits[i]!, grads[i]!, zero, zero, wantScale, { ...hyper, weightDecay: p.rank >= 2 ? hyper.weightDecay : 0 });
        await expectClose(p, ref([...p.shape], stepped.p), 1e-6, 1e-5, `param ${i}`);
      }
      opt.dispose();
    }));

  // The norm's NaN and Inf are found by the bits of the gradients (then written as bits), not left
  // to squares and sums (WGSL may assume finite floats; the loss scaler's skip rests on them): a
  // NaN or Inf deep in a second slice, a NaN and an Inf in different tensors, and finite gradients
  // whose norm alone is past float32 (torch's float32 norm: Infinity, factor 0).
  it('a NaN or Inf in any slice of any gradient, or a norm past float32: norm as float64 rounded to float32, factor as torch', () =>
    scope(async () => {
      const big = (at: number, v: number) => Float32Array.from(seededValues(70_000, 63, -1, 1), (x, i) => (i === at ? v : x)); // two slices
      const cases: Float32Array[][] = [
        [big(69_999, Infinity)],
        [big(65_536, -Infinity), Float32Array.of(1, 2)],
        [Float32Array.of(1, Infinity), big(69_000, NaN)],
        [big(3, NaN), Float32Array.of(-Infinity)],
        [Float32Array.of(3e38, -3e38)],
        [Float32Array.of(2e38), Float32Array.of(3e38)],
      ];
      for (const grads of cases) {
        const params = grads.map((g) => {
          const p = tensor(new Float32Array(g.length)).requiresGrad_();
          p.grad = tensor(g);
          return p;
        });
        const want = gradNormRef(grads, 1);
        const { norm, scale } = clipGradNorm(params, 1);
        const what = `gradients of ${grads.map((g) => g.length).join(', ')}`;
        expect(await norm.item(), what).toBe(Math.fround(want.norm));
        expect(await scale.item(), what).toBe(Number.isNaN(want.norm) ? NaN : 0);
        expect(await clipGradNorm(params, Infinity).scale.item(), `${what}, no limit`).toBe(1);
      }
    }));
});

describe('learning-rate schedule', () => {
  const s = { lr: 1e-3, minLr: 1e-4, warmupIters: 100, lrDecayIters: 2000 };
  it('warms up linearly, decays by cosine to minLr, then stays there', () => {
    expect(learningRate(0, s)).toBeCloseTo(1e-3 / 101, 12);
    expect(learningRate(99, s)).toBeCloseTo(1e-3 * 100 / 101, 12);
    expect(learningRate(100, s)).toBeCloseTo(1e-3, 12);
    expect(learningRate(1050, s)).toBeCloseTo((1e-3 + 1e-4) / 2, 12); // halfway: cos = 0
    expect(learningRate(2000, s)).toBeCloseTo(1e-4, 12);
    expect(learningRate(5000, s)).toBe(1e-4);
    for (let t = 101; t < 2000; t += 50) expect(learningRate(t, s)).toBeLessThan(learningRate(t - 1, s));
  });

  it('edge schedules follow nanoGPT; a negative step or a missing field is refused, not turned into a negative or NaN rate', () => {
    // nanoGPT's get_lr in float64, as written there
    const nano = (it: number, o: typeof s) => {
      if (it < o.warmupIters) return (o.lr * (it + 1)) / (o.warmupIters + 1);
      if (it > o.lrDecayIters) return o.minLr;
      const ratio = (it - o.warmupIters) / (o.lrDecayIters - o.warmupIters);
      return o.minLr + 0.5 * (1 + Math.cos(Math.PI * ratio)) * (o.lr - o.minLr);
    };
    const noWarmup = { ...s, warmupIters: 0, lrDecayIters: 10 };
    for (const t of [0, 1, 5, 10, 11]) expect(learningRate(t, noWarmup)).toBeCloseTo(nano(t, noWarmup), 15);
    const decayFirst = { ...s, warmupIters: 10, lrDecayIters: 5 }; // warmup, then minLr at once
    for (const t of [0, 9, 10, 11, 50]) expect(learningRate(t, decayFirst)).toBeCloseTo(nano(t, decayFirst), 15);
    expect(() => learningRate(-5, s)).toThrow(/^learningRate: argument 'step' must be an integer >= 0, got number -5$/);
    expect(() => learningRate(NaN, s)).toThrow(/^learningRate: argument 'step' must be an integer >= 0, got number NaN$/);
    expect(() => learningRate(3, { lr: 1 } as never)).toThrow(/^learningRate: argument 'minLr' must be a finite number, got undefined$/);
    expect(() => learningRate(3, { ...s, lr: -1 })).toThrow(/^learningRate: argument 'lr' must be a finite number >= 0, got number -1$/);
    expect(() => learningRate(3, { ...s, warmupIters: 1.5 })).toThrow(/^learningRate: argument 'warmupIters' must be an integer >= 0, got number 1.5$/);
    // the Trainer config's names (nanoGPT's warmup_iters, lr_decay_iters); the old ones are refused naming them, not ignored
    expect(() => learningRate(3, { lr: 1, minLr: 0, warmupSteps: 1, decaySteps: 5 } as never)).toThrow(/^learningRate: unknown option 'warmupSteps'; it is named 'warmupIters' here$/);
    expect(() => learningRate(3, { lr: 1, minLr: 0, warmupIters: 1, decaySteps: 5 } as never)).toThrow(/^learningRate: unknown option 'decaySteps'; it is named 'lrDecayIters' here$/);
    expect(() => learningRate(3, { learningRate: 1, minLr: 0, warmupIters: 1, lrDecayIters: 5 } as never)).toThrow(/^learningRate: unknown option 'learningRate'; it is named 'lr' here$/);
    // a minLr above lr would make the cosine rise; lr 0 with minLr 0 is a schedule of no updates
    expect(() => learningRate(3, { ...s, lr: 1e-4, minLr: 1e-3 })).toThrow(/^learningRate: argument 'minLr' \(0\.001\) must not exceed 'lr' \(0\.0001\): the schedule decays from lr to minLr$/);
    expect(() => learningRate(3, { ...s, lr: 0 })).toThrow(/^learningRate: argument 'minLr' \(0\.0001\) must not exceed 'lr' \(0\)/);
    for (const t of [0, 100, 1050, 5000]) expect(learningRate(t, { ...s, lr: 0, minLr: 0 })).toBe(0);
  });
});

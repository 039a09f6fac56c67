// GradScaler (dynamic loss scaling) through the optimizer, against independent references: a
// power-of-two scale is exact in float32, so scaled, unscaled and clipped steps must land where the
// unscaled steps of plain AdamW land; an overflowed step must change nothing (weights, moments, bias
// correction: the next taken step equals a first step); and the scale must follow PyTorch's
// schedule (halve on overflow, double after growthInterval clean steps), driven by sequences of
// finite and non-finite gradients drawn by fast-check and replayed by a host model of the rules,
// which also says when a watch must be marked (the first step skipped at the minimum scale).
// A float16 loss is scaled in float32 (as PyTorch does a 0-d half loss), its gradient exact; a step
// is refused without its unscale's control, or with a control its unscale did not compute, and
// clipGradNorm refuses loss-scaled gradients (the clip is unscale's maxNorm), and a second unscale
// is refused while the first's gradients wait for their step (several optimizers: one unscale).
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { AdamW } from '../src/optim/adamw.js';
import { clipGradNorm } from '../src/optim/clip.js';
import { GradScaler } from '../src/optim/grad-scaler.js';
import { device, scope, tensor, zeros, type Tensor } from '../src/index.js';
import { MAX_SCALE, MIN_SCALE } from '../src/ops/index.js';
import { profile } from '../src/kernels/profile.js';
import { expectClose, fcParams, seededValues, setupDevice } from './helpers.js';
import { adamwStepRef, ref } from '../src/check/reference/index.js';

beforeAll(setupDevice);

const SHAPES = [[3, 4], [4], [2, 2, 3]];
const HYPER = { lr: 0.05, betas: [0.9, 0.99] as [number, number], eps: 1e-8, weightDecay: 0.1 };

function params(seed: number): Tensor[] {
  return SHAPES.map((s, i) => tensor([...seededValues(s.reduce((a, b) => a * b, 1), seed + i)], s).requiresGrad_());
}

/** Sets each parameter's gradient to `g(i) * factor` (the gradients a loss scaled by factor would give). */
function setGrads(ps: Tensor[], step: number, factor: number, poison = false): void {
  ps.forEach((p, i) => {
    const g = Float32Array.from(seededValues(p.size, 1000 + 10 * step + i), (x) => 3 * x * factor);
    if (poison && i === 1) g[0] = Infinity;
    p.grad = tensor(g, p.shape);
  });
}

const read = (ts: Tensor[]) => Promise.all(ts.map(async (t) => Array.from(await t.toArray())));

describe('GradScaler', () => {
  it('a scaled, unscaled and clipped step equals the unscaled clipped step of plain AdamW', () =>
    scope(async () => {
      const [plain, scaled] = [params(1), params(1)];
      const [optA, optB] = [new AdamW(plain, HYPER), new AdamW(scaled, HYPER)];
      const scaler = new GradScaler({ initScale: 2 ** 12 });
      for (let step = 0; step < 3; step++) {
        setGrads(plain, step, 1);
        const { scale } = clipGradNorm(plain, 0.5); // active: the gradients' norm is larger
        optA.step(scale);
        optA.zeroGrad();
        setGrads(scaled, step, 2 ** 12);
        scaler.unscale(scaled, 0.5);
        optB.step(scaler.control);
        optB.zeroGrad();
      }
      const [a, b] = [await read(plain), await read(scaled)];
      a.forEach((w, i) => w.forEach((x, j) => expect(b[i]![j]).toBeCloseTo(x, 6)));
      expect((await scaler.state()).skippedSteps).toBe(0);
      for (const t of [optA, optB, scaler]) t.dispose();
    }));

  it('an overflowed step changes nothing: the next taken step equals a first step', () =>
    scope(async () => {
      const [plain, scaled] = [params(2), params(2)];
      const [optA, optB] = [new AdamW(plain, HYPER), new AdamW(scaled, HYPER)];
      const scaler = new GradScaler({ initScale: 2 ** 8 });
      const before = [await read(scaled), await read(optB.shards.flatMap((sh) => [sh.m, sh.v]))];
      setGrads(scaled, 0, 2 ** 8, true);
      const norm = scaler.unscale(scaled, Infinity);
      optB.step(scaler.control);
      optB.zeroGrad();
      expect(Number.isFinite(await norm.item())).toBe(false);
      expect([await read(scaled), await read(optB.shards.flatMap((sh) => [sh.m, sh.v]))]).toEqual(before); // bit for bit
      expect(await scaler.state()).toEqual({ scale: 2 ** 7, cleanSteps: 0, skippedSteps: 1 });
      // the first step taken, at the halved scale, is AdamW's step 1 (bias correction of one step)
      setGrads(scaled, 1, 2 ** 7);
      scaler.unscale(scaled, Infinity);
      optB.step(scaler.control);
      setGrads(plain, 1, 1);
      optA.step();
      const [a, b] = [await read(plain), await read(scaled)];
      a.forEach((w, i) => w.forEach((x, j) => expect(b[i]![j]).toBeCloseTo(x, 6)));
      for (const t of [optA, optB, scaler]) t.dispose();
    }));

  // torch's GradScaler.step never calls optimizer.step() for a skipped step: its state_dict counts
  // the steps taken, which plain AdamW fed only the clean steps' gradients counts
  it("AdamW.stateDict({ scaler }) counts steps as torch's does: the skipped ones left out", () =>
    scope(async () => {
      const [plain, scaled] = [params(3), params(3)];
      const [optA, optB] = [new AdamW(plain, HYPER), new AdamW(scaled, HYPER)];
      const scaler = new GradScaler({ initScale: 2 ** 8 });
      for (const [step, overflow] of [false, true, false].entries()) {
        setGrads(scaled, step, (await scaler.state()).scale, overflow);
        scaler.unscale(scaled, Infinity);
        optB.step(scaler.control);
        if (!overflow) (setGrads(plain, step, 1), optA.step());
      }
      const [torchLike, raw, reference] = [await optB.stateDict({ scaler }), await optB.stateDict(), await optA.stateDict()];
      const steps = (d: typeof raw) => [...d.state.values()].map((p) => p.step);
      expect(steps(torchLike)).toEqual(steps(reference)); // 2 each
      expect(steps(raw)).toEqual(steps(reference).map((n) => n + 1)); // the skipped step counted in
      for (const d of [torchLike, raw, reference]) for (const p of d.state.values()) (p.exp_avg.dispose(), p.exp_avg_sq.dispose());
      for (const t of [optA, optB, scaler]) t.dispose();
    }));

  it('follows the schedule: halves on overflow, doubles after growthInterval clean steps, within its bounds; marks a skip at the minimum', async () => {
    const run = fc.asyncProperty(
      fc.array(fc.boolean(), { minLength: 1, maxLength: 12 }),
      fc.integer({ min: 1, max: 4 }),
      fc.constantFrom(2 ** 16, MIN_SCALE * 2, MAX_SCALE / 2),
      (overflows, growthInterval, initScale) =>
        scope(async () => {
          const ps = params(3);
          const scaler = new GradScaler({ initScale, growthInterval });
          const status = zeros([2], 'int32');
          // the host model of PyTorch's rules, and the first step skipped at the minimum scale (0: none)
          let [scale, clean, skipped, stuck] = [initScale, 0, 0, 0];
          for (const [step, overflow] of overflows.entries()) {
            setGrads(ps, step, 1, overflow);
            scaler.unscale(ps, Infinity, { status, flag: 4, step: step + 1 });
            if (overflow && scale === MIN_SCALE) stuck ||= step + 1;
            if (overflow) [scale, clean, skipped] = [Math.max(scale / 2, MIN_SCALE), 0, skipped + 1];
            else if (++clean === growthInterval) [scale, clean] = [Math.min(scale * 2, MAX_SCALE), 0];
          }
          expect(await scaler.state()).toEqual({ scale, cleanSteps: clean, skippedSteps: skipped });
          expect(Array.from(await status.toArray())).toEqual(stuck ? [4, stuck] : [0, 0]);
          scaler.dispose();
        }),
    );
    await fc.assert(run, fcParams(15));
  });

  it('a maxNorm past float32 does not clip (as gradNorm), never a NaN multiplier', () =>
    scope(async () => {
      const ps = params(5);
      const [huge, none] = [new GradScaler({ initScale: 2 }), new GradScaler({ initScale: 2 })];
      setGrads(ps, 0, 2);
      huge.unscale(ps, 1e39);
      none.unscale(ps, Infinity);
      const [a, b] = [await huge.control.toArray(), await none.control.toArray()];
      expect(Array.from(a)).toEqual(Array.from(b));
      expect(a[0]).toBe(0.5); // 1 / scale: unscaled, not clipped
      for (const s of [huge, none]) s.dispose();
    }));

  it('scales a float16 loss in float32, as PyTorch multiplies a 0-d half loss by its 0-d float scale; refuses a non-float loss in one line', (ctx) =>
    scope(async () => {
      if (!profile().f16) ctx.skip();
      const scaler = new GradScaler({ initScale: 2 ** 10 });
      const w = tensor([0.5, -1.5, 3], [3]).requiresGrad_();
      const h = w.astype('float16');
      const loss = h.mul(h).sum(); // float16, 11.5
      const scaled = scaler.scaleLoss(loss);
      expect(scaled.dtype).toBe('float32');
      expect(await scaled.item()).toBe(11.5 * 2 ** 10);
      scaled.backward();
      // d(scale * sum w^2)/dw = 2 w scale, exact in float16 here
      expect(Array.from(await w.grad!.toArray())).toEqual([0.5, -1.5, 3].map((x) => 2 * x * 2 ** 10));
      expect(() => scaler.scaleLoss(3 as never)).toThrow(/^GradScaler.scaleLoss: argument 'loss' must be a Tensor, got number 3$/);
      expect(() => scaler.scaleLoss(tensor(new Int32Array([3]), []))).toThrow(/^GradScaler.scaleLoss: argument 'loss' must be float32 or float16, got int32\[\]$/);
      scaler.dispose();
    }));

  // PyTorch's scaler.step(opt) applies the decision of this step's unscale; here opt.step() without
  // the control stepped with the scaled (here overflowed) gradients, and a control from an earlier
  // unscale repeated that step's decision for gradients it never measured, both without a word.
  // torch's loop clips after unscale_ (clip_grad_norm_ then sees the unscaled gradients); here unscale
  // changes no gradient, so clipGradNorm after it measured the loss-scaled ones (256 times the norm)
  // and its scale replaced the scaler's decision: step(scale) went through, and an overflowed step
  // (clipped by 0: Infinity times 0) made the weights NaN where the scaler had skipped it
  it("AdamW.step refuses unscaled gradients without their control, and a control computed for other gradients; clipGradNorm refuses loss-scaled gradients, and unscale clipped ones: the clip is unscale's maxNorm", () =>
    scope(async () => {
      const p = tensor([1, 2]).requiresGrad_();
      const opt = new AdamW([p], HYPER);
      const scaler = new GradScaler({ initScale: 2 ** 8 });
      p.grad = tensor([Infinity, 1]); // overflowed: to be skipped
      scaler.unscale([p], Infinity);
      expect(() => opt.step()).toThrow(/^AdamW\.step: GradScaler\.unscale measured these loss-scaled gradients \(they are not changed in place\); pass its control: step\(scaler\.control\)$/);
      expect(() => clipGradNorm([p], 1)).toThrow(/^clipGradNorm: params\[0\]'s gradient is loss-scaled \(GradScaler\.unscale measured it and changes no gradient\); clip it with scaler\.unscale\(params, maxNorm\) instead$/);
      opt.step(scaler.control);
      expect(Array.from(await p.toArray())).toEqual([1, 2]); // skipped
      opt.zeroGrad();
      p.grad = tensor([2 ** 7, -(2 ** 7)]); // the next backward's, at scale 2^7
      expect(() => opt.step(scaler.control)).toThrow(/^AdamW\.step: scaler\.control was not computed for these gradients \(it holds an earlier unscale's decision\); call scaler\.unscale\(params, maxNorm\) after each backward, before step$/);
      expect(Array.from(await p.toArray())).toEqual([1, 2]); // the overflowed step's skip was not repeated either
      scaler.unscale([p], Infinity);
      opt.step(scaler.control);
      // AdamW's first step moves each weight by lr against its gradient's sign (no decay for a vector)
      const want = [1, 2].map((w, i) => w - HYPER.lr * [1, -1][i]!);
      Array.from(await p.toArray()).forEach((w, i) => expect(w).toBeCloseTo(want[i]!, 5));
      expect(await scaler.state()).toEqual({ scale: 2 ** 7, cleanSteps: 1, skippedSteps: 1 });
      opt.zeroGrad();
      p.grad = tensor([2 ** 8, 0]);
      clipGradNorm([p], 1);
      expect(() => scaler.unscale([p], 1)).toThrow(/^GradScaler\.unscale: params\[0\]'s gradient was clipped by clipGradNorm, which measured it loss-scaled; pass maxNorm to scaler\.unscale\(params, maxNorm\) instead$/);
      expect(await scaler.state()).toEqual({ scale: 2 ** 7, cleanSteps: 1, skippedSteps: 1 });
      for (const t of [opt, scaler]) t.dispose();
    }));

  // torch's loop with two optimizers unscales each (unscale_(optA); unscale_(optB)), then steps each
  // and updates once; here each unscale is the update, so the second overwrote the decision the
  // first's gradients were to step with: an overflow in A's and none in B's stepped A's Infinity
  // (its weights NaN), where torch skips both
  it("refuses an unscale while the last one's gradients wait for their step; one unscale over both optimizers' parameters skips both", () =>
    scope(async () => {
      const [a, b] = [tensor([1, 2]).requiresGrad_(), tensor([3, 4]).requiresGrad_()];
      const [optA, optB] = [new AdamW([a], HYPER), new AdamW([b], { ...HYPER, lr: 0.01 })];
      const scaler = new GradScaler({ initScale: 2 ** 8 });
      a.grad = tensor([Infinity, 1]); // overflowed: the whole step is skipped
      b.grad = tensor([2 ** 8, 2 ** 8]);
      scaler.unscale([a], Infinity);
      expect(() => scaler.unscale([b], Infinity)).toThrow(/^GradScaler\.unscale: 1 gradient of its last unscale has not been stepped with scaler\.control yet; unscale every optimizer's parameters in one call \(each unscale is the step's update\), then step each optimizer with scaler\.control$/);
      expect(await scaler.state()).toEqual({ scale: 2 ** 7, cleanSteps: 0, skippedSteps: 1 });
      optA.step(scaler.control);
      optA.zeroGrad();
      // the next step's, in one unscale: A's gradients overflow again, and neither optimizer steps
      a.grad = tensor([Infinity, 1]);
      scaler.unscale([a, b], Infinity);
      optA.step(scaler.control);
      optB.step(scaler.control);
      expect(await read([a, b])).toEqual([[1, 2], [3, 4]]);
      expect(await scaler.state()).toEqual({ scale: 2 ** 6, cleanSteps: 0, skippedSteps: 2 });
      for (const t of [optA, optB, scaler]) t.dispose();
    }));

  // torch refuses a second unscale_ before update ('unscale_() has already been called on this
  // optimizer since the last update()'); here each unscale also updates the scale and counts, so a
  // second one over the same gradients counted a clean step twice (growing the scale and unscaling
  // by the grown one: the update of half the gradients) or a skip twice (every later bias correction a step short)
  it('refuses unscaling the same gradients twice, in one line, the scale, counts and decision unchanged', () =>
    scope(async () => {
      const p = tensor([0, 0]).requiresGrad_();
      const opt = new AdamW([p], { lr: 1, betas: [0, 0], eps: 1, weightDecay: 0 });
      const scaler = new GradScaler({ initScale: 4, growthInterval: 1 });
      p.grad = tensor([4, 8]); // [1, 2] scaled by 4
      scaler.unscale([p], Infinity);
      expect(() => scaler.unscale([p], Infinity)).toThrow(/^GradScaler\.unscale: params\[0\]'s gradient was already unscaled; step with scaler\.control \(AdamW\.step\) before unscaling the next backward's gradients$/);
      expect(await scaler.state()).toEqual({ scale: 8, cleanSteps: 0, skippedSteps: 0 });
      opt.step(scaler.control);
      // beta1 = beta2 = 0, eps 1: the update is g / (|g| + 1) of the unscaled g
      expect(Array.from(await p.toArray())).toEqual([-1 / 2, -2 / 3].map(Math.fround));
      for (const t of [opt, scaler]) t.dispose();
    }));

  // a parameter without a gradient at a step the scaler skipped counted that step twice, missed and
  // skipped: its next update was bias-corrected for a step fewer than it had taken (after [g, -, g]
  // its second update moved it as a first does), where torch's skipped optimizer.step counts for no parameter
  it.each(['in one optimizer', 'resumed through readMoments / loadMoments', 'resumed through copyMoments'])(
    'parameters with and without gradients at skipped and taken steps each count the steps they took, as torch does (%s)',
    async (route) => {
      const hyper = { lr: 0.1, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0 };
      const opts = { lr: hyper.lr, betas: [hyper.beta1, hyper.beta2] as [number, number], eps: hyper.eps, weightDecay: 0 };
      const init = [1, -1];
      // per step, per parameter: whether it has a gradient (one at least: AdamW.step refuses a step
      // without any, as torch's scaler.step does); and whether the step overflows (an Infinity in the
      // first gradient: then the scaler skips it)
      const step = fc.record({ has: fc.tuple(fc.boolean(), fc.boolean(), fc.boolean()).filter((has) => has.includes(true)), overflow: fc.boolean() });
      const run = fc.asyncProperty(fc.array(step, { minLength: 2, maxLength: 7 }), fc.nat(6), (plan, resumeAt) =>
        scope(async () => {
          const grads = plan.map(({ has, overflow }, t) => {
            const first = has.indexOf(true);
            return has.map((h, i) => (h ? [0.3 * (t + 1) - i, (i - 1) * 0.2 - 0.1 * t].map((g, j) => (overflow && i === first && j === 0 ? Infinity : g)) : null));
          });
          const ps = [0, 1, 2].map(() => tensor(init).requiresGrad_());
          let opt = new AdamW(ps, opts);
          const scaler = new GradScaler({ initScale: 4 });
          for (const [t, g] of grads.entries()) {
            if (t === resumeAt % plan.length && route !== 'in one optimizer') {
              const next = new AdamW(ps, opts);
              if (route.includes('copyMoments')) next.copyMoments(opt);
              else {
                const { m, v, steps } = await opt.readMoments();
                next.loadMoments(m, v, steps);
              }
              opt.dispose();
              opt = next;
            }
            const scale = await scaler.scale.item();
            ps.forEach((p, i) => (p.grad = g[i] ? tensor(g[i]!.map((x) => x * scale)) : null));
            scaler.unscale(ps, Infinity);
            opt.step(scaler.control);
            opt.zeroGrad();
          }
          // each parameter: float64 AdamW over the gradients of the steps it took (it had one, and the step was not skipped)
          const taken = (i: number) => grads.filter((g) => g[i] && g.every((x) => !x || x.every(Number.isFinite))).map((g) => g[i]!);
          for (const [i, p] of ps.entries()) {
            let s = { p: Float64Array.from(init), m: new Float64Array(2), v: new Float64Array(2) };
            taken(i).forEach((g, t) => (s = adamwStepRef(s.p, g, s.m, s.v, 1, { ...hyper, step: t + 1 })));
            await expectClose(p, ref([2], s.p), 1e-6, 1e-5, `param ${i}`);
          }
          for (const x of [opt, scaler]) x.dispose();
        }),
      );
      await fc.assert(run, fcParams(20));
    },
  );

  it('saves and loads its state', () =>
    scope(async () => {
      const scaler = new GradScaler();
      const state = { scale: 2 ** 9, cleanSteps: 3, skippedSteps: 5 };
      scaler.load(state);
      expect(await scaler.state()).toEqual(state);
      // a state no scaler can reach is refused, the scaler left as it was: a scale of 0 would
      // unscale by 1/0 (NaN weights), a fractional count would never match the growth interval
      const bad: [Record<string, unknown>, RegExp][] = [
        [{ ...state, scale: 0 }, /^GradScaler.load: state.scale must be a number in \[2\^-24, 2\^24\], got 0$/],
        [{ ...state, scale: NaN }, /^GradScaler.load: state.scale must be .*, got NaN$/],
        [{ ...state, cleanSteps: 1.5 }, /^GradScaler.load: state.cleanSteps must be an integer in \[0, 2\^24\], got 1.5$/],
        [{ ...state, skippedSteps: -1 }, /^GradScaler.load: state.skippedSteps must be an integer in \[0, 2\^24\], got -1$/],
        // the counters are float32 on the GPU: 2^24 + 1 would come back as 2^24
        [{ ...state, skippedSteps: 2 ** 24 + 1 }, /^GradScaler.load: state.skippedSteps must be an integer in \[0, 2\^24\], got 16777217$/],
        [{ ...state, cleanSteps: 2 ** 24 + 1 }, /^GradScaler.load: state.cleanSteps must be an integer in \[0, 2\^24\], got 16777217$/],
      ];
      for (const [s, message] of bad) expect(() => scaler.load(s as never)).toThrow(message);
      expect(() => scaler.load(null as never)).toThrow(/^GradScaler.load: state must be an object, got null$/);
      expect(await scaler.state()).toEqual(state);
      scaler.dispose();
    }));

  // each method failed under an op it calls ('mul: tensor float32[] was used after dispose()',
  // 'gradScalerUpdate', 'toArray', 'assign'), and load() left its two staged tensors allocated
  it('a disposed scaler is refused by each method, naming it, before anything is allocated', () =>
    scope(async () => {
      const scaler = new GradScaler();
      scaler.dispose();
      const [p] = params(7);
      p!.grad = zeros([...p!.shape]);
      const gone = (method: string) => new RegExp(`^GradScaler\\.${method}: the scaler was disposed \\(dispose\\(\\) frees its scale\\); make a new GradScaler$`);
      expect(() => scaler.scaleLoss(tensor(1))).toThrow(gone('scaleLoss'));
      expect(() => scaler.unscale([p!], 1)).toThrow(gone('unscale'));
      await expect(scaler.state()).rejects.toThrow(gone('state'));
      const live = device().memory().liveBytes;
      expect(() => scaler.load({ scale: 2, cleanSteps: 0, skippedSteps: 0 })).toThrow(gone('load'));
      expect(device().memory().liveBytes).toBe(live);
    }));

  it('refuses settings out of range, naming them', () => {
    expect(() => new GradScaler({ initScale: 0 })).toThrow(/^GradScaler: initScale must be in \[2\^-24, 2\^24\], got 0$/);
    expect(() => new GradScaler({ initScale: 2 ** 30 })).toThrow(/^GradScaler: initScale must be in \[2\^-24, 2\^24\], got 1073741824$/);
    // refused when made, not at the first unscale under the kernel's name
    expect(() => new GradScaler({ backoffFactor: 1 })).toThrow(/^GradScaler: backoffFactor must be a number in \(0, 1\), got 1$/);
    expect(() => new GradScaler({ growthFactor: 0.5 })).toThrow(/^GradScaler: growthFactor must be a finite number >= 1 within float32's range \(< 3\.4e38\), got 0.5$/);
    // a float32 uniform: it was taken, then refused at the first unscale under the kernel's name
    expect(() => new GradScaler({ growthFactor: 1e39 })).toThrow(/^GradScaler: growthFactor must be a finite number >= 1 within float32's range \(< 3\.4e38\), got 1e\+39$/);
    expect(() => new GradScaler({ growthInterval: NaN })).toThrow(/^GradScaler: growthInterval must be an integer in \[1, 2\^24\], got NaN$/);
    // strings are refused, shown as strings (a uniform would coerce '0.5'; 'got 10' would read as fine)
    expect(() => new GradScaler({ backoffFactor: '0.5' as never })).toThrow(/^GradScaler: backoffFactor must be a number in \(0, 1\), got string '0.5'$/);
    expect(() => new GradScaler({ initScale: '65536' as never })).toThrow(/^GradScaler: initScale must be in \[2\^-24, 2\^24\], got string '65536'$/);
    expect(() => new GradScaler({ growthInterval: '10' as never })).toThrow(/^GradScaler: growthInterval must be an integer in \[1, 2\^24\], got string '10'$/);
    // PyTorch's spelling was ignored: the scale started at 2^16
    expect(() => new GradScaler({ init_scale: 1024 } as never)).toThrow(/^GradScaler: unknown option 'init_scale' \(the options are initScale, growthFactor, backoffFactor, growthInterval\)$/);
    const fine = new GradScaler();
    const status = zeros([2], 'int32');
    expect(() => scope(() => fine.unscale(params(4), Infinity, { status, flag: 0, step: 1 }))).toThrow(/^gradScalerUpdate: mark must be \{ flag, step \} with integers in .*, got \{"flag":0,"step":1\}$/);
    status.dispose();
    fine.dispose();
  });
});

// AdamW.stateDict / loadStateDict: torch.optim.AdamW's state_dict() layout with nanoGPT's two
// groups. The oracle is PyTorch's own state: test/fixtures/torch/make_continue_fixture.py saved a
// tiny nanoGPT's AdamW state_dict() after 3 steps (nanogpt-continue-ckpt.pt, its 'optimizer') and the
// weights torch reaches in 3 more steps on fixed batches (nanogpt-continue.json). Read from the
// pickle into this layout as it is (torch's parameter numbers, tensors, 0-d steps as numbers),
// loadStateDict takes it and ours reaches torch's weights; stateDict() gives back torch's numbering,
// steps, hyperparameters and moments. Then a round trip between two of ours, and the errors.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { modelFromCheckpoint } from '../src/gpt/checkpoint.js';
import { nanoGptCheckpoint, openNanoGptSource } from '../src/gpt/nanogpt.js';
import { CharTokenizer } from '../src/gpt/tokenizer/index.js';
import { AdamW, scope, tensor, type AdamWParamStateInput, type AdamWStateDictInput, type Tensor } from '../src/index.js';
import type { PickleValue } from '../src/io/pickle.js';
import { openTorchFile, TorchTensor } from '../src/io/torch-file.js';
import { bytesSource } from '../src/io/safetensors-source.js';
import { setupDevice } from './helpers.js';

beforeAll(setupDevice);

const FIXTURES = join(import.meta.dirname, 'fixtures/torch');
const CKPT = 'nanogpt-continue-ckpt.pt';
const CHARS = "\n !',.:;?abcdehilnot"; // the fixture run's vocabulary (see nanogpt-continue.test.ts)
const torchRun: { lrs: number[]; batches: { x: number[]; y: number[]; shape: [number, number] }[]; weights: Record<string, number[]> } = JSON.parse(
  readFileSync(join(FIXTURES, 'nanogpt-continue.json'), 'utf8'),
);
type Dict = Map<PickleValue, PickleValue>;

/** The checkpoint's optimizer.state_dict() as JS: its tensors uploaded (with torch's values, for comparing), its 0-d steps read. */
async function torchState(): Promise<{ sd: AdamWStateDictInput; values: Map<number, { exp_avg: Float32Array; exp_avg_sq: Float32Array; step: number }> }> {
  const file = await openTorchFile(bytesSource(readFileSync(join(FIXTURES, CKPT))), CKPT);
  const saved = (file.root as Dict).get('optimizer') as Dict;
  const state = new Map<number, AdamWParamStateInput>();
  const values = new Map<number, { exp_avg: Float32Array; exp_avg_sq: Float32Array; step: number }>();
  for (const [id, entry] of saved.get('state') as Dict) {
    const read = async (key: string) => (await file.readTensor((entry as Dict).get(key) as TorchTensor)).data as Float32Array;
    const [m, v, step] = [await read('exp_avg'), await read('exp_avg_sq'), (await read('step'))[0]!];
    const shape = ((entry as Dict).get('exp_avg') as TorchTensor).shape;
    state.set(id as number, { exp_avg: tensor(m, shape), exp_avg_sq: tensor(v, shape), step });
    values.set(id as number, { exp_avg: m, exp_avg_sq: v, step });
  }
  const groups = (saved.get('param_groups') as Dict[]).map((g) => Object.fromEntries(g) as AdamWStateDictInput['param_groups'][number]);
  return { sd: { state, param_groups: groups }, values };
}

/** The fixture's model, its parameters in nanoGPT's named_parameters() order (the JSON's). */
async function fixtureModel() {
  const file = await openNanoGptSource(bytesSource(readFileSync(join(FIXTURES, CKPT))), CKPT);
  const { ckpt } = nanoGptCheckpoint(file, await file.weights.readTensors(), new CharTokenizer([...CHARS]), CKPT);
  const { model } = modelFromCheckpoint(ckpt, { dropout: 0 });
  const named = new Map(model.namedParameters());
  return { model, params: Object.keys(torchRun.weights).map((name) => named.get(name)!) };
}

describe("AdamW's state dict against torch.optim.AdamW's", () => {
  it("loadStateDict takes torch's state_dict() (nanoGPT's groups): 3 more steps reach torch's weights within 1e-6; stateDict() gives torch's back", () =>
    scope(async () => {
      const { sd, values } = await torchState();
      const { model, params } = await fixtureModel();
      const opt = new AdamW(params, { lr: 1, betas: [0.5, 0.5], eps: 1e-3, weightDecay: 0.7 }); // replaced by the state's
      opt.loadStateDict(sd);
      expect({ lr: opt.lr, betas: opt.betas, eps: opt.eps, weightDecay: opt.weightDecay }).toEqual({ lr: sd.param_groups[0]!.lr, betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.1 });
      expect(opt.lr).toBeCloseTo(1e-2, 15); // get_lr(2), as torch computed it

      const back = await opt.stateDict();
      // every key torch 1.13 writes (foreach None, capturable False too), with its values, in its order (JSON alike)
      expect(back.param_groups).toEqual(sd.param_groups);
      expect(Object.keys(back.param_groups[1]!)).toEqual(['weight_decay', 'lr', 'betas', 'eps', 'amsgrad', 'foreach', 'maximize', 'capturable', 'params']);
      expect(back.param_groups.map((g) => Object.keys(g))).toEqual(sd.param_groups.map((g) => Object.keys(g)));
      expect([...back.state.keys()].sort((a, b) => a - b)).toEqual([...values.keys()].sort((a, b) => a - b));
      for (const [id, want] of values) {
        const got = back.state.get(id)!;
        expect(got.step, `state[${id}].step`).toBe(want.step);
        expect(await got.exp_avg.toArray(), `state[${id}].exp_avg`).toEqual(want.exp_avg);
        expect(await got.exp_avg_sq.toArray(), `state[${id}].exp_avg_sq`).toEqual(want.exp_avg_sq);
      }

      for (const [k, { x, y, shape }] of torchRun.batches.entries()) {
        opt.lr = torchRun.lrs[k]!;
        scope(() => model.forward(tensor(Int32Array.from(x), shape), { targets: tensor(Int32Array.from(y), shape) }).loss.backward());
        opt.step();
        opt.zeroGrad();
      }
      let worst = 0;
      for (const [i, name] of Object.keys(torchRun.weights).entries()) {
        const ours = await params[i]!.toArray();
        const want = torchRun.weights[name]!;
        const scale = Math.max(...want.map(Math.abs));
        worst = Math.max(worst, ...want.map((w, j) => Math.abs(ours[j]! - w) / scale));
      }
      expect(worst).toBeLessThan(1e-6);
      opt.dispose();
      model.dispose();
    }));
});

describe('AdamW.stateDict / loadStateDict', () => {
  /** A matrix, a vector and a second matrix, with fixed values; a copy of each as a second set. */
  const parameters = () => [tensor(Float32Array.from({ length: 6 }, (_, i) => i / 3 - 1), [2, 3]), tensor([0.5, -0.25, 2], [3]), tensor([1, 2, 3, 4], [4, 1])].map((p) => p.requiresGrad_());
  const grads = (step: number, shapes: Tensor[]) => shapes.map((p) => tensor(Float32Array.from({ length: p.size }, (_, i) => Math.sin(step * 7 + i)), [...p.shape]));

  it("round-trips: another AdamW loaded from one's state steps to the same values; torch's numbering (rank >= 2 first); a parameter that never stepped has no entry", () =>
    scope(async () => {
      const [a, b] = [parameters(), parameters()];
      const optA = new AdamW(a, { lr: 0.05, betas: [0.8, 0.9], eps: 1e-6, weightDecay: 0.2 });
      for (let step = 1; step <= 3; step++) {
        // the vector misses step 2's gradient; the second matrix never has one
        grads(step, a).forEach((g, i) => (a[i]!.grad = i === 2 || (i === 1 && step === 2) ? null : g));
        optA.step();
      }
      const sd = await optA.stateDict();
      // numbers: the matrices (0, 1), then the vector (2); the second matrix (1) never stepped
      expect(sd.param_groups.map((g) => [g.params, g.weight_decay])).toEqual([[[0, 1], 0.2], [[2], 0]]);
      expect(sd.param_groups[0]).toMatchObject({ lr: 0.05, betas: [0.8, 0.9], eps: 1e-6, amsgrad: false, maximize: false });
      expect([...sd.state.entries()].map(([id, s]) => [id, s.step, s.exp_avg.shape])).toEqual([[0, 3, [2, 3]], [2, 2, [3]]]);
      const moments = await optA.readMoments();
      expect(await sd.state.get(2)!.exp_avg_sq.toArray()).toEqual(moments.v[1]);

      for (const [i, p] of b.entries()) p.assign(a[i]!.detach());
      const optB = new AdamW(b);
      optB.loadStateDict(sd);
      expect([optB.lr, optB.betas, optB.eps, optB.weightDecay]).toEqual([0.05, [0.8, 0.9], 1e-6, 0.2]);
      for (const [params, opt] of [[a, optA], [b, optB]] as const) {
        grads(4, params).forEach((g, i) => (params[i]!.grad = g));
        opt.step();
      }
      for (const [i, p] of a.entries()) expect(await b[i]!.toArray(), `parameter ${i}`).toEqual(await p.toArray());
      expect((await optB.readMoments()).steps).toEqual([4, 3, 1]);
      optA.dispose();
      optB.dispose();
    }));

  it("equals torch.optim.AdamW's state_dict() where gradients were missing (adamw-state.json): per-parameter steps and moments; torch's state loaded as JSON steps to torch's weights; a refused load keeps the moments", () =>
    scope(async () => {
      type Entry = { step: number; exp_avg: number[]; exp_avg_sq: number[] };
      const want: { state: Record<string, Entry>; param_groups: AdamWStateDictInput['param_groups']; weights3: number[][]; weights5: number[][] } =
        JSON.parse(readFileSync(join(FIXTURES, 'adamw-state.json'), 'utf8'));
      const near = (got: ArrayLike<number>, ref: number[], what: string) =>
        expect(Math.max(0, ...ref.map((r, i) => Math.abs(got[i]! - r) / Math.max(Math.abs(r), 1e-3))), what).toBeLessThan(1e-6);
      const a = parameters();
      const opt = new AdamW(a, { lr: 0.05, betas: [0.8, 0.9], eps: 1e-6, weightDecay: 0.2 });
      for (let step = 1; step <= 3; step++) {
        grads(step, a).forEach((g, i) => (a[i]!.grad = i === 2 || (i === 1 && step === 2) ? null : g));
        opt.step();
      }
      const sd = await opt.stateDict();
      expect(sd.param_groups).toEqual(want.param_groups);
      expect([...sd.state.keys()].map(String)).toEqual(Object.keys(want.state));
      for (const [id, s] of sd.state) {
        const ref = want.state[String(id)]!;
        expect(s.step, `state[${id}].step`).toBe(ref.step);
        near(await s.exp_avg.toArray(), ref.exp_avg, `state[${id}].exp_avg`);
        near(await s.exp_avg_sq.toArray(), ref.exp_avg_sq, `state[${id}].exp_avg_sq`);
      }
      for (const [i, p] of a.entries()) near(await p.toArray(), want.weights3[i]!, `parameter ${i} after 3 steps`);

      // a refused load (a moment of the wrong size) leaves the moments and hyperparameters as they were
      const before = await opt.readMoments();
      const bad = { state: { ...want.state, 2: { ...want.state['2']!, exp_avg: [1, 2] } }, param_groups: want.param_groups.map((g) => ({ ...g, lr: 9 })) };
      expect(() => opt.loadStateDict(bad)).toThrow(/^AdamW\.loadStateDict: parameter 1 float32\[3\] got 2 values$/);
      expect([opt.lr, await opt.readMoments()]).toEqual([0.05, before]);

      const b = parameters();
      b.forEach((p, i) => p.assign(tensor(Float32Array.from(want.weights3[i]!), [...p.shape])));
      const loaded = new AdamW(b, { lr: 1 });
      loaded.loadStateDict({ state: want.state, param_groups: want.param_groups });
      for (let step = 4; step <= 5; step++) {
        grads(step, b).forEach((g, i) => (b[i]!.grad = g));
        loaded.step();
      }
      for (const [i, p] of b.entries()) near(await p.toArray(), want.weights5[i]!, `parameter ${i} after steps 4, 5 from torch's state`);
      opt.dispose();
      loaded.dispose();
    }));

  it('refuses, in one line naming what and where, a state not of these parameters or not of nanoGPT\'s groups; a refused load changes nothing', () =>
    scope(async () => {
      const opt = new AdamW(parameters(), { lr: 0.01 });
      const sd = await opt.stateDict();
      const groups = sd.param_groups;
      const load = (change: Partial<AdamWStateDictInput>) => () => opt.loadStateDict({ ...sd, ...change });
      const group = (k: number, patch: object) => groups.map((g, j) => (j === k ? { ...g, ...patch } : g));
      expect(() => opt.loadStateDict(null as never)).toThrow(/^AdamW\.loadStateDict: argument 'stateDict' must be \{ state, param_groups \} as stateDict\(\) returns it, got null$/);
      expect(load({ param_groups: [groups[0]!] })).toThrow(/^AdamW\.loadStateDict: expected 2 param_groups \(rank >= 2 decayed, the rest not: nanoGPT's, as ours decays\), got 1$/);
      expect(load({ param_groups: group(0, { params: [0] }) })).toThrow(/^AdamW\.loadStateDict: param_groups\[0\]\.params must be 2 distinct parameter numbers \(this AdamW has 2 parameters of rank >= 2\), got array \[0\]$/);
      expect(load({ param_groups: group(1, { params: [1] }) })).toThrow(/^AdamW\.loadStateDict: param_groups\[0\]\.params and param_groups\[1\]\.params share a parameter number/);
      expect(load({ param_groups: group(1, { weight_decay: 0.1 }) })).toThrow(/^AdamW\.loadStateDict: param_groups\[1\]\.weight_decay is 0\.1: it would decay biases and LayerNorm gains/);
      expect(load({ param_groups: group(1, { lr: 0.5 }) })).toThrow(/^AdamW\.loadStateDict: param_groups differ in lr \(number 0\.01 and number 0\.5\); ours takes one for all parameters$/);
      expect(load({ param_groups: group(0, { amsgrad: true }) })).toThrow(/^AdamW\.loadStateDict: param_groups\[0\]\.amsgrad is true, an AdamW variant ours does not compute$/);
      expect(load({ param_groups: group(0, { betas: [0.9, 1] }) })).toThrow(/^AdamW\.loadStateDict: param_groups\[0\]\.betas must be two numbers in \[0, 1\), got array \[0\.9, 1\]$/);
      expect(load({ param_groups: group(0, { lr: NaN }) })).toThrow(/^AdamW\.loadStateDict: param_groups\[0\]\.lr must be a finite number >= 0, got number NaN$/);
      // float32 uniforms of the kernel: past float32's range each was taken, then refused at the next step as a bug of the kernel's ('adamw: uniform 'eps' must be a finite float32')
      expect(load({ param_groups: groups.map((g) => ({ ...g, eps: 1e39 })) })).toThrow(/^AdamW\.loadStateDict: param_groups\[0\]\.eps must be a finite number >= 0 within float32's range \(< 3\.4e38: a kernel takes it as float32\), got number 1e\+39$/);
      expect(load({ param_groups: group(0, { weight_decay: 4e38 }) })).toThrow(/^AdamW\.loadStateDict: param_groups\[0\]\.weight_decay must be a finite number >= 0 within float32's range/);
      const entry = { exp_avg: new Float32Array(6), exp_avg_sq: new Float32Array(6), step: 1 };
      expect(load({ state: new Map([[0, { ...entry, step: tensor([1]) as never }]]) })).toThrow(/^AdamW\.loadStateDict: state\[0\] \(param_groups\[0\]\.params\[0\], parameter 0 float32\[2, 3\]\)\.step must be an integer >= 0 \(a number: read torch's 0-d tensor first\), got a float32\[1\] tensor$/);
      expect(load({ state: new Map([[1, { ...entry, exp_avg: tensor(new Float32Array(4), [2, 2]) }]]) })).toThrow(/^AdamW\.loadStateDict: state\[1\] \(param_groups\[0\]\.params\[1\], parameter 2 float32\[4, 1\]\)\.exp_avg must have the parameter's shape, got float32\[2, 2\]$/);
      expect(load({ state: { 2: { ...entry } } })).toThrow(/^AdamW\.loadStateDict: parameter 1 float32\[3\] got 6 values$/);
      expect([opt.lr, opt.stepCount, (await opt.readMoments()).steps]).toEqual([0.01, 0, [0, 0, 0]]);
      opt.dispose();
      await expect(opt.stateDict()).rejects.toThrow(/^AdamW\.stateDict: the optimizer was disposed/);
      expect(() => opt.loadStateDict(sd)).toThrow(/^AdamW\.loadStateDict: the optimizer was disposed/);
    }));
});

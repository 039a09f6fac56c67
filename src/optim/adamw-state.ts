// AdamW's state as torch.optim.AdamW's state_dict() lays it out, with nanoGPT's two groups (ours
// decays the parameters of rank >= 2 and no others: configure_optimizers' groups). Parameters are
// numbered across the groups in order, as torch numbers them: group 0's (rank >= 2, in the order
// given to AdamW) from 0, then group 1's. `state` holds an entry for each parameter that has taken
// a step (torch makes one at a parameter's first step with a gradient).
import { describeValue } from '../tensor/check.js';
import { Tensor } from '../ops/index.js';

/** One parameter's moment as loadMoments and loadStateDict take it: values on the host, or a float32 tensor of as many. */
export type Moment = ArrayLike<number> | Tensor;

/** One parameter's state: its moments (float32, the parameter's shape) and the steps it took (torch 1.13's is a 0-d tensor). */
export interface AdamWParamState {
  exp_avg: Tensor;
  exp_avg_sq: Tensor;
  step: number;
}

/** A group's hyperparameters and the numbers of its parameters. */
export interface AdamWParamGroup {
  lr: number;
  betas: [number, number];
  eps: number;
  weight_decay: number;
  /** AdamW variants ours does not compute: false (a state with either true is refused). */
  amsgrad: boolean;
  maximize: boolean;
  /** How torch computes the step (None: its choice; CUDA graphs), not what: written as torch 1.13 writes them, not read. */
  foreach: boolean | null;
  capturable: boolean;
  params: number[];
}

/** torch.optim.AdamW's state_dict(): per parameter number its state, and nanoGPT's two groups. */
export interface AdamWStateDict {
  state: Map<number, AdamWParamState>;
  param_groups: AdamWParamGroup[];
}

/** What loadStateDict takes: moments as tensors or host values, `state` a Map or an object keyed by the numbers. */
export interface AdamWStateDictInput {
  state: Map<number, AdamWParamStateInput> | Record<string, AdamWParamStateInput>;
  param_groups: readonly Partial<AdamWParamGroup>[];
}
/** One parameter's state as loadStateDict takes it: moments as tensors (of its shape) or host values, its steps a number. */
export interface AdamWParamStateInput {
  exp_avg: Moment;
  exp_avg_sq: Moment;
  step: number;
}

/** The indices (into the parameters given to AdamW) of each group, in torch's numbering order: rank >= 2, then the rest. */
export function groupMembers(params: readonly Tensor[]): [number[], number[]] {
  const all = [...params.keys()];
  return [all.filter((i) => params[i]!.rank >= 2), all.filter((i) => params[i]!.rank < 2)];
}

/** The hyperparameters loaded, and per parameter (in AdamW's order) its moments and steps (zeros and 0 where `state` has none). */
export interface LoadedState {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  m: Moment[];
  v: Moment[];
  steps: number[];
}

const OP = 'AdamW.loadStateDict';

/** `sd` checked against `params` (AdamW's) and read into what loadMoments and the hyperparameters take; every problem a one-line error. */
export function readStateDict(sd: AdamWStateDictInput, params: readonly Tensor[]): LoadedState {
  if (sd === null || typeof sd !== 'object' || !Array.isArray(sd.param_groups) || sd.state === null || typeof sd.state !== 'object') {
    throw new TypeError(`${OP}: argument 'stateDict' must be { state, param_groups } as stateDict() returns it, got ${describeValue(sd)}`);
  }
  const members = groupMembers(params);
  if (sd.param_groups.length !== 2) {
    throw new Error(`${OP}: expected 2 param_groups (rank >= 2 decayed, the rest not: nanoGPT's, as ours decays), got ${sd.param_groups.length}`);
  }
  const [decayed, rest] = sd.param_groups.map((g, k) => checkGroup(g, k, members[k]!.length));
  const ids = [...decayed!.params, ...rest!.params];
  if (new Set(ids).size !== ids.length) throw new Error(`${OP}: param_groups[0].params and param_groups[1].params share a parameter number, got ${describeValue(decayed!.params)} and ${describeValue(rest!.params)}`);
  if (rest!.weight_decay !== 0) throw new Error(`${OP}: param_groups[1].weight_decay is ${rest!.weight_decay}: it would decay biases and LayerNorm gains, which ours never decays (nanoGPT's groups: 0)`);
  for (const key of ['lr', 'eps', 'betas'] as const) {
    if (String(decayed![key]) !== String(rest![key])) throw new Error(`${OP}: param_groups differ in ${key} (${describeValue(decayed![key])} and ${describeValue(rest![key])}); ours takes one for all parameters`);
  }
  const state = sd.state instanceof Map ? sd.state : new Map(Object.entries(sd.state).map(([k, s]) => [Number(k), s]));
  const out: LoadedState = { lr: decayed!.lr, betas: decayed!.betas, eps: decayed!.eps, weightDecay: decayed!.weight_decay, m: [], v: [], steps: [] };
  [decayed!, rest!].forEach((group, k) => {
    group.params.forEach((id, j) => {
      const i = members[k]![j]!;
      const p = params[i]!;
      const entry = state.get(id);
      if (entry === undefined) {
        [out.m[i], out.v[i], out.steps[i]] = [new Float32Array(p.size), new Float32Array(p.size), 0];
        return;
      }
      const at = `state[${id}] (param_groups[${k}].params[${j}], parameter ${i} ${p.describe()})`;
      if (entry === null || typeof entry !== 'object') throw new TypeError(`${OP}: ${at} must be { exp_avg, exp_avg_sq, step }, got ${describeValue(entry)}`);
      for (const key of ['exp_avg', 'exp_avg_sq'] as const) {
        const moment = entry[key];
        const shapeOk = !(moment instanceof Tensor) || moment.shape.join() === p.shape.join();
        if (!shapeOk) throw new Error(`${OP}: ${at}.${key} must have the parameter's shape, got ${moment.describe()}`);
      }
      if (!Number.isSafeInteger(entry.step) || entry.step < 0) throw new RangeError(`${OP}: ${at}.step must be an integer >= 0 (a number: read torch's 0-d tensor first), got ${describeValue(entry.step)}`);
      [out.m[i], out.v[i], out.steps[i]] = [entry.exp_avg, entry.exp_avg_sq, entry.step];
    });
  });
  return out;
}

/** What float32's range is, for messages (a quoted string: no huge literal in kernel-side code, test/finite-math.test.ts). */
const FLOAT32_RANGE = '(< 3.4e38: a kernel takes it as float32)';

/** Group `k`'s settings checked, and its params a list of `count` distinct numbers. */
function checkGroup(group: Partial<AdamWParamGroup>, k: number, count: number): AdamWParamGroup {
  const at = `${OP}: param_groups[${k}]`;
  if (group === null || typeof group !== 'object') throw new TypeError(`${at} must be an object of lr, betas, eps, weight_decay and params, got ${describeValue(group)}`);
  const variant = (['amsgrad', 'maximize'] as const).find((key) => group[key] === true);
  if (variant) throw new Error(`${at}.${variant} is true, an AdamW variant ours does not compute`);
  const number = (key: 'lr' | 'eps' | 'weight_decay') => {
    const value = group[key];
    if (typeof value !== 'number' || !(Number.isFinite(value) && value >= 0)) throw new RangeError(`${at}.${key} must be a finite number >= 0, got ${describeValue(value)}`);
    // the kernel takes it as a float32 uniform: past float32's range the first step would fail as the kernel's bug
    if (!Number.isFinite(Math.fround(value))) throw new RangeError(`${at}.${key} must be a finite number >= 0 within float32's range ${FLOAT32_RANGE}, got ${describeValue(value)}`);
    return value;
  };
  const betas = group.betas;
  if (!Array.isArray(betas) || betas.length !== 2 || betas.some((b) => typeof b !== 'number' || !(b >= 0 && b < 1))) {
    throw new RangeError(`${at}.betas must be two numbers in [0, 1), got ${describeValue(betas)}`);
  }
  const params = group.params;
  const distinct = Array.isArray(params) && params.every((id) => Number.isSafeInteger(id)) && new Set(params).size === params.length;
  if (!distinct || params.length !== count) {
    throw new Error(`${at}.params must be ${count} distinct parameter numbers (this AdamW has ${count} parameters ${k ? 'of rank < 2' : 'of rank >= 2'}), got ${describeValue(params)}`);
  }
  return { lr: number('lr'), betas: [betas[0]!, betas[1]!], eps: number('eps'), weight_decay: number('weight_decay'), amsgrad: false, maximize: false, foreach: null, capturable: false, params };
}

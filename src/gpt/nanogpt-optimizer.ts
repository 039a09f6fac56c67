// nanoGPT's AdamW state (ckpt.pt's 'optimizer': torch.optim.AdamW's state_dict()) as ours, to
// continue its run: its configure_optimizers makes param_groups[0] of every parameter of dim >= 2,
// decayed, and param_groups[1] of the rest, not decayed (as ours decays), both in
// named_parameters() order, and the state is keyed by the index across both groups. The tied
// lm_head is the token embedding's parameter, so it appears once. Platform free.
import type { PickleValue } from '../io/pickle.js';
import { describe, TorchTensor, type TorchFile } from '../io/torch-file.js';
import { NON_NEGATIVE, NON_NEGATIVE_INT, POSITIVE, rangeProblem, show, UNIT_INTERVAL } from '../io/value-ranges.js';

/** nanoGPT's run where its checkpoint left it: the iteration, AdamW's settings, and its state per parameter by our name. */
export interface NanoGptOptimizer {
  /** iter_num: the iteration train.py would run next (the lr schedule's step). */
  iterNum: number;
  /** The groups' lr (the schedule's at the last step taken), betas and eps, and the decayed group's weight_decay. */
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  /** exp_avg, exp_avg_sq and step of each parameter (zeros and 0 for one that never stepped). */
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
  steps: Map<string, number>;
}

/** A parameter of nanoGPT's model: our name, its shape as saved, and the rows kept of it (the token embedding's, cut to the tokenizer's). */
export interface NanoGptParameter {
  name: string;
  shape: readonly number[];
  kept: number;
}

/**
 * The AdamW state of the checkpoint `root` (its dict, of `file`) for `params` (in named_parameters()
 * order); `source` names it in errors. A checkpoint without it, or with a state that is not
 * nanoGPT's grouping of these parameters, is refused in one line.
 */
export async function readNanoGptOptimizer(file: TorchFile, root: Map<PickleValue, PickleValue>, params: readonly NanoGptParameter[], source: string): Promise<NanoGptOptimizer> {
  const at = `${source}['optimizer']`;
  const saved = root.get('optimizer');
  if (!(saved instanceof Map && saved.get('state') instanceof Map && Array.isArray(saved.get('param_groups')))) {
    throw new Error(`${at}: no AdamW state (got ${saved === undefined ? 'no such key' : describe(saved)}), so the run cannot be continued; only its weights can be taken, from step 0`);
  }
  const iterNum = root.get('iter_num');
  const iterProblem = rangeProblem(`${source}['iter_num']`, iterNum, NON_NEGATIVE_INT);
  if (iterProblem) throw new Error(iterProblem);
  const groups = saved.get('param_groups') as PickleValue[];
  const order = [params.filter((p) => p.shape.length >= 2), params.filter((p) => p.shape.length < 2)];
  if (groups.length !== 2 || !groups.every((g) => g instanceof Map && Array.isArray(g.get('params')))) {
    throw new Error(`${at}: expected nanoGPT's 2 param_groups (dim >= 2 decayed, the rest not), got ${describe(groups)}`);
  }
  const [decayed, rest] = groups as Map<PickleValue, PickleValue>[];
  const settings = groupSettings(decayed!, `${at}['param_groups'][0]`);
  const other = groupSettings(rest!, `${at}['param_groups'][1]`);
  if (other.weightDecay !== 0) throw new Error(`${at}['param_groups'][1]: weight_decay ${other.weightDecay} decays biases and LayerNorm gains, which ours never decays (nanoGPT's groups: 0.0)`);
  const differs = (['lr', 'eps'] as const).find((k) => other[k] !== settings[k]) ?? (other.betas.some((b, i) => b !== settings.betas[i]) ? 'betas' : undefined);
  if (differs) throw new Error(`${at}: param_groups differ in ${differs} (${show(settings[differs])} and ${show(other[differs])}); ours takes one for all parameters`);
  const state = saved.get('state') as Map<PickleValue, PickleValue>;
  const out: NanoGptOptimizer = { iterNum: iterNum as number, ...settings, m: new Map(), v: new Map(), steps: new Map() };
  for (const [g, group] of [decayed!, rest!].entries()) {
    const indices = group.get('params') as PickleValue[];
    const want = order[g]!;
    if (indices.length !== want.length) {
      throw new Error(`${at}['param_groups'][${g}]: ${indices.length} parameters, but the model has ${want.length} ${g ? 'of dim < 2' : 'of dim >= 2'} (nanoGPT's configure_optimizers groups them so)`);
    }
    for (const [k, index] of indices.entries()) await readParameterState(file, state.get(index), want[k]!, out, `${at}['state'][${show(index)}]`);
  }
  return out;
}

/** One group's lr, betas, eps and weight_decay, checked; AdamW variants ours does not compute are refused. */
function groupSettings(group: Map<PickleValue, PickleValue>, at: string): Pick<NanoGptOptimizer, 'lr' | 'betas' | 'eps' | 'weightDecay'> {
  const variant = (['amsgrad', 'maximize'] as const).find((k) => group.get(k) === true);
  if (variant) throw new Error(`${at}: ${variant}=True, an AdamW variant ours does not compute`);
  const betas = group.get('betas');
  const problem =
    rangeProblem(`${at}['lr']`, group.get('lr'), NON_NEGATIVE) ??
    (Array.isArray(betas) && betas.length === 2 ? (rangeProblem(`${at}['betas'][0]`, betas[0], UNIT_INTERVAL) ?? rangeProblem(`${at}['betas'][1]`, betas[1], UNIT_INTERVAL)) : `${at}['betas'] must be a pair, got ${describe(betas ?? null)}`) ??
    rangeProblem(`${at}['eps']`, group.get('eps'), POSITIVE) ??
    rangeProblem(`${at}['weight_decay']`, group.get('weight_decay'), NON_NEGATIVE);
  if (problem) throw new Error(problem);
  return { lr: group.get('lr') as number, betas: betas as [number, number], eps: group.get('eps') as number, weightDecay: group.get('weight_decay') as number };
}

/** `entry` (state[i]: exp_avg, exp_avg_sq, step; undefined for a parameter that never stepped) into `out` for `param`. */
async function readParameterState(file: TorchFile, entry: PickleValue | undefined, param: NanoGptParameter, out: NanoGptOptimizer, at: string): Promise<void> {
  const size = param.kept * param.shape.slice(1).reduce((a, b) => a * b, 1);
  if (entry === undefined) {
    out.m.set(param.name, new Float32Array(size));
    out.v.set(param.name, new Float32Array(size));
    out.steps.set(param.name, 0);
    return;
  }
  if (!(entry instanceof Map)) throw new Error(`${at}: expected a dict of exp_avg, exp_avg_sq and step, got ${describe(entry)}`);
  for (const [key, moments] of [['exp_avg', out.m], ['exp_avg_sq', out.v]] as const) {
    const t = entry.get(key);
    if (!(t instanceof TorchTensor) || t.shape.join() !== param.shape.join()) {
      throw new Error(`${at}['${key}']: expected a tensor of size (${param.shape.join(', ')}), ${param.name}'s, got ${t === undefined ? 'none' : describe(t)}`);
    }
    const { data } = await file.readTensor(t);
    if (!(data instanceof Float32Array)) throw new Error(`${at}['${key}']: expected a float tensor, got dtype ${t.dtype}`);
    moments.set(param.name, data.subarray(0, size));
  }
  const step = entry.get('step'); // a 0-d float tensor since PyTorch 1.12, a number before
  const count = step instanceof TorchTensor ? (await file.readTensor(step)).data[0] : step;
  const problem = rangeProblem(`${at}['step']`, count, NON_NEGATIVE_INT);
  if (problem) throw new Error(problem);
  out.steps.set(param.name, count as number);
}

// LoRA on a GPT (src/gpt/lora.ts): adapters on the targeted block layers, everything else frozen.
// The gradients of A and B are checked by the chain rule against a plain GPT holding the merged
// weights W' = W + s·B·A (made on the host in float64): dB = s·dW'·Aᵀ, dA = s·Bᵀ·dW', with
// recompute, shared layers and float16 autocast too; at step 0 (B = 0) the logits are the base
// model's exactly; a Trainer's steps leave the base bit-identical; merged logits equal the adapted
// ones; a checkpoint resumes bit-identically; what cannot work is refused in one line.
import { beforeAll, describe, expect, it } from 'vitest';
import { autocast, noGrad, randn, scope, tensor, type Tensor } from '../src/index.js';
import { pooledSize } from '../src/device/pool.js';
import { isLoRAName } from '../src/nn/lora.js';
import { decodeCheckpoint, encodeCheckpoint, modelFromCheckpoint, restoreOptimizer } from '../src/gpt/checkpoint.js';
import { memoryPlan } from '../src/gpt/memory-plan.js';
import { configParameterCount, GPT, type GPTConfig } from '../src/gpt/model.js';
import { CharTokenizer } from '../src/gpt/tokenizer/index.js';
import { TRAIN_DEFAULTS, trainConfigProblem, Trainer } from '../src/gpt/trainer.js';
import { describeTrainable } from '../src/gpt/lora.js';
import { profile } from '../src/kernels/profile.js';
import { pruneGlobal } from '../src/nn/prune.js';
import { encodeHF } from '../src/gpt/hf/index.js';
import { quantizeModel } from '../src/gpt/quantize.js';
import { disposeTrainers, seededValues, setupDevice, trainLosses } from './helpers.js';

beforeAll(setupDevice);

const V = 13;
const base: GPTConfig = { vocabSize: V, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 16, dropout: 0, bias: true };
const lora = { rank: 3, alpha: 6, dropout: 0, targets: ['c_attn' as const, 'c_proj' as const, 'c_fc' as const] };
const ids = (n: number, seed: number) => Int32Array.from(seededValues(n, seed, 0, V), Math.floor);

type Host = Map<string, { shape: number[]; data: Float64Array }>;

async function hostParams(model: GPT): Promise<Host> {
  const out: Host = new Map();
  for (const [name, p] of model.namedParameters()) out.set(name, { shape: [...p.shape], data: Float64Array.from(await p.toArray()) });
  return out;
}

/** W + s·B·A in float64 for every adapted weight; the other parameters as they are. */
function mergedWeights(host: Host, scale: number): Map<string, { shape: number[]; data: Float32Array }> {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, { shape, data }] of host) {
    if (/\.lora\.[AB]$/.test(name)) continue;
    const A = host.get(name.replace(/weight$/, 'lora.A'));
    const B = host.get(name.replace(/weight$/, 'lora.B'));
    const merged = Float64Array.from(data);
    if (A && B) {
      const [outF, inF] = shape as [number, number];
      const r = A.shape[0]!;
      for (let o = 0; o < outF; o++) for (let j = 0; j < inF; j++) for (let k = 0; k < r; k++) merged[o * inF + j]! += scale * B.data[o * r + k]! * A.data[k * inF + j]!;
    }
    out.set(name, { shape, data: Float32Array.from(merged) });
  }
  return out;
}

/** Fills every B with N(0, 0.1) so that A's gradient is not zero. */
function randomB(model: GPT, seed: number): void {
  for (const [name, p] of model.namedParameters()) {
    if (!name.endsWith('lora.B')) continue;
    const t = randn(p.shape, { seed: seed++, std: 0.1 });
    p.assign(t);
    t.dispose();
  }
}

function expectNear(got: ArrayLike<number>, want: ArrayLike<number>, atol: number, rtol: number, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i]! - want[i]!) <= atol + rtol * Math.abs(want[i]!))) throw new Error(`${what}[${i}]: got ${got[i]}, want ${want[i]}`);
  }
}

describe('LoRA on a GPT', () => {
  it.for([
    { what: 'plain', config: base, recompute: false, dtype: 'float32' as const },
    { what: 'recompute', config: base, recompute: true, dtype: 'float32' as const },
    { what: 'shared layers (a shared block has one adapter, run twice)', config: { ...base, nLayer: 4, shareLayers: 2 }, recompute: false, dtype: 'float32' as const },
    { what: 'float16 autocast', config: { ...base, bias: false }, recompute: false, dtype: 'float16' as const },
  ])('gradients of A and B follow from a plain GPT of the merged weights by the chain rule: $what', async ({ config, recompute, dtype }, ctx) => {
    if (dtype === 'float16' && !profile().f16) ctx.skip(); // an adapter without shader-f16
    const model = new GPT({ ...config, lora }, { seed: 4 });
    randomB(model, 100);
    const host = await hostParams(model);
    const plain = new GPT(config);
    plain.loadStateDict(mergedWeights(host, lora.alpha / lora.rank));
    const [x, y] = [ids(16, 1), ids(16, 2)];
    const grads = async (m: GPT) => {
      const out = new Map<string, Float64Array>();
      await scope(async () => {
        autocast(dtype, () => m.forward(tensor(x, [2, 8]), { targets: tensor(y, [2, 8]), recompute }).loss).backward();
        for (const [name, p] of m.namedParameters()) if (p.grad) out.set(name, Float64Array.from(await p.grad.toArray()));
      });
      m.zeroGrad();
      return out;
    };
    const [got, merged] = [await grads(model), await grads(plain)];
    expect([...got.keys()].every((n) => /\.lora\.[AB]$/.test(n))).toBe(true); // the base is frozen: no gradient
    const [atol, rtol] = dtype === 'float16' ? [2e-3, 3e-2] : [2e-5, 2e-3];
    const s = lora.alpha / lora.rank;
    for (const [name, dA] of got) {
      if (!name.endsWith('lora.A')) continue;
      const weight = name.replace(/lora\.A$/, 'weight');
      const [A, B, dW] = [host.get(name)!, host.get(weight.replace(/weight$/, 'lora.B'))!, merged.get(weight)!];
      const [outF, inF] = host.get(weight)!.shape as [number, number];
      const r = lora.rank;
      const wantA = new Float64Array(r * inF); // s Bᵀ dW
      const wantB = new Float64Array(outF * r); // s dW Aᵀ
      for (let o = 0; o < outF; o++) {
        for (let j = 0; j < inF; j++) {
          for (let k = 0; k < r; k++) {
            wantA[k * inF + j]! += s * B.data[o * r + k]! * dW[o * inF + j]!;
            wantB[o * r + k]! += s * dW[o * inF + j]! * A.data[k * inF + j]!;
          }
        }
      }
      expectNear(dA, wantA, atol, rtol, `${name}.grad`);
      expectNear(got.get(weight.replace(/weight$/, 'lora.B'))!, wantB, atol, rtol, `${weight.replace(/weight$/, 'lora.B')}.grad`);
    }
    expect(got.size).toBe(2 * 4 * (config.nLayer / (config.shareLayers ?? 1))); // A and B of c_attn, both c_proj and c_fc in each block
    model.dispose();
    plain.dispose();
  });

  it("under recompute, the adapters' dropout draws the same masks again: the gradients equal those of the plain backward", async () => {
    const grads = async (recompute: boolean) => {
      const model = new GPT({ ...base, dropout: 0.1, lora: { ...lora, dropout: 0.3 } }, { seed: 9 });
      randomB(model, 200);
      const out: Float32Array[] = [];
      await scope(async () => {
        model.forward(tensor(ids(16, 1), [2, 8]), { targets: tensor(ids(16, 2), [2, 8]), recompute }).loss.backward();
        for (const p of model.trainableParameters()) out.push((await p.grad!.toArray()) as Float32Array);
      });
      model.dispose();
      return out;
    };
    const [plain, again] = [await grads(false), await grads(true)];
    plain.forEach((g, i) => expectNear(again[i]!, g, 1e-6, 1e-5, `trainable parameter ${i}`));
  });

  it("a Trainer with loraRank: logits at step 0 are the base model's exactly (B = 0), its steps move only the adapters, and merged logits match", async () => {
    const cfg = { ...TRAIN_DEFAULTS, nLayer: 2, nHead: 2, nEmbd: 16, blockSize: 8, batchSize: 2, maxIters: 3, warmupIters: 0, learningRate: 0.05, dtype: 'float32' as const, loraRank: 2 };
    const data = { train: ids(300, 3), val: ids(80, 4), vocabSize: V };
    const plain = new GPT({ ...base, bias: false }, { seed: cfg.seed });
    const trainer = new Trainer(cfg, data);
    const { model } = trainer;
    expect(model.config.lora).toEqual({ rank: 2, alpha: 8, dropout: 0, targets: ['c_attn'] });
    const idx = () => tensor(ids(16, 5), [2, 8]);
    const logits = (m: GPT) => noGrad(() => scope(() => m.eval().forward(idx()).logits.toArray()));
    expect(await logits(model)).toEqual(await logits(plain));
    const frozen = [...model.namedParameters()].filter(([n]) => !n.includes('.lora.'));
    expect(trainer.optimizer.params).toEqual(model.trainableParameters());
    expect(trainer.optimizer.params).toHaveLength(4); // A and B of two c_attn
    const before = await Promise.all(frozen.map(([, p]) => p.toArray()));
    await trainLosses(trainer, 3);
    const after = await Promise.all(frozen.map(([, p]) => p.toArray()));
    after.forEach((a, i) => expect(Buffer.from((a as Float32Array).buffer).equals(Buffer.from((before[i] as Float32Array).buffer)), frozen[i]![0]).toBe(true));
    const adapted = await logits(model);
    expect(adapted).not.toEqual(await logits(plain));
    model.mergeLoRA();
    expect(model.config.lora).toBeUndefined();
    expect(model.parameters().every((p) => p.requiresGrad)).toBe(true); // a plain GPT again
    expectNear(await logits(model), adapted, 1e-5, 1e-4, 'merged logits');
    plain.dispose();
    disposeTrainers(trainer);
  });

  it.for([
    { loraBias: 'none' as const, biases: 0 },
    { loraBias: 'lora_only' as const, biases: 2 * 2 }, // attn.c_attn's and mlp.c_proj's in 2 blocks
  ])('a LoRA run (bias $loraBias) resumed from its checkpoint continues with exactly the same losses (adapter dropout on); the checkpoint holds moments for what trains only', async ({ loraBias, biases }) => {
    const cfg = { ...TRAIN_DEFAULTS, nLayer: 2, nHead: 2, nEmbd: 16, blockSize: 8, batchSize: 2, maxIters: 8, warmupIters: 2, learningRate: 0.02, dtype: 'float32' as const, dropout: 0.1, bias: true, loraRank: 4, loraDropout: 0.2, loraTargets: 'c_attn,mlp.c_proj', loraBias };
    const tokenizer = CharTokenizer.train('abcdefghijklm');
    const data = { train: ids(300, 6), val: ids(80, 7), vocabSize: V };
    const straight = new Trainer(cfg, data);
    const reference = await trainLosses(straight, 8);
    const first = new Trainer(cfg, data);
    await trainLosses(first, 4);
    const ckpt = decodeCheckpoint(await encodeCheckpoint(first.model, tokenizer, { optimizer: first.optimizer, train: cfg, trainer: await first.state() }));
    disposeTrainers(first);
    expect([...ckpt.optimizer!.m.keys()].every((n) => /\.lora\.[AB]$|(c_attn|mlp\.c_proj)\.bias$/.test(n))).toBe(true);
    expect(ckpt.optimizer!.m.size).toBe(2 * 2 * 2 + biases); // A and B of attn.c_attn and mlp.c_proj in 2 blocks
    const { model } = modelFromCheckpoint(ckpt);
    const resumed = new Trainer(ckpt.meta.train!, data, model);
    restoreOptimizer(ckpt, model, resumed.optimizer);
    resumed.restore(ckpt.meta.trainer!);
    expect(await trainLosses(resumed, 4)).toEqual(reference.slice(4));
    disposeTrainers(straight, resumed);
  });

  it('counts the adapters in the parameters, and plans gradients and AdamW for them only', () => {
    const config = { ...base, lora };
    const model = new GPT(config);
    expect(configParameterCount(config)).toBe(model.parameterCount());
    const trainable = model.trainableParameters().reduce((n, p) => n + p.size, 0);
    const plan = memoryPlan(config, 2, { training: true, bindingLimit: 2 ** 27 });
    const full = memoryPlan(base, 2, { training: true, bindingLimit: 2 ** 27 });
    expect(plan.parameters).toBe(model.parameterCount());
    // float32 buffers as the pool sizes them: a gradient per trainable parameter, AdamW's two flat moments (one shard)
    const pooled = (values: number) => pooledSize(4 * values, 2 ** 27, Infinity);
    const gradientBytes = (params: Tensor[]) => params.reduce((n, p) => n + pooled(p.size), 0);
    expect([plan.trainable, plan.bytes.gradients, plan.bytes.optimizer]).toEqual([trainable, gradientBytes(model.trainableParameters()), 2 * pooled(trainable)]);
    expect([full.trainable, full.bytes.gradients]).toEqual([full.parameters, gradientBytes([...model.namedParameters()].filter(([name]) => !isLoRAName(name)).map(([, p]) => p))]);
    model.dispose();
  });

  /**
   * The parameters peft's PeftModel of a transformers GPT-2 holds (a targeted Linear wraps its own
   * as base_layer, beside lora_A/lora_B.default), and those its _mark_only_adapters_as_trainable
   * leaves trainable for `bias`: lora_ parameters; all: names `bias` or ending `.bias`;
   * lora_only: the tuner layers' biases (their base_layer's). Written here from peft's rules, then
   * named as our model names them.
   */
  function peftTrainable(nLayer: number, targets: string[], bias: string, hasBias: boolean): string[] {
    const linears = ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'];
    const names = ['transformer.wte.weight', 'transformer.wpe.weight'];
    const ln = (n: string) => [`${n}.weight`, ...(hasBias ? [`${n}.bias`] : [])];
    for (let i = 0; i < nLayer; i++) {
      for (const m of ['ln_1', 'attn.c_attn', 'attn.c_proj', 'ln_2', 'mlp.c_fc', 'mlp.c_proj'].map((m) => `transformer.h.${i}.${m}`)) {
        const tuned = linears.some((l) => m.endsWith(`.${l}`)) && targets.some((t) => m.endsWith(`.${t}`));
        if (!tuned) names.push(...ln(m));
        else names.push(...ln(`${m}.base_layer`), `${m}.lora_A.default.weight`, `${m}.lora_B.default.weight`);
      }
    }
    names.push(...ln('transformer.ln_f'));
    const trainable = names.filter((n) =>
      n.includes('lora_') || (bias === 'all' && (n === 'bias' || n.endsWith('.bias'))) || (bias === 'lora_only' && n.endsWith('.base_layer.bias')));
    return trainable.map((n) => n.replace(/^transformer\./, '').replace('.base_layer', '').replace(/\.lora_([AB])\.default\.weight$/, '.lora.$1'));
  }

  it.for([
    { bias: 'none' as const, hasBias: true, targets: ['c_attn' as const] },
    { bias: 'all' as const, hasBias: true, targets: ['c_attn' as const] },
    { bias: 'lora_only' as const, hasBias: true, targets: ['c_attn' as const] },
    { bias: 'lora_only' as const, hasBias: true, targets: ['c_proj' as const, 'c_fc' as const] },
    { bias: 'all' as const, hasBias: false, targets: ['c_attn' as const] },
  ])("bias $bias on $targets (biases: $hasBias) trains what peft's rule names; the plan counts their gradients and moments", ({ bias, hasBias, targets }) => {
    const config = { ...base, bias: hasBias };
    const model = new GPT(config);
    model.addLoRA({ rank: 2, targets, bias });
    expect(model.config.lora).toEqual({ rank: 2, alpha: 8, dropout: 0, targets, ...(bias !== 'none' && { bias }) });
    const named = new Map([...model.namedParameters()].map(([n, p]) => [p, n]));
    const trainable = model.trainableParameters();
    expect(trainable.map((p) => named.get(p)).sort()).toEqual(peftTrainable(2, targets, bias, hasBias).sort());
    const plan = memoryPlan(model.config, 2, { training: true, bindingLimit: 2 ** 27 });
    const count = trainable.reduce((n, p) => n + p.size, 0);
    const pooled = (values: number) => pooledSize(4 * values, 2 ** 27, Infinity);
    expect([plan.trainable, plan.bytes.gradients, plan.bytes.optimizer]).toEqual([count, trainable.reduce((n, p) => n + pooled(p.size), 0), 2 * pooled(count)]);
    expect(configParameterCount(model.config)).toBe(model.parameterCount());
    model.mergeLoRA();
    expect(model.parameters().every((p) => p.requiresGrad)).toBe(true);
    model.dispose();
  });

  it("GPT-2 124M's trainable line with bias all and lora_only (rank 8 on c_attn), from the plan's count", () => {
    const gpt2: GPTConfig = { vocabSize: 50257, blockSize: 1024, nLayer: 12, nHead: 12, nEmbd: 768, dropout: 0, bias: true };
    const line = (bias: 'all' | 'lora_only') => {
      const plan = memoryPlan({ ...gpt2, lora: { rank: 8, alpha: 8, dropout: 0, targets: ['c_attn'], bias } }, 1, { training: true, bindingLimit: 2 ** 27 });
      return describeTrainable(plan.trainable, plan.parameters);
    };
    // 294,912 of the adapters; all: per block ln_1 768 + c_attn 2304 + c_proj 768 + ln_2 768 + c_fc 3072 + mlp.c_proj 768, and ln_f 768; lora_only: c_attn's 2304 a block
    expect(line('all')).toBe(`trainable params: ${(294912 + 12 * 8448 + 768).toLocaleString('en-US')} || all params: 124,734,720 || trainable%: 0.3183`);
    expect(line('lora_only')).toBe(`trainable params: ${(294912 + 12 * 2304).toLocaleString('en-US')} || all params: 124,734,720 || trainable%: 0.2586`);
  });

  it('with bias all, the gradients of the biases are those of a plain GPT of the merged weights', async () => {
    const model = new GPT({ ...base, lora: { ...lora, bias: 'all' } }, { seed: 4 });
    randomB(model, 300);
    const plain = new GPT(base);
    plain.loadStateDict(mergedWeights(await hostParams(model), lora.alpha / lora.rank));
    const [x, y] = [tensor(ids(16, 1), [2, 8]), tensor(ids(16, 2), [2, 8])];
    for (const m of [model, plain]) scope(() => m.forward(x, { targets: y }).loss.backward());
    const plainGrads = new Map([...plain.namedParameters()].map(([n, p]) => [n, p.grad]));
    let biases = 0;
    for (const [name, p] of model.namedParameters()) {
      if (!name.endsWith('.bias')) continue;
      expectNear(await p.grad!.toArray(), await plainGrads.get(name)!.toArray(), 2e-5, 2e-3, `${name}.grad`);
      biases++;
    }
    expect(biases).toBe(2 * 6 + 1); // six a block (four Linears, two LayerNorms), and ln_f
    model.dispose();
    plain.dispose();
    x.dispose();
    y.dispose();
  });

  it("addLoRA({ rank }) takes peft's LoraConfig defaults for the rest: lora_alpha 8, lora_dropout 0, target_modules c_attn (GPT-2's)", () => {
    const model = new GPT(base);
    model.addLoRA({ rank: 2 });
    expect(model.config.lora).toEqual({ rank: 2, alpha: 8, dropout: 0, targets: ['c_attn'] });
    expect([...model.namedParameters()].filter(([name]) => isLoRAName(name)).map(([name, p]) => `${name} [${p.shape}]`)).toEqual(
      [0, 1].flatMap((i) => [`h.${i}.attn.c_attn.lora.A [2,16]`, `h.${i}.attn.c_attn.lora.B [48,2]`]),
    );
    model.dispose();
  });

  it('refuses, in one line, what cannot work', async () => {
    expect(() => new GPT({ ...base, lora: { ...lora, rank: 17 } })).toThrow('GPT config: lora.rank 17 exceeds 16, the smaller side of attn.c_attn [48, 16]: a rank is at most min(in, out)');
    expect(() => new GPT({ ...base, lora: { ...lora, rank: 0 } })).toThrow(/GPT config: lora.rank must be an integer >= 1, got 0/);
    expect(() => new GPT({ ...base, lora: { ...lora, targets: ['q_proj' as never] } })).toThrow('GPT config: lora.targets must be a non-empty list of c_attn, c_proj, c_fc, attn.c_proj, mlp.c_proj, got "q_proj"');
    expect(() => new GPT({ ...base, quantization: 'int8', lora })).toThrow('GPT config: lora cannot adapt int8 weights (allowed: float32 weights; merge the adapters, then quantize)');
    const model = new GPT(base);
    model.addLoRA(lora);
    expect(() => model.addLoRA(lora)).toThrow('GPT.addLoRA: the model already has LoRA adapters; merge them first (mergeLoRA)');
    await expect(quantizeModel(model)).rejects.toThrow('quantizeModel: the model has LoRA adapters, which int8 weights cannot hold; merge them first (model.mergeLoRA())');
    await expect(encodeHF(model)).rejects.toThrow('encodeHF: a model with LoRA adapters has no Hugging Face GPT-2 form until they are merged into its weights (model.mergeLoRA(); gpt export does it)');
    await expect(pruneGlobal(model, 0.5)).rejects.toThrow('pruneGlobal: LoRA-adapted weights cannot be pruned (the update would fill the masked zeros); merge the adapters first');
    model.dispose();
    const pruned = new GPT(base);
    await pruneGlobal(pruned, 0.5);
    expect(() => pruned.addLoRA(lora)).toThrow(/GPT.addLoRA: a pruned model \(h\.0\.attn\.c_attn\.weight_mask\) cannot take LoRA adapters/);
    expect(pruned.trainableParameters()).toHaveLength(pruned.parameters().length); // nothing frozen by the refusal
    pruned.dispose();
    const name = (k: string) => `--${k}`;
    expect(trainConfigProblem({ ...TRAIN_DEFAULTS, loraAlpha: 16 }, name)).toBe('--loraAlpha applies to LoRA adapters only: give --loraRank >= 1 too');
    expect(trainConfigProblem({ ...TRAIN_DEFAULTS, loraRank: 4, loraTargets: 'c_attn,c_attn' }, name)).toBe('--loraTargets names "c_attn" twice');
    expect(trainConfigProblem({ ...TRAIN_DEFAULTS, loraRank: 200 }, name)).toMatch(/^--loraRank 200 exceeds 128, the smaller side of attn.c_attn \[384, 128\]/);
  });

  it('a Trainer refuses a given model whose adapters differ from what cfg asks', () => {
    const cfg = { ...TRAIN_DEFAULTS, nLayer: 2, nHead: 2, nEmbd: 16, blockSize: 8, batchSize: 2, bias: true, dtype: 'float32' as const };
    const data = { train: ids(300, 3), val: ids(80, 4), vocabSize: V };
    const model = new GPT({ ...base, lora });
    expect(() => new Trainer(cfg, data, model)).toThrow(/^Trainer: the model's LoRA adapters are \{"rank":3,.*\}, cfg.loraRank is 0; merge them first \(model.mergeLoRA\(\)\)/);
    model.dispose();
    // the same settings, their keys in another order (or left to addLoRA's defaults), are the same adapters: taken
    const same = { ...cfg, loraRank: 2, loraAlpha: 8, loraDropout: 0, loraTargets: 'c_attn,c_fc' };
    for (const adapt of [(m: GPT) => m.addLoRA({ targets: ['c_attn', 'c_fc'], dropout: 0, alpha: 8, rank: 2 }), (m: GPT) => m.addLoRA({ targets: ['c_attn', 'c_fc'], rank: 2 })]) {
      const adapted = new GPT(base);
      adapt(adapted);
      new Trainer(same, data, adapted).dispose();
      adapted.dispose();
    }
  });
});

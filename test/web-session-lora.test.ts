// The demo page's LoRA fine-tuning without a browser (src/web/session.ts): a loaded Hugging Face
// GPT-2 model trained with the page's LoRA settings gets adapters on the targets only (peft's
// parameter count, worked out here from GPT-2's shapes), starts from the base model's logits (an
// independent float64 forward), leaves every base weight as it was, and its checkpoint loads again
// (in Node, and in a new session, where training resumes at its step with the same adapters).
// Other LoRA settings start a new run on the merged weights. The page's fields themselves are
// driven in test/browser.test.ts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkpointBytes, decodeCheckpoint, modelFromCheckpoint } from '../src/gpt/checkpoint.js';
import { TRAIN_DEFAULTS } from '../src/gpt/trainer.js';
import { bytesSource } from '../src/io/safetensors-source.js';
import { isLoRAName } from '../src/nn/lora.js';
import { pruneGlobal } from '../src/nn/prune.js';
import { pruneStructured } from '../src/gpt/prune.js';
import { noGrad, scope, tensor } from '../src/index.js';
import type { GPT } from '../src/gpt/model.js';
import { describeRun, Session } from '../src/web/session.js';
import { tempDir } from './cli-helpers.js';
import { joinPieces, setupDevice } from './helpers.js';
import { gpt2Logits, miniGpt2Tokenizer, randomGPT2, SMALL, writeGPT2Dir } from './hf-reference.js';

beforeAll(setupDevice);

const TEXT = 'the model reads a text and learns it, a few steps at a time. '.repeat(12);
const PROMPT = 'the model reads';
/** What the page's Train sends for a loaded model with rank 2 on c_attn and mlp.c_proj (its other fields as main.ts reads them). */
const SETTINGS = { batchSize: 2, learningRate: 1e-2, minLr: 1e-2, warmupIters: 0, evalIters: 1, loraRank: 2, loraAlpha: 4, loraDropout: 0, loraTargets: 'c_attn,mlp.c_proj' };

/** Every weight of `model` but its adapters, by name. */
const baseWeights = async (model: GPT) =>
  new Map(await Promise.all([...model.stateDict()].filter(([name]) => !isLoRAName(name)).map(async ([name, t]) => [name, Array.from((await t.toArray()) as Float32Array)] as const)));

async function nodeLogits(model: GPT, prompt: string): Promise<number[]> {
  const ids = miniGpt2Tokenizer().encode(prompt);
  model.eval();
  return noGrad(() => scope(async () => Array.from(((await model.forward(tensor(Int32Array.from(ids), [1, ids.length]), { lastOnly: true }).logits.toArray()) as Float32Array))));
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (x, i) => Math.abs(x - b[i]!)));

describe('Session fine-tuning a loaded model with LoRA (the page\'s LoRA fields)', () => {
  const dir = tempDir('web-session-lora');
  const params = randomGPT2(5);
  writeGPT2Dir(dir, params, { prefix: false, head: true });
  const file = (name: string) => readFileSync(join(dir, name));
  const files = { config: file('config.json').toString('utf8'), weights: [{ file: 'model.safetensors', source: bytesSource(new Uint8Array(file('model.safetensors'))) }], tokenizer: file('tokenizer.json').toString('utf8') };

  it('trains the adapters on the targets only, from the base model, and its checkpoint loads again and resumes with them', async () => {
    const session = new Session();
    expect((await session.loadHF(files, 'Hugging Face model')).loaded, 'a loaded model: the page offers LoRA').toBe(true);
    const base = await baseWeights(session.model!);
    const trainer = session.trainerFor(TEXT, SETTINGS);
    expect(session.model!.config.lora).toEqual({ rank: 2, alpha: 4, dropout: 0, targets: ['c_attn', 'mlp.c_proj'] });

    // peft's count from GPT-2's shapes: r·(in + out) per adapted layer, c_attn [3C, C] and mlp.c_proj [C, 4C] in each block
    const { V, T, C, L } = SMALL;
    const adapters = L * 2 * ((C + 3 * C) + (4 * C + C));
    const all = V * C + T * C + L * (12 * C * C + 13 * C) + 2 * C + adapters;
    const line = describeRun(trainer);
    expect(line).toContain(`LoRA: rank 2, alpha 4, dropout 0 on c_attn, mlp.c_proj, the rest frozen; trainable params: ${adapters.toLocaleString('en-US')} || all params: ${all.toLocaleString('en-US')} || trainable%: ${((100 * adapters) / all).toFixed(4)}`);
    expect(line, 'the memory plan counts gradients and moments of the adapters only').toMatch(new RegExp(`^LoRA: .* · GPU memory plan: .*; gradients and AdamW for the ${adapters} trainable parameters only$`));

    // B starts at zero: GPT-2's own logits (float64 reference)
    const want = gpt2Logits(params, miniGpt2Tokenizer().encode(PROMPT)).at(-1)!;
    expect(maxDiff(await session.logits(PROMPT), want)).toBeLessThan(1e-4);
    for (let i = 0; i < 3; i++) await session.trainStep(trainer);
    const trained = await session.logits(PROMPT);
    expect(maxDiff(trained, want), 'the adapters trained').toBeGreaterThan(1e-3);
    expect(await baseWeights(session.model!), 'every base weight frozen').toEqual(base);

    const bytes = await joinPieces(session.save());
    const ckpt = decodeCheckpoint(bytes, 'page checkpoint');
    expect(ckpt.meta.model.lora).toEqual(session.model!.config.lora);
    expect(ckpt.meta.train).toMatchObject({ loraRank: 2, loraAlpha: 4, loraTargets: 'c_attn,mlp.c_proj' });
    expect(ckpt.meta.trainer?.step).toBe(3);
    const { model } = modelFromCheckpoint(ckpt);
    expect(maxDiff(await nodeLogits(model, PROMPT), trained), 'loaded in Node, adapters and all').toBeLessThan(1e-5);
    model.mergeLoRA(); // as gpt sample loads it
    expect(maxDiff(await nodeLogits(model, PROMPT), trained), 'merged').toBeLessThan(1e-4);
    model.dispose();

    // opened in the page again: its adapters, its step; Train (the fields set from the adapters) resumes
    const again = new Session();
    const summary = await again.load(bytesSource(bytes), 'gpt-step3.safetensors');
    expect(summary.config.lora).toEqual(session.model!.config.lora);
    expect([summary.step, summary.loaded]).toEqual([3, true]);
    expect(maxDiff(await again.logits(PROMPT), trained)).toBeLessThan(1e-5);
    const resumed = again.trainerFor(TEXT, SETTINGS);
    expect(resumed.step).toBe(3);
    await again.trainStep(resumed);
    await session.trainStep(trainer);
    expect(Array.from(await again.logits(PROMPT)), 'the same 4th step as the run that went on').toEqual(Array.from(await session.logits(PROMPT)));
    again.dispose();

    // the same adapters recorded with their keys in another order (a checkpoint made in code): resumed too, not a new run
    const reordered = decodeCheckpoint(bytes, 'page checkpoint');
    const { rank, alpha, dropout, targets } = reordered.meta.model.lora!;
    reordered.meta.model = { ...reordered.meta.model, lora: { targets, dropout, alpha, rank } };
    const third = new Session();
    await third.load(bytesSource(checkpointBytes(reordered)), 'reordered.safetensors');
    expect(third.trainerFor(TEXT, SETTINGS).step).toBe(3);
    third.dispose();
    session.dispose();
  });

  it('other LoRA settings start a new run at step 0 on the weights, the adapters merged into them; a save is still owed', async () => {
    const session = new Session();
    await session.loadHF(files, 'Hugging Face model');
    const first = session.trainerFor(TEXT, SETTINGS);
    await session.trainStep(first);
    await session.trainStep(first);
    const trained = await session.logits(PROMPT);

    const full = session.trainerFor(TEXT, { ...SETTINGS, loraRank: 0, loraAlpha: TRAIN_DEFAULTS.loraAlpha, loraTargets: TRAIN_DEFAULTS.loraTargets });
    expect(full.step, 'a new run').toBe(0);
    expect(session.model!.config.lora, 'merged').toBeUndefined();
    expect(maxDiff(await session.logits(PROMPT), trained), 'the merged model computes what the adapted one did').toBeLessThan(1e-4);
    expect(describeRun(full), 'every weight trains').not.toMatch(/LoRA|trainable parameters only/);
    expect(session.hasUnsavedWork(), 'the 2 steps not saved').toBe(true);
    await joinPieces(session.save());
    expect(session.hasUnsavedWork()).toBe(false);

    const adapted = session.trainerFor(TEXT, { ...SETTINGS, loraRank: 3, loraTargets: 'c_fc' });
    expect([adapted.step, session.model!.config.lora?.rank]).toEqual([0, 3]);
    expect(session.hasUnsavedWork(), 'saved before the new run').toBe(false);
    session.dispose();
  });

  it("the biases field alone starts a new run; with lora_only the adapted layers' biases train, and the saved run resumes in the page", async () => {
    const session = new Session();
    await session.loadHF(files, 'Hugging Face model');
    await session.trainStep(session.trainerFor(TEXT, SETTINGS));
    const settings = { ...SETTINGS, loraBias: 'lora_only' as const };
    const biased = session.trainerFor(TEXT, settings);
    expect(biased.step, 'a new run').toBe(0);
    expect(session.model!.config.lora).toEqual({ rank: 2, alpha: 4, dropout: 0, targets: ['c_attn', 'mlp.c_proj'], bias: 'lora_only' });
    const { C, L } = SMALL;
    const trainable = L * 2 * ((C + 3 * C) + (4 * C + C)) + L * (3 * C + C); // the adapters, and c_attn's and mlp.c_proj's biases
    expect(describeRun(biased)).toMatch(new RegExp(`^LoRA: rank 2, alpha 4, dropout 0 on c_attn, mlp\\.c_proj and the adapted layers' biases, the rest frozen; trainable params: ${trainable.toLocaleString('en-US')} \\|\\|.*gradients and AdamW for the ${trainable.toLocaleString('en-US')} trainable parameters only$`));
    await session.trainStep(biased);
    const again = new Session();
    expect((await again.load(bytesSource(await joinPieces(session.save())), 'biased.safetensors')).config.lora).toEqual(session.model!.config.lora);
    expect(again.trainerFor(TEXT, settings).step, 'resumed').toBe(1);
    again.dispose();
    session.dispose();
  });

  it('refuses a rank past a targeted layer, in one line naming the setting and the layer; the run stays', async () => {
    const session = new Session();
    await session.loadHF(files, 'Hugging Face model');
    const trainer = session.trainerFor(TEXT, SETTINGS);
    expect(() => session.trainerFor(TEXT, { ...SETTINGS, loraRank: SMALL.C + 1 })).toThrow(
      new RegExp(`^Session\\.trainerFor: loraRank ${SMALL.C + 1} exceeds ${SMALL.C}, the smaller side of attn\\.c_attn \\[${3 * SMALL.C}, ${SMALL.C}\\]: a rank is at most min\\(in, out\\)$`),
    );
    expect(session.trainerFor(TEXT, SETTINGS)).toBe(trainer);
    session.dispose();
  });

  it('refuses LoRA on a pruned model in one line naming the setting, before the run is touched: its steps, moments and unsaved work stay', async () => {
    // a pruned checkpoint (as gpt prune writes one) opened in the page and trained there
    const source = new Session();
    await source.loadHF(files, 'Hugging Face model');
    await pruneGlobal(source.model!, 0.5);
    const pruned = await joinPieces(source.save());
    source.dispose();
    const session = new Session();
    await session.load(bytesSource(pruned), 'pruned.safetensors');
    const full = { ...SETTINGS, loraRank: 0, loraAlpha: TRAIN_DEFAULTS.loraAlpha, loraTargets: TRAIN_DEFAULTS.loraTargets };
    const trainer = session.trainerFor(TEXT, full);
    await session.trainStep(trainer);
    await session.trainStep(trainer);

    expect(() => session.trainerFor(TEXT, SETTINGS)).toThrow(/^Session\.trainerFor: loraRank 2: a pruned model \(h\.0\.attn\.c_attn\.weight_mask\) cannot take LoRA adapters, whose update would fill its masked zeros; allowed: a dense model, or loraRank 0$/);
    expect(session.hasUnsavedWork(), 'the 2 steps are still owed a save (the page asks before it is closed)').toBe(true);
    expect(session.trainerFor(TEXT, full), 'the run goes on: same trainer, same step').toBe(trainer);
    expect(trainer.step).toBe(2);
    session.dispose();
  });

  it("refuses a rank past a layer a structured prune made smaller (its config's sizes allow it) before the run is touched", async () => {
    // 2 of GPT-2's 3 heads removed from each block: attn.c_proj reads 1 head of C/3, where the unpruned sizes say C
    const source = new Session();
    await source.loadHF(files, 'Hugging Face model');
    const { model } = await pruneStructured(source.model!, { structure: 'heads', sparsity: 0.67 });
    source.model!.dispose();
    source.model = model;
    const pruned = await joinPieces(source.save());
    source.dispose();
    const session = new Session();
    await session.load(bytesSource(pruned), 'heads-pruned.safetensors');
    const trainer = session.trainerFor(TEXT, SETTINGS);
    await session.trainStep(trainer);
    const head = SMALL.C / SMALL.NH;
    expect(() => session.trainerFor(TEXT, { ...SETTINGS, loraRank: head + 1, loraTargets: 'attn.c_proj' })).toThrow(
      new RegExp(`^Session\\.trainerFor: loraRank ${head + 1} exceeds ${head}, the smaller side of attn\\.c_proj \\[${SMALL.C}, ${head}\\]: a rank is at most min\\(in, out\\)$`),
    );
    expect(session.hasUnsavedWork(), 'the step is still owed a save').toBe(true);
    expect(session.trainerFor(TEXT, SETTINGS), 'the run goes on').toBe(trainer);
    expect([trainer.step, session.model!.config.lora?.rank]).toEqual([1, SETTINGS.loraRank]);
    session.dispose();
  });
});

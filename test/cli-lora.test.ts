// `gpt train --lora-rank R` end to end, in-process: a LoRA fine-tune of a checkpoint says what is
// trainable (peft's print_trainable_parameters) and plans gradients and AdamW for that only, saves
// moments for the adapters only, resumes bit-identically to a run straight through, and its
// checkpoint serves `gpt sample`, `gpt eval` and `gpt export` (merged: the exported GPT-2 evaluates
// to the same losses); settings that cannot apply are one-line usage errors.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../src/node/checkpoint-dir.js';
import { corpusText, expectOneLine, gpt, tempDir, TINY } from './cli-helpers.js';
import { setupDevice } from './helpers.js';

const dir = tempDir('cli-lora');
const corpus = join(dir, 'corpus.txt');
const base = join(dir, 'base');
let runs = 0;
const fresh = () => join(dir, `run-${runs++}`);
const LORA = ['--lora-rank', '4', '--lora-alpha', '16', '--lora-targets', 'c_attn,mlp.c_proj'];
const fineTune = (...args: string[]) => gpt('train', '--init-from', base, '--data', corpus, ...TINY, ...args);
/** The train lines of a run's log: step, loss, lr, gradient norm. */
const readLog = (out: string) =>
  readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.type === 'train').map((l) => [l.step, l.loss, l.lr, l.gradNorm]);

beforeAll(async () => {
  await setupDevice();
  writeFileSync(corpus, corpusText(8000));
  const r = await gpt('train', '--data', corpus, ...TINY, '--max-iters', '6', '--eval-interval', '6', '--out-dir', base);
  expect(r.code, r.err).toBe(0);
});

describe('gpt train --lora-rank', () => {
  it('fine-tunes the adapters only: says what is trainable, plans for it, saves moments for the adapters alone', async () => {
    const out = fresh();
    const r = await fineTune(...LORA, '--max-iters', '4', '--eval-interval', '4', '--out-dir', out);
    expect(r.code, r.err).toBe(0);
    // 1 block, C 16: c_attn [48, 16] and mlp.c_proj [16, 64] at rank 4: 4·(16 + 48) + 4·(64 + 16) = 576
    expect(r.out).toMatch(/^LoRA: rank 4, alpha 16, dropout 0 on c_attn, mlp\.c_proj, the rest frozen; trainable params: 576 \|\| all params: [\d,]+ \|\| trainable%: \d+\.\d{4}$/m);
    // 576 adapter values: 2304 bytes of gradients; AdamW's two flat moments, each 2304 bytes in the pool's 2560-byte class
    expect(r.out).toMatch(/^GPU memory plan: .*gradients 0\.00220 MiB, AdamW 0\.00488 MiB, .*; gradients and AdamW for the 576 trainable parameters only$/m);
    const ckpt = await loadCheckpoint(out);
    expect(ckpt.meta.model.lora).toEqual({ rank: 4, alpha: 16, dropout: 0, targets: ['c_attn', 'mlp.c_proj'] });
    expect([...ckpt.optimizer!.m.keys()].sort()).toEqual(['h.0.attn.c_attn.lora.A', 'h.0.attn.c_attn.lora.B', 'h.0.mlp.c_proj.lora.A', 'h.0.mlp.c_proj.lora.B']);
    const info = await gpt('info', out);
    expect(info.out).toMatch(/^model +1 layer, .*; LoRA rank 4 \(alpha 16, dropout 0\) on c_attn, mlp\.c_proj, the rest frozen$/m);
    expect(info.out).toMatch(/^parameters +[\d,]+ .*the header matches the config$/m);
    const all = Number(/^parameters +([\d,]+) /m.exec(info.out)![1]!.replaceAll(',', ''));
    expect(info.out).toMatch(new RegExp(`^trainable +576 \\(the LoRA adapters; ${(all - 576).toLocaleString('en-US')} frozen\\)$`, 'm'));
    expect(info.out).toMatch(/^resume +exact: AdamW moments/m);
    const baseline = await loadCheckpoint(base);
    for (const [name, w] of baseline.weights) expect(ckpt.weights.get(name), name).toEqual(w); // the base bit-identical
  });

  it('a LoRA run stopped and resumed ends bit-identical to one run straight through: losses, weights, moments (dropout on the adapters too)', async () => {
    const flags = [...LORA, '--lora-dropout', '0.1', '--dropout', '0.1', '--grad-accum', '2', '--warmup-iters', '4', '--learning-rate', '1e-2', '--log-interval', '1', '--eval-interval', '5', '--always-save'];
    const [straight, stopped] = [fresh(), fresh()];
    expect((await fineTune(...flags, '--max-iters', '10', '--out-dir', straight)).code).toBe(0);
    expect((await fineTune(...flags, '--max-iters', '7', '--out-dir', stopped)).code).toBe(0); // its last save: step 7
    // the recorded targets given again, spaced otherwise: the same adapters
    const resumed = await gpt('train', '--data', corpus, '--init-from', 'resume', '--lora-targets', 'c_attn, mlp.c_proj', '--max-iters', '10', '--out-dir', stopped);
    expect(resumed.code, resumed.err).toBe(0);
    expect(resumed.out).toMatch(/^LoRA: rank 4, alpha 16, dropout 0\.1 on c_attn, mlp\.c_proj/m);
    expect(readLog(stopped)).toHaveLength(10);
    expect(readLog(stopped)).toEqual(readLog(straight));
    const [a, b] = [await loadCheckpoint(straight), await loadCheckpoint(stopped)];
    expect(b.weights).toEqual(a.weights);
    expect(b.optimizer).toEqual(a.optimizer);
  });

  it('its checkpoint serves sample, eval and export (merged): the exported GPT-2 evaluates to the same losses', async () => {
    const out = fresh();
    expect((await fineTune(...LORA, '--learning-rate', '1e-2', '--warmup-iters', '0', '--max-iters', '4', '--eval-interval', '4', '--out-dir', out)).code).toBe(0);
    const sample = await gpt('sample', '--out-dir', out, '--max-new-tokens', '8', '--num-samples', '1');
    expect(sample.code, sample.err).toBe(0);
    const evaluated = await gpt('eval', '--out-dir', out, '--data', corpus, '--eval-iters', '4');
    expect(evaluated.code, evaluated.err).toBe(0);
    const hf = join(dir, 'exported');
    const exported = await gpt('export', '--out-dir', out, '--to', hf);
    expect(exported.code, exported.err).toBe(0);
    const again = await gpt('eval', '--init-from', hf, '--data', corpus, '--eval-iters', '4');
    const losses = (s: string) => s.match(/train loss [\d.]+, val loss [\d.]+/)![0];
    expect(losses(again.out)).toBe(losses(evaluated.out));
    const merged = await loadCheckpoint(base); // and the base evaluates otherwise: the adapters did something
    expect(merged.meta.model.lora).toBeUndefined();
    expect(losses((await gpt('eval', '--out-dir', base, '--data', corpus, '--eval-iters', '4')).out)).not.toBe(losses(evaluated.out));
    // fine-tuning a LoRA checkpoint trains its merged weights: fully, or with new adapters
    const full = await gpt('train', '--init-from', out, '--data', corpus, ...TINY, '--max-iters', '2', '--eval-interval', '2', '--out-dir', fresh());
    expect(full.code, full.err).toBe(0);
    expect(full.out).not.toMatch(/^LoRA:/m);
  });

  it("--lora-bias lora_only trains the adapted layers' biases too: the trainable line, the plan, the moments, info; resume keeps it; export --adapters writes them", async () => {
    const biased = fresh();
    expect((await gpt('train', '--data', corpus, ...TINY, '--bias', 'true', '--max-iters', '2', '--eval-interval', '2', '--out-dir', biased)).code).toBe(0);
    const out = fresh();
    const flags = [...LORA, '--lora-bias', 'lora_only', '--learning-rate', '1e-2', '--warmup-iters', '0', '--eval-interval', '3'];
    const r = await gpt('train', '--init-from', biased, '--data', corpus, ...TINY, ...flags, '--max-iters', '3', '--out-dir', out);
    expect(r.code, r.err).toBe(0);
    // 576 adapter values, and the biases of c_attn (48) and mlp.c_proj (16)
    expect(r.out).toMatch(/^LoRA: rank 4, alpha 16, dropout 0 on c_attn, mlp\.c_proj and the adapted layers' biases, the rest frozen; trainable params: 640 \|\| /m);
    expect(r.out).toMatch(/; gradients and AdamW for the 640 trainable parameters only$/m);
    const ckpt = await loadCheckpoint(out);
    expect(ckpt.meta.model.lora).toEqual({ rank: 4, alpha: 16, dropout: 0, targets: ['c_attn', 'mlp.c_proj'], bias: 'lora_only' });
    const trained = ['h.0.attn.c_attn.bias', 'h.0.attn.c_attn.lora.A', 'h.0.attn.c_attn.lora.B', 'h.0.mlp.c_proj.bias', 'h.0.mlp.c_proj.lora.A', 'h.0.mlp.c_proj.lora.B'];
    expect([...ckpt.optimizer!.m.keys()].sort()).toEqual(trained);
    const baseline = await loadCheckpoint(biased);
    for (const [name, w] of baseline.weights) {
      if (trained.includes(name)) expect(ckpt.weights.get(name), name).not.toEqual(w);
      else expect(ckpt.weights.get(name), name).toEqual(w); // frozen
    }
    expect((await gpt('info', out)).out).toMatch(/^trainable +640 \(the LoRA adapters and biases; [\d,]+ frozen\)$/m);
    expectOneLine(await gpt('train', '--data', corpus, '--init-from', 'resume', '--lora-bias', 'all', '--max-iters', '5', '--out-dir', out), 2, /flag --lora-bias all differs from the checkpoint's lora_only: a resumed run keeps its LoRA adapters/);
    // exported as peft's files, merged by --adapter into the base: the run's own losses
    const adapter = join(dir, 'adapter-bias');
    expect((await gpt('export', '--adapters', '--out-dir', out, '--to', adapter)).code).toBe(0);
    expect(JSON.parse(readFileSync(join(adapter, 'adapter_config.json'), 'utf8')).bias).toBe('lora_only');
    const losses = (s: string) => s.match(/train loss [\d.]+, val loss [\d.]+/)![0];
    const evaluate = (...args: string[]) => gpt('eval', ...args, '--data', corpus, '--eval-iters', '2');
    expect(losses((await evaluate('--init-from', biased, '--adapter', adapter)).out)).toBe(losses((await evaluate('--out-dir', out)).out));
  });

  it('export --adapters refuses the adapters of a run trained on a model with another adapter merged: peft would load them onto the base alone', async () => {
    const first = fresh();
    expect((await fineTune(...LORA, '--max-iters', '2', '--eval-interval', '2', '--out-dir', first)).code).toBe(0);
    const adapter = join(dir, 'adapter-first');
    expect((await gpt('export', '--adapters', '--out-dir', first, '--to', adapter)).code).toBe(0);
    const out = fresh(); // new adapters on the base with the first merged
    expect((await fineTune('--adapter', adapter, ...LORA, '--max-iters', '2', '--eval-interval', '2', '--out-dir', out)).code).toBe(0);
    const to = join(dir, 'adapter-second');
    expectOneLine(await gpt('export', '--adapters', '--out-dir', out, '--to', to), 2, new RegExp(`flag --adapters: ${out}'s LoRA adapters were trained on its base with the adapter ${adapter} merged`));
    expect(existsSync(to)).toBe(false);
    // resumed, the run still knows it; the merged model itself exports
    expect((await gpt('train', '--data', corpus, '--init-from', 'resume', '--max-iters', '3', '--eval-interval', '3', '--out-dir', out)).code).toBe(0);
    expectOneLine(await gpt('export', '--adapters', '--out-dir', out, '--to', to), 2, /were trained on its base with the adapter/);
    expect((await gpt('export', '--out-dir', out, '--to', join(dir, 'merged-second'))).code).toBe(0);
  });

  it('settings that cannot apply are one-line usage errors', async () => {
    expectOneLine(await fineTune('--lora-alpha', '16', '--out-dir', fresh()), 2, /--lora-alpha applies to LoRA adapters only: give --lora-rank >= 1 too$/);
    expectOneLine(await fineTune('--lora-bias', 'all', '--out-dir', fresh()), 2, /--lora-bias applies to LoRA adapters only: give --lora-rank >= 1 too$/);
    expectOneLine(await fineTune('--lora-rank', '4', '--lora-bias', 'boft_only', '--out-dir', fresh()), 2, /--lora-bias must be one of none, all, lora_only, got 'boft_only'$/);
    expectOneLine(await fineTune('--lora-rank', '4', '--lora-targets', 'q_proj', '--out-dir', fresh()), 2, /--lora-targets must be a non-empty list of c_attn, c_proj, c_fc, attn\.c_proj, mlp\.c_proj, got "q_proj"$/);
    expectOneLine(await gpt('train', '--data', corpus, ...TINY, '--lora-rank', '4', '--out-dir', fresh()), 2, /--lora-rank 4 fine-tunes a checkpoint through adapters, and this run starts a new model, whose random weights would stay frozen: give the checkpoint as --init-from DIR/);
    expectOneLine(await fineTune('--lora-rank', '17', '--out-dir', fresh()), 2, /--lora-rank 17 exceeds 16, the smaller side of attn\.c_attn \[48, 16\]: a rank is at most min\(in, out\)$/);
    const out = fresh();
    expect((await fineTune(...LORA, '--max-iters', '2', '--eval-interval', '2', '--out-dir', out)).code).toBe(0);
    expectOneLine(await gpt('train', '--data', corpus, '--init-from', 'resume', '--lora-rank', '8', '--max-iters', '4', '--out-dir', out), 2, /flag --lora-rank 8 differs from the checkpoint's 4: a resumed run keeps its LoRA adapters/);
    const pruned = fresh();
    expect((await gpt('prune', '--sparsity', '0.5', '--init-from', base, '--out-dir', pruned)).code).toBe(0);
    expectOneLine(await gpt('train', '--init-from', pruned, '--data', corpus, ...TINY, '--lora-rank', '4', '--out-dir', fresh()), 2, /flag --lora-rank 4: a pruned checkpoint \([\d,]+ masked weights\) cannot take LoRA adapters/);
    // a block that lost heads is narrower than --n-embd and --n-head say: its own shape bounds the rank
    const heads = fresh();
    expect((await gpt('prune', '--structured', 'heads', '--sparsity', '0.5', '--init-from', base, '--out-dir', heads)).code).toBe(0);
    expectOneLine(await gpt('train', '--init-from', heads, '--data', corpus, ...TINY, '--lora-rank', '9', '--lora-targets', 'c_proj', '--out-dir', fresh()), 2, /^gpt train: --lora-rank 9 exceeds 8, the smaller side of attn\.c_proj \[16, 8\]: a rank is at most min\(in, out\)$/);
  });
});

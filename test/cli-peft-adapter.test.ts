// peft's adapter directory on the command line: `gpt export --adapters` writes a LoRA run's
// adapters alone, and `--adapter DIR` merges them into the base for `gpt sample`, `gpt eval`,
// `gpt train --init-from`, `gpt serve --api` and `gpt bench-generate`: the same text and losses as
// the LoRA run's own checkpoint (whose adapters are merged on load). What cannot apply is a one-line error.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseSafetensors } from '../src/io/safetensors.js';
import { readPeftAdapter } from '../src/node/peft-adapter-dir.js';
import { corpusText, expectOneLine, gpt, runGpt, spawnGpt, tempDir, TINY } from './cli-helpers.js';
import { setupDevice } from './helpers.js';
import { randomGPT2, writeGPT2Dir } from './hf-reference.js';
import { mockRepo, startMockHub, type MockHub } from './hub-mock.js';

const dir = tempDir('cli-peft');
const corpus = join(dir, 'corpus.txt');
const base = join(dir, 'base');
const lora = join(dir, 'lora');
const adapter = join(dir, 'adapter');
const root = join(dir, 'page'); // what gpt serve --root serves
const losses = (s: string) => s.match(/train loss [\d.]+, val loss [\d.]+/)![0];

beforeAll(async () => {
  await setupDevice();
  writeFileSync(corpus, corpusText(8000));
  mkdirSync(root);
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>t</title>');
  const b = await gpt('train', '--data', corpus, ...TINY, '--max-iters', '6', '--eval-interval', '6', '--out-dir', base);
  expect(b.code, b.err).toBe(0);
  const l = await gpt('train', '--init-from', base, '--data', corpus, ...TINY, '--lora-rank', '4', '--lora-alpha', '16', '--lora-targets', 'c_attn,mlp.c_proj', '--learning-rate', '1e-2', '--warmup-iters', '0', '--max-iters', '4', '--eval-interval', '4', '--out-dir', lora);
  expect(l.code, l.err).toBe(0);
});

describe('gpt export --adapters and --adapter DIR', () => {
  it("export writes peft's adapter directory, which sample and eval merge into the base: the LoRA run's own text and losses", async () => {
    const r = await gpt('export', '--adapters', '--out-dir', lora, '--to', adapter, '--base-model', 'my-base');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^wrote .*adapter \(adapter_config\.json, adapter_model\.safetensors: LoRA rank 4, alpha 16 on c_attn, mlp\.c_proj\), peft's adapter directory$/m);
    const config = JSON.parse(readFileSync(join(adapter, 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({ peft_type: 'LORA', task_type: 'CAUSAL_LM', base_model_name_or_path: 'my-base', r: 4, lora_alpha: 16, target_modules: ['c_attn', 'mlp.c_proj'], fan_in_fan_out: true, bias: 'none' });
    // a hub id at a revision (--init-from's spelling): peft takes the revision as its own field, as AutoPeftModelForCausalLM loads the base with it
    const pinned = join(dir, 'pinned');
    expect((await gpt('export', '--adapters', '--out-dir', lora, '--to', pinned, '--base-model', 'my-org/base@v1.0')).code).toBe(0);
    expect(JSON.parse(readFileSync(join(pinned, 'adapter_config.json'), 'utf8'))).toMatchObject({ base_model_name_or_path: 'my-org/base', revision: 'v1.0' });
    expect(config.revision).toBeNull();
    expect([...(await readPeftAdapter(adapter)).tensors.keys()].sort()).toEqual(['h.0.attn.c_attn.lora.A', 'h.0.attn.c_attn.lora.B', 'h.0.mlp.c_proj.lora.A', 'h.0.mlp.c_proj.lora.B']);

    const sample = (...args: string[]) => gpt('sample', ...args, '--max-new-tokens', '12', '--start', 'the ', '--seed', '3');
    const own = await sample('--out-dir', lora);
    const adapted = await sample('--init-from', base, '--adapter', adapter);
    expect(adapted.code, adapted.err).toBe(0);
    expect(adapted.out).toBe(own.out);
    expect((await sample('--init-from', base)).out).not.toBe(own.out); // the adapter changed something
    // onto the LoRA run's checkpoint: its own adapters merged first, then these (both updates)
    const twice = await sample('--init-from', lora, '--adapter', adapter);
    expect(twice.code, twice.err).toBe(0);
    expect(twice.out).not.toBe(own.out);

    const evaluate = (...args: string[]) => gpt('eval', ...args, '--data', corpus, '--eval-iters', '4');
    const ownLosses = losses((await evaluate('--out-dir', lora)).out);
    expect(losses((await evaluate('--init-from', base, '--adapter', adapter)).out)).toBe(ownLosses);
    expect(losses((await evaluate('--init-from', base)).out)).not.toBe(ownLosses);

    // fine-tuning starts from the merged weights: its step-0 evaluation is the LoRA run's merged checkpoint's
    const step0 = (out: string) => out.match(/^step 0: (train loss [\d.]+, val loss [\d.]+)/m)![1];
    const tuned = await gpt('train', '--init-from', base, '--adapter', adapter, '--data', corpus, ...TINY, '--max-iters', '1', '--eval-interval', '1', '--out-dir', join(dir, 'tuned'));
    expect(tuned.code, tuned.err).toBe(0);
    const again = await gpt('train', '--init-from', lora, '--data', corpus, ...TINY, '--max-iters', '1', '--eval-interval', '1', '--out-dir', join(dir, 'tuned-own'));
    expect(step0(tuned.out)).toBe(step0(again.out));
  });

  it('--adapter user/my-lora[@rev] downloads the adapter repo into the Hugging Face cache: the text of the same adapter given as a directory; offline, the cache only', async () => {
    const HUB_ENV = ['HF_ENDPOINT', 'HF_HUB_CACHE', 'HF_HOME', 'HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE', 'HF_TOKEN'];
    const saved = Object.fromEntries(HUB_ENV.map((k) => [k, process.env[k]]));
    const hub: MockHub = await startMockHub();
    try {
      for (const k of HUB_ENV) delete process.env[k];
      process.env.HF_ENDPOINT = hub.endpoint;
      const cache = (process.env.HF_HUB_CACHE = tempDir('cli-peft-hub-cache'));
      process.env.HF_HOME = tempDir('cli-peft-hf-home'); // no token file of the machine's
      const files = (names: string[]) => Object.fromEntries(names.map((f) => [f, readFileSync(join(adapter, f))]));
      hub.repos.set('user/my-lora', mockRepo(files(['adapter_config.json', 'adapter_model.safetensors']), ['adapter_model.safetensors'], 'ab'.repeat(20)));
      hub.repos.set('user/a-model', mockRepo({ 'config.json': '{}', 'model.safetensors': 'x' }, ['model.safetensors']));
      hub.repos.set('user/no-weights', mockRepo(files(['adapter_config.json']), []));

      const sample = (...args: string[]) => gpt('sample', '--init-from', base, ...args, '--max-new-tokens', '12', '--start', 'the ', '--seed', '3');
      const local = await sample('--adapter', adapter);
      expect(local.code, local.err).toBe(0);
      const fromHub = await sample('--adapter', 'user/my-lora@main');
      expect(fromHub.code, fromHub.err).toBe(0);
      expect(fromHub.out).toBe(local.out);
      // laid out as huggingface_hub lays it: the snapshot links to the blobs, the ref names the commit
      const snapshot = join(cache, 'models--user--my-lora', 'snapshots', 'ab'.repeat(20));
      expect(readFileSync(join(snapshot, 'adapter_model.safetensors'))).toEqual(readFileSync(join(adapter, 'adapter_model.safetensors')));
      expect(readFileSync(join(cache, 'models--user--my-lora', 'refs', 'main'), 'utf8')).toBe('ab'.repeat(20));

      // offline: the cache answers, and a repo not in it is one line
      process.env.HF_HUB_OFFLINE = '1';
      const asked = hub.requests.length;
      expect((await sample('--adapter', 'user/my-lora')).out).toBe(local.out);
      expect(hub.requests.length).toBe(asked);
      expectOneLine(await sample('--adapter', 'user/other-lora'), 2, /^gpt sample: flag --adapter user\/other-lora: no such file or directory, and the Hugging Face cache .* has no adapter_config\.json of user\/other-lora@main \(HF_HUB_OFFLINE is set: nothing is downloaded\)$/);
      delete process.env.HF_HUB_OFFLINE;

      // a repo without the adapter's files, or none at all: one line naming the repo (and the files wanted)
      expectOneLine(await sample('--adapter', 'user/a-model'), 1, /^gpt sample: flag --adapter user\/a-model: user\/a-model on the Hugging Face hub has no adapter_config\.json: not a peft adapter \(wanted: adapter_config\.json with adapter_model\.safetensors or adapter_model\.bin\)$/);
      expectOneLine(await sample('--adapter', 'user/no-weights'), 1, /^gpt sample: flag --adapter user\/no-weights: user\/no-weights on the Hugging Face hub has no adapter_model\.safetensors nor adapter_model\.bin: not a peft adapter \(wanted: adapter_config\.json with adapter_model\.safetensors or adapter_model\.bin\)$/);
      expectOneLine(await sample('--adapter', 'user/missing'), 2, /^gpt sample: flag --adapter user\/missing: no such file or directory, and the Hugging Face hub \(http:\/\/127\.0\.0\.1:\d+\) has no model user\/missing, or it is private/);
    } finally {
      await hub.close();
      for (const [k, v] of Object.entries(saved)) v === undefined ? delete process.env[k] : (process.env[k] = v);
    }
  });

  it("serve --api generates gpt sample --adapter's greedy text, and does not serve the base at /checkpoint.safetensors; bench-generate times the adapted model", async () => {
    const greedy = ['--max-new-tokens', '12', '--start', 'the ', '--temperature', '0'];
    // as a process, so that stdout is the text as written
    const own = await runGpt(['sample', '--out-dir', lora, ...greedy]);
    const adapted = await runGpt(['sample', '--init-from', base, '--adapter', adapter, ...greedy]);
    expect(adapted.code, adapted.err).toBe(0);
    expect(adapted.out).toBe(own.out);
    expect((await runGpt(['sample', '--init-from', base, ...greedy])).out).not.toBe(own.out); // the adapter changes the greedy text
    const server = await spawnGpt(['serve', '--api', '--checkpoint', base, '--adapter', adapter, '--root', root, '--port', '0', '--quiet'], 120_000);
    try {
      const printed = await server.printed(/^open \S+/m);
      expect(printed).toMatch(/^\/checkpoint\.safetensors is not served: the page would load .*base without the adapter .*adapter, which the API merges$/m);
      const url = printed.match(/^open (\S+)/m)![1]!;
      const page = await fetch(url);
      expect([page.status, page.headers.get('gpt-checkpoint')]).toEqual([200, 'no']); // the page asks for no checkpoint
      expect((await fetch(`${url}checkpoint.safetensors`)).status).toBe(404);
      const res = await fetch(`${url}v1/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ prompt: 'the ', max_tokens: 12, temperature: 0 }) });
      const body = (await res.json()) as { model: string; choices: { text: string }[] };
      expect(res.status, JSON.stringify(body)).toBe(200);
      expect(`the ${body.choices[0]!.text}\n`).toBe(adapted.out);
      // named as vLLM names a LoRA model: by the adapter, the checkpoint its parent, which is not served alone
      expect(body.model).toBe(adapter);
      const models = (await (await fetch(`${url}v1/models`)).json()) as { data: { id: string; parent: string }[] };
      expect(models.data.map(({ id, parent }) => ({ id, parent }))).toEqual([{ id: adapter, parent: base }]);
      const alone = await fetch(`${url}v1/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ prompt: 'the ', model: base }) });
      expect(alone.status).toBe(404);
      expect(((await alone.json()) as { error: { message: string } }).error.message).toBe(`model ${JSON.stringify(base)} is not served alone here: the adapter ${JSON.stringify(adapter)} is merged into it, served as model ${JSON.stringify(adapter)} (GET /v1/models)`);
    } finally {
      server.child.kill('SIGINT');
      await server.done;
    }

    const bench = await gpt('bench-generate', '--init-from', base, '--adapter', adapter, '--batch', '1', '--prompt-tokens', '4', '--new-tokens', '4', '--repeats', '1');
    expect(bench.code, bench.err).toBe(0);
    expect(bench.out).toMatch(/^model: .*base \+ adapter .*adapter \(1 layer, 2 heads, 16 wide, block 16, vocab \d+;/m);
    expect(bench.out).toMatch(/^1 +[\d.]+ +[\d.]+ +[\d.]+$/m);
  });

  it('export --adapter and quantize --adapter merge it as sample --adapter does: the weights are W + (alpha/r)·B·A recomputed in float64 from the files; the same text and losses', async () => {
    const [plainHf, mergedHf, mergedPt, q8, q8Ref] = ['base-hf', 'merged-hf', 'merged-pt/ckpt.pt', 'q8', 'q8-ref'].map((d) => join(dir, d));
    expect((await gpt('export', '--init-from', base, '--to', plainHf)).code).toBe(0);
    const merged = await gpt('export', '--init-from', base, '--adapter', adapter, '--to', mergedHf);
    expect(merged.code, merged.err).toBe(0);
    expect(merged.out).toMatch(/^wrote .*merged-hf \(config\.json, model\.safetensors.*\), the adapter .*adapter merged$/m);
    // peft's merge of a GPT-2 Conv1D (fan_in_fan_out): weight[in, out] += (lora_alpha/r) · (B[out, r] · A[r, in])ᵀ
    const tensorsOf = (file: string) => parseSafetensors(readFileSync(file)).tensors;
    const [plain, got, lora] = [tensorsOf(join(plainHf, 'model.safetensors')), tensorsOf(join(mergedHf, 'model.safetensors')), tensorsOf(join(adapter, 'adapter_model.safetensors'))];
    const { r, lora_alpha: alpha } = JSON.parse(readFileSync(join(adapter, 'adapter_config.json'), 'utf8')) as { r: number; lora_alpha: number };
    let [adapted, moved] = [0, 0];
    for (const [name, w] of Object.entries(plain)) {
      const expected = Float64Array.from(w.data as Float32Array);
      const layer = /(h\.\d+\.(?:attn|mlp)\.c_\w+)\.weight$/.exec(name)?.[1];
      const [A, B] = ['A', 'B'].map((ab) => layer && lora[`base_model.model.transformer.${layer}.lora_${ab}.weight`]);
      if (A && B) {
        adapted++;
        const [nIn, nOut] = w.shape as [number, number];
        for (let i = 0; i < nIn; i++) {
          for (let o = 0; o < nOut; o++) {
            let ba = 0;
            for (let k = 0; k < r; k++) ba += B.data[o * r + k]! * A.data[k * nIn + i]!;
            expected[i * nOut + o]! += (alpha / r) * ba;
          }
        }
      }
      const actual = got[name]!.data as Float32Array;
      const worst = Math.max(...expected.map((e, i) => Math.abs(e - actual[i]!)));
      moved = Math.max(moved, ...actual.map((x, i) => Math.abs(x - w.data[i]!)));
      expect(worst, name).toBeLessThan(1e-5);
    }
    expect(adapted).toBe(2); // c_attn and mlp.c_proj of the one block
    expect(moved, 'the adapter moves its layers by more than the tolerance').toBeGreaterThan(1e-3);

    // the merged export, read back, samples the text of sample --adapter; nanoGPT's ckpt.pt too
    const greedy = ['--max-new-tokens', '12', '--start', 'the ', '--temperature', '0'];
    const sampled = await gpt('sample', '--init-from', base, '--adapter', adapter, ...greedy);
    expect((await gpt('sample', '--init-from', mergedHf, ...greedy)).out).toBe(sampled.out);
    const pt = await gpt('export', '--init-from', base, '--adapter', adapter, '--to', mergedPt);
    expect(pt.code, pt.err).toBe(0);
    expect(pt.out).toMatch(/no AdamW moments \(the adapter .*adapter merged\)/);
    expect((await gpt('sample', '--init-from', mergedPt, ...greedy)).out).toBe(sampled.out);

    // quantize --adapter: the int8 model of the merged weights, as quantizing the merged export gives it
    const q = await gpt('quantize', '--bits', '8', '--init-from', base, '--adapter', adapter, '--out-dir', q8);
    expect(q.code, q.err).toBe(0);
    expect((await gpt('quantize', '--bits', '8', '--init-from', mergedHf, '--out-dir', q8Ref)).code).toBe(0);
    const int8Of = (d: string) => Object.fromEntries(Object.entries(parseSafetensors(readFileSync(join(d, readdirSync(d).find((f) => f.endsWith('.safetensors'))!))).tensors).map(([n, t]) => [n, Array.from(t.data)]));
    const [quantized, reference] = [int8Of(q8), int8Of(q8Ref)];
    for (const [name, values] of Object.entries(reference)) {
      // GPT-2's layout holds a bias in every layer, which a model without them reads back as zeros
      expect(quantized[name] ?? values.map(() => 0), name).toEqual(values);
    }
    expect(Object.keys(quantized).filter((name) => !(name in reference))).toEqual([]);
    const evaluate = (from: string) => gpt('eval', '--init-from', from, '--data', corpus, '--eval-iters', '2');
    expect(losses((await evaluate(q8)).out)).toBe(losses((await evaluate(q8Ref)).out));
  });

  it('what cannot apply is one line', async () => {
    // --adapters writes the run's own LoRA adapters, trained on its base alone: a --adapter merged would make them another model's
    expectOneLine(await gpt('export', '--adapters', '--adapter', adapter, '--out-dir', lora, '--to', join(dir, 'both')), 2, /^gpt export: flag --adapter merges a peft adapter into the model exported, and --adapters writes the run's LoRA adapters alone, trained on its base without it: give one of them \(gpt export --adapter DIR --to DIR2 writes the merged model\)$/);
    expectOneLine(await gpt('export', '--adapters', '--out-dir', base, '--to', join(dir, 'none')), 2, /flag --adapters writes a LoRA run's adapters, and .*base has none/);
    expectOneLine(await gpt('export', '--base-model', 'gpt2', '--out-dir', lora, '--to', join(dir, 'x')), 2, /flag --base-model names the base model of the adapters --adapters writes: give --adapters too$/);
    expectOneLine(await gpt('export', '--adapters', '--out-dir', lora, '--to', join(dir, 'x.pt')), 2, /flag --adapters writes peft's adapter directory, and --to .*x\.pt names a \.pt file: give a directory$/);
    expectOneLine(await gpt('export', '--adapters', '--out-dir', lora, '--to', adapter), 2, /--to .*adapter already holds an adapter \(adapter_config\.json, adapter_model\.safetensors\): choose another --to, or replace it with --overwrite$/);
    expectOneLine(await gpt('train', '--data', corpus, ...TINY, '--adapter', adapter, '--out-dir', join(dir, 'scratch')), 2, /flag --adapter merges a peft adapter into the checkpoint --init-from PATH fine-tunes, got --init-from scratch$/);
    // an adapter of a 16-wide base onto GPT-2 of width 24
    const gpt2 = join(dir, 'gpt2');
    writeGPT2Dir(gpt2, randomGPT2(), { prefix: true, head: false });
    expectOneLine(await gpt('eval', '--init-from', gpt2, '--adapter', adapter, '--data', corpus, '--eval-iters', '1'), 1, /adapter_model\.safetensors: tensor base_model\.model\.transformer\.h\.0\.attn\.c_attn\.lora_A\.weight has shape \[4, 16\], where the base model's layer gives it \[4, 24\] \(an adapter of another base model\?\)$/);
    // a base pruned by magnitude: its masks would zero part of the update (refused naming the adapter, not GPT.addLoRA)
    const pruned = join(dir, 'pruned');
    expect((await gpt('prune', '--sparsity', '0.5', '--init-from', base, '--out-dir', pruned)).code).toBe(0);
    // before the device is asked anything: a --batch-size no device holds is not what is refused
    expectOneLine(await gpt('eval', '--init-from', pruned, '--adapter', adapter, '--data', corpus, '--batch-size', '100000000'), 1, /adapter: a LoRA adapter cannot be merged into a pruned model \(h\.0\.attn\.c_attn\.weight_mask\), whose masks keep its pruned weights zero \(allowed: a dense float32 base model\)$/);
    // a checkpoint (a LoRA run's, or a model) where the adapter directory goes
    expectOneLine(await gpt('sample', '--init-from', base, '--adapter', lora), 2, /flag --adapter takes a peft adapter directory \(adapter_config\.json\), and .*lora is a checkpoint \(checkpoint\.json\): give it as --init-from, or write a LoRA run's adapters with gpt export --adapters --to DIR$/);
    expectOneLine(await gpt('sample', '--init-from', base, '--adapter', join(dir, 'missing')), 2, /flag --adapter names .*missing, which does not exist$/);
    // serve's page loads --checkpoint's file as it is, so --adapter is --api's only; bench-generate's random model has no base to merge into
    expectOneLine(await gpt('serve', '--checkpoint', base, '--adapter', adapter), 2, /^gpt serve: flag --adapter merges a peft adapter into the model --api generates with: it applies with --api only \(the page loads --checkpoint's file as it is, without the adapter\)$/);
    expectOneLine(await gpt('bench-generate', '--adapter', adapter), 2, /^gpt bench-generate: flag --adapter merges a peft adapter into the checkpoint of --init-from: give --init-from PATH \(without it the model is random\)$/);
    expectOneLine(await gpt('bench-generate', '--init-from', gpt2, '--adapter', adapter, '--prompt-tokens', '4', '--new-tokens', '4'), 1, /tensor base_model\.model\.transformer\.h\.0\.attn\.c_attn\.lora_A\.weight has shape \[4, 16\], where the base model's layer gives it \[4, 24\]/);
    // the checkpoint is checked as without --adapter, though not served
    const broken = join(dir, 'broken.safetensors');
    writeFileSync(broken, 'hello');
    expectOneLine(await gpt('serve', '--api', '--checkpoint', broken, '--adapter', adapter, '--port', '0', '--root', root), 1, /^gpt serve: flag --checkpoint: .*broken\.safetensors: not a readable safetensors file/);
    expectOneLine(await gpt('serve', '--api', '--checkpoint', gpt2, '--adapter', adapter, '--port', '0', '--root', root), 1, /tensor base_model\.model\.transformer\.h\.0\.attn\.c_attn\.lora_A\.weight has shape \[4, 16\], where the base model's layer gives it \[4, 24\]/);
  });
});

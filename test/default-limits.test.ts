// The engine on a device with WebGPU's default limits (initDevice({ limits: 'default' }), as
// GPT_LIMITS=default does): 16 KiB of workgroup memory, 256 invocations, 8 storage buffers a stage,
// bindings at multiples of 256 bytes, 128 MiB bindings and 256 MiB buffers; what a browser on a
// weak laptop or phone may grant. Every other test file opens the adapter's own limits (lavapipe's
// are larger: 32 KiB, 1024 invocations, 16-byte offsets), so kernels sized for those would pass
// there and fail here. One device per process: this file opens its own (vitest runs each file in
// a fork). The op table of `gpt doctor --check` under every variant, a wide head on the GPUs'
// attention kernels, then a small GPT-2 against an independent float64 forward: a training step's
// loss, gradients (finite differences) and AdamW update, and greedy generation with and without
// the KV cache. Run anything else this way with GPT_LIMITS=default.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { droppingAttention } from '../src/check/cases/nn.js';
import { checkSample, FD_ELEMENTS, formatChecks, runChecks, seededRandom } from '../src/check/index.js';
import { adamwStepRef } from '../src/check/reference/index.js';
import { limitChoice } from '../src/device/adapter.js';
import { modelFromCheckpoint } from '../src/gpt/checkpoint.js';
import type { GPT } from '../src/gpt/model.js';
import { generate } from '../src/gpt/generate.js';
import { causalAttention, device, initDevice, scope, tensor } from '../src/index.js';
import { merge, profile, profileVariants, setProfile } from '../src/kernels/profile.js';
import { loadCheckpoint } from '../src/node/checkpoint-dir.js';
import { AdamW } from '../src/optim/adamw.js';
import { gpt } from './cli-helpers.js';
import { COLD_COMPILE_MS } from './helpers.js';
import { gpt2Logits, miniGpt2Tokenizer, randomGPT2, SMALL, writeGPT2Dir, type GPT2Params } from './hf-reference.js';

/** WebGPU's default limits (the spec's table) that kernels size themselves by. */
const DEFAULTS = {
  maxComputeWorkgroupStorageSize: 16384,
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupSizeX: 256,
  maxComputeWorkgroupSizeZ: 64,
  maxStorageBuffersPerShaderStage: 8,
  minStorageBufferOffsetAlignment: 256,
  maxStorageBufferBindingSize: 2 ** 27,
  maxBufferSize: 2 ** 28,
};

const dir = mkdtempSync(join(tmpdir(), 'gpt-default-limits-'));
beforeAll(() => initDevice({ limits: 'default' }));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => setProfile(null));

describe("WebGPU's default limits", () => {
  it('the device has them, and the kernel profile follows them, not the adapter', async () => {
    expect(device().info.limits).toMatchObject(DEFAULTS);
    for (const [k, v] of Object.entries(DEFAULTS)) expect(device().gpu.limits[k as keyof GPUSupportedLimits], k).toBe(v);
    expect([profile().offsetAlignment, profile().bindingLimit, profile().bufferLimit]).toEqual([256, 2 ** 27, 2 ** 28]);
    await expect(initDevice({ limits: 'adapter' })).rejects.toThrow(/^initDevice limits=adapter: the device is already open with default limits/);
    await expect(initDevice()).resolves.toBe(device()); // no choice: the open device, whichever
  });

  it('a limit choice other than adapter or default is a one-line error naming where it came from', () => {
    expect(() => limitChoice({ limits: 'minimum' as 'default' })).toThrow(/^initDevice limits=minimum: expected one of adapter, default$/);
    const saved = process.env.GPT_LIMITS;
    try {
      process.env.GPT_LIMITS = 'spec';
      expect(() => limitChoice()).toThrow(/^GPT_LIMITS=spec: expected one of adapter, default$/);
      process.env.GPT_LIMITS = '';
      expect(limitChoice()).toBe('adapter'); // an empty setting is no setting
    } finally {
      if (saved === undefined) delete process.env.GPT_LIMITS;
      else process.env.GPT_LIMITS = saved;
    }
  });

  it('gpt doctor --json says which limits its numbers are (as its lines do): GPT_LIMITS=default, or the adapter\'s', async () => {
    const saved = process.env.GPT_LIMITS;
    try {
      for (const choice of ['default', 'adapter']) {
        process.env.GPT_LIMITS = choice;
        const r = await gpt('doctor', '--json');
        expect(r.code, r.err).toBe(0);
        const info = JSON.parse(r.out) as { limitChoice: string; limits: Record<string, number> };
        expect(info.limitChoice).toBe(choice);
        if (choice === 'default') expect(info.limits).toMatchObject(DEFAULTS);
      }
    } finally {
      if (saved === undefined) delete process.env.GPT_LIMITS;
      else process.env.GPT_LIMITS = saved;
    }
  });

  it('every op and update of the check table equals its float64 reference under every variant', { timeout: COLD_COMPILE_MS }, async () => {
    const rows = await runChecks({ samples: 1, seed: 3 });
    const failed = rows.filter((r) => !r.ok);
    expect(failed.length, formatChecks(rows).filter((l) => l.startsWith('FAIL')).join('\n')).toBe(0);
  });

  // the table's draws keep qkv small, so its heads are narrow: a wide one on the GPUs' kernels,
  // whose workgroup-memory tiles of keys (queries in the backward) hold fewer rows as heads widen
  it('causal attention at head size 64 on the GPU kernels, forward and gradient', { timeout: COLD_COMPILE_MS }, async () => {
    setProfile(merge(profileVariants().find((v) => v.name === 'gpu')?.overrides ?? {}, { attentionKeys: 'together' }));
    const r = seededRandom(64);
    const sample = droppingAttention(r, { B: 1, nHead: 2, T: 65, C3: 3 * 2 * 64 }, 0);
    const n = sample.inputs[0]!.ref.data.length;
    const result = await checkSample(sample, (ts) => causalAttention(...sample.args(ts)), {
      needsGrad: [true],
      elements: () => [0, n - 1, ...r.ints(FD_ELEMENTS - 2, 0, n - 1)],
      describe: (ts) => `causalAttention(${ts[0]!.describe()}, ${sample.args(ts).slice(1).join(', ')})`,
    });
    expect(result.failure, result.what).toBeUndefined();
  });
});

/** Mean cross-entropy of the float64 GPT-2 over `batch`, each sequence predicting its next ids. */
function referenceLoss(p: GPT2Params, batch: number[][], targets: number[][]): number {
  let sum = 0;
  batch.forEach((ids, b) =>
    gpt2Logits(p, ids).forEach((row, t) => {
      const max = Math.max(...row);
      const logZ = max + Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0));
      sum += logZ - row[targets[b]![t]!]!;
    }),
  );
  return sum / (batch.length * batch[0]!.length);
}

describe('a small GPT-2 under the default limits, against a float64 forward', () => {
  const params = randomGPT2(11);
  const tokenizer = miniGpt2Tokenizer();
  const ids = tokenizer.encode(' the model reads the text, the end of the line of the text. the next').slice(0, SMALL.T + 1);
  const batch = [ids.slice(0, SMALL.T), ids.slice(1, SMALL.T + 1).map((t) => (t * 7) % SMALL.V)];
  const targets = batch.map((s, b) => [...s.slice(1), b]);
  // entries [name, index in the stored GPT-2 tensor] whose gradients are checked: the tied
  // embedding (also the LM head), attention and MLP weights (Conv1D [in, out]: ours are [out, in]),
  // a bias and a LayerNorm gain
  const probes: [string, number][] = [['wte.weight', 5 * SMALL.C + 3], ['h.0.attn.c_attn.weight', 7 * 3 * SMALL.C + 50], ['h.1.mlp.c_fc.weight', 2 * 4 * SMALL.C + 9], ['h.1.attn.c_proj.bias', 4], ['h.0.ln_1.weight', 6]];

  /** Our index of stored entry `at` of `name` (Conv1D weights are stored transposed). */
  const ourIndex = (name: string, at: number) => {
    const { shape } = params.get(name)!;
    return shape.length === 2 && name !== 'wte.weight' ? (at % shape[1]!) * shape[0]! + Math.floor(at / shape[1]!) : at;
  };

  async function loadModel(): Promise<GPT> {
    const path = join(dir, 'gpt2');
    writeGPT2Dir(path, params, { prefix: false, head: true });
    return modelFromCheckpoint(await loadCheckpoint(path), { dropout: 0 }).model;
  }

  // the adapter's own profile, the GPU kernels (workgroup-memory attention tiles, 128x128 matmul
  // tiles, split sums) and bindings of 4 KiB (windows at 256-byte offsets)
  it.each(['adapter', 'gpu', 'small-bindings'])('a training step: loss, gradients (finite differences) and the AdamW update; the %s variant', async (name) => {
    const model = await loadModel();
    setProfile(profileVariants().find((v) => v.name === name)?.overrides ?? {}); // a variant the adapter's own profile already is, is left out
    const want = referenceLoss(params, batch, targets);
    const h = 1e-3;
    const fd = probes.map(([n, at]) => {
      const data = params.get(n)!.data;
      const keep = data[at]!;
      const lossAt = (x: number) => {
        data[at] = x;
        return referenceLoss(params, batch, targets);
      };
      const slope = (lossAt(keep + h) - lossAt(keep - h)) / (2 * h);
      data[at] = keep;
      return slope;
    });
    const named = new Map(model.namedParameters());
    const opt = new AdamW([...named.values()], { lr: 0.01, betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.1 });
    const before = await Promise.all(probes.map(([n]) => named.get(n)!.toArray()));
    await scope(async () => {
      const x = tensor(Int32Array.from(batch.flat()), [2, SMALL.T]);
      const y = tensor(Int32Array.from(targets.flat()), [2, SMALL.T]);
      const { loss } = model.forward(x, { targets: y });
      loss.backward();
      expect(Math.abs(((await loss.toArray()) as Float32Array)[0]! - want), 'loss').toBeLessThan(1e-4);
    });
    const grads = await Promise.all(probes.map(([n]) => named.get(n)!.grad!.toArray()));
    probes.forEach(([n, at], i) => expect(Math.abs(grads[i]![ourIndex(n, at)]! - fd[i]!), `d loss / d ${n}[${at}]: ${grads[i]![ourIndex(n, at)]} for ${fd[i]}`).toBeLessThan(1e-4 + 1e-3 * Math.abs(fd[i]!)));
    opt.step();
    for (const [i, [n, at]] of probes.entries()) {
      const k = ourIndex(n, at);
      const decays = named.get(n)!.shape.length > 1; // matrices and embeddings only
      const hyper = { lr: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: decays ? 0.1 : 0, step: 1 };
      const stepped = adamwStepRef([before[i]![k]!], [grads[i]![k]!], [0], [0], 1, hyper).p[0]!;
      expect(Math.abs(((await named.get(n)!.toArray()) as Float32Array)[k]! - stepped), `${n} after the step`).toBeLessThan(1e-6 + 1e-5 * Math.abs(stepped));
    }
    opt.dispose();
    model.dispose();
  });

  it('greedy generation follows the float64 logits, with and without the KV cache', async () => {
    const model = await loadModel();
    const prompt = ids.slice(0, 4);
    const want = [...prompt];
    for (let i = 0; i < 8; i++) {
      const last = gpt2Logits(params, want).at(-1)!;
      want.push(last.indexOf(Math.max(...last)));
    }
    for (const kvCache of [true, false]) {
      const got: number[] = [];
      for await (const t of generate(model, prompt, { maxNewTokens: 8, temperature: 0, kvCache })) got.push(t);
      expect(got, `kvCache ${kvCache}`).toEqual(want.slice(prompt.length));
    }
    model.dispose();
  });
});

// What the flags alone refuse is refused before anything is downloaded: a hub id given to
// --init-from, --adapter or --teacher is fetched only once the flags stand (a mock of the Hugging
// Face hub that follows its protocol, test/hub-mock.ts, counts the requests: none is made).
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOneLine, gpt, tempDir } from './cli-helpers.js';
import { mockRepo, startMockHub, type MockHub } from './hub-mock.js';

const HUB_ENV = ['HF_ENDPOINT', 'HF_HUB_CACHE', 'HF_HOME', 'HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE', 'HF_TOKEN'];
const saved = Object.fromEntries(HUB_ENV.map((k) => [k, process.env[k]]));
const dir = tempDir('refuse-first');
let hub: MockHub;

beforeAll(async () => {
  hub = await startMockHub();
  for (const k of HUB_ENV) delete process.env[k];
  process.env.HF_ENDPOINT = hub.endpoint;
  process.env.HF_HUB_CACHE = join(dir, 'cache');
  process.env.HF_HOME = join(dir, 'hf-home'); // no token file of the machine's
  hub.repos.set('user/my-lora', mockRepo({ 'adapter_config.json': '{}', 'adapter_model.safetensors': 'x' }, ['adapter_model.safetensors']));
  hub.repos.set('user/a-model', mockRepo({ 'config.json': '{}', 'model.safetensors': 'x' }, ['model.safetensors']));
});
afterAll(async () => {
  await hub.close();
  for (const [k, v] of Object.entries(saved)) v === undefined ? delete process.env[k] : (process.env[k] = v);
});

describe('refused before any download', () => {
  const out = join(dir, 'out');
  it.each([
    ['train --init-from scratch --adapter', ['train', '--init-from', 'scratch', '--adapter', 'user/my-lora', '--out-dir', out], /flag --adapter merges a peft adapter into the checkpoint --init-from PATH fine-tunes, got --init-from scratch$/],
    ['train --init-from resume --adapter', ['train', '--init-from', 'resume', '--adapter', 'user/my-lora', '--out-dir', out], /flag --adapter merges a peft adapter into the checkpoint --init-from PATH fine-tunes, got --init-from resume$/],
    ['train --adapter --continue', ['train', '--init-from', 'user/a-model', '--adapter', 'user/my-lora', '--continue', '--out-dir', out], /flag --adapter merges a peft adapter into the checkpoint --init-from PATH fine-tunes, got --continue, which continues a run as it was$/],
    ['train --init-from HUB_ID --lora-alpha without --lora-rank', ['train', '--init-from', 'user/a-model', '--lora-alpha', '16', '--out-dir', out], /--lora-alpha applies to LoRA adapters only: give --lora-rank >= 1 too$/],
    ['train --init-from HUB_ID --lora-targets naming no layer of ours', ['train', '--init-from', 'user/a-model', '--lora-rank', '4', '--lora-targets', 'q_proj', '--out-dir', out], /--lora-targets must be a non-empty list of c_attn, c_proj, c_fc, attn\.c_proj, mlp\.c_proj, got "q_proj"$/],
    ['distill --continue', ['distill', '--teacher', 'user/a-model', '--init-from', 'user/a-model', '--continue', '--out-dir', out], /flag --continue continues nanoGPT's run from its ckpt\.pt given as gpt train --init-from, got gpt distill$/],
    ['distill --lora-rank on a new student', ['distill', '--teacher', 'user/a-model', '--lora-rank', '4', '--out-dir', out], /--lora-rank 4 fine-tunes a checkpoint through adapters, and this run starts a new model/],
    ['export --base-model without --adapters', ['export', '--init-from', 'user/a-model', '--base-model', 'gpt2', '--to', join(dir, 'x')], /flag --base-model names the base model of the adapters --adapters writes: give --adapters too$/],
    ['export without --to', ['export', '--init-from', 'user/a-model'], /--to DIR is required/],
    ['sample --start FILE:', ['sample', '--init-from', 'user/a-model', '--start', 'FILE:'], /flag --start FILE: names no file: give FILE:path$/],
    ['serve --adapter without --api', ['serve', '--checkpoint', 'user/a-model', '--adapter', 'user/my-lora'], /flag --adapter merges a peft adapter into the model --api generates with: it applies with --api only/],
    ['bench-generate --adapter without --init-from', ['bench-generate', '--adapter', 'user/my-lora'], /flag --adapter merges a peft adapter into the checkpoint of --init-from/],
  ])('%s', async (_, args, message) => {
    const asked = hub.requests.length;
    expectOneLine(await gpt(...(args as string[])), 2, message as RegExp);
    expect(hub.requests.slice(asked).map((r) => r.url)).toEqual([]);
  });
});

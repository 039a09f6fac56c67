// `gpt quantize --bits 8 --init-from DIR --out-dir DIR2`: a float32 checkpoint as an int8 one for
// inference (src/gpt/quantize.ts): the token embedding (the tied LM head) and every Linear's weight
// int8 with per-row float32 scales, about 4x smaller. `--bits 4 [--group-size G]`: every Linear's
// weight int4 with a float32 scale per G inputs, the token embedding int8. `gpt sample`, `gpt
// eval`, `gpt serve` and the page read it like any checkpoint; training it is refused. With
// --adapter DIR, a peft adapter is merged into the float32 model first, as `gpt sample --adapter` merges it.
import { initDevice } from '../device/device.js';
import { CHECKPOINT_KEY } from '../gpt/checkpoint.js';
import { safetensorsSize } from '../io/safetensors.js';
import { formatBytes } from '../gpt/buffer-fit.js';
import { groupSizeProblem } from '../gpt/model.js';
import { INT4_GROUP_SIZE, quantizeModel } from '../gpt/quantize.js';
import { maskedCount } from '../nn/prune.js';
import { hfModelProblem } from '../node/checkpoint-kind.js';
import { manifestHeld } from '../node/checkpoint-files.js';
import { saveCheckpoint } from '../node/checkpoint-dir.js';
import { readCheckpointHead } from '../node/checkpoint-head.js';
import { ADAPTER_DOC, loadMerged, readAdapterFlag } from './adapter-flag.js';
import { fetchHubCheckpoints } from './hub-flags.js';
import { flagHelp, noPositional, parseFlags, UsageError, type FlagSpec } from './flags.js';
import { ADAPTER_OR_HUB, CHECKPOINT_OR_HUB, replacesSourceProblem } from './path-flags.js';
import { withDirectoryLock } from './run-lock.js';

const QUANTIZE_DEFAULTS = { bits: 8, groupSize: INT4_GROUP_SIZE, initFrom: '', adapter: '', outDir: '', overwrite: false };
const QUANTIZE_FLAGS: FlagSpec<typeof QUANTIZE_DEFAULTS> = {
  defaults: QUANTIZE_DEFAULTS,
  paths: { initFrom: CHECKPOINT_OR_HUB, adapter: ADAPTER_OR_HUB, outDir: 'new directory' },
  ranges: { bits: { int: true, min: 4, max: 8 }, groupSize: { int: true, min: 8 } },
  docs: {
    bits: 'bits per weight: 8 (int8, symmetric, a float32 scale per output channel) or 4 (int4 linear layers, a float32 scale per --group-size inputs; the token embedding int8)',
    groupSize: 'with --bits 4: inputs per int4 scale, a multiple of 8 dividing every linear layer\'s input width',
    initFrom: 'the float32 checkpoint to quantize (any kind `gpt sample` reads)',
    adapter: `${ADAPTER_DOC}, before quantizing`,
    outDir: 'the directory to write the quantized checkpoint to',
    overwrite: 'replace a checkpoint already in --out-dir',
  },
};

export const QUANTIZE_HELP = `usage: gpt quantize --bits 8|4 --init-from DIR --out-dir DIR2 [flags]
Writes an int8 copy of a checkpoint for inference (sample, eval, serve): the token embedding and every
linear layer's weight as int8 with a float32 scale per row, about 4x smaller; it cannot be trained.
With --bits 4 the linear layers' weights are int4 with a float32 scale per --group-size inputs.
With --adapter, a peft LoRA adapter is merged into the model first.
${flagHelp(QUANTIZE_FLAGS)}`;

export async function quantize(args: string[]): Promise<number> {
  const { values: f, positional, given } = parseFlags(args, QUANTIZE_FLAGS);
  noPositional(positional);
  if (f.bits !== 8 && f.bits !== 4) throw new UsageError(`--bits ${f.bits}: allowed are 8 (int8) and 4 (int4)`);
  if (f.bits === 8 && given.has('groupSize')) throw new UsageError(`--group-size ${f.groupSize} is int4's setting: give it with --bits 4 (int8 scales whole rows)`);
  if (!f.initFrom) throw new UsageError('--init-from DIR is required: the float32 checkpoint to quantize');
  if (!f.outDir) throw new UsageError('--out-dir DIR is required: where the quantized checkpoint goes');
  await fetchHubCheckpoints(QUANTIZE_FLAGS, f, given);
  const replaces = replacesSourceProblem('--init-from', f.initFrom, '--out-dir', f.outDir);
  if (replaces) throw new UsageError(replaces);
  const ckpt = await readCheckpointHead(f.initFrom); // its weights uploaded as read, once the device is open
  if (ckpt.meta.model.quantization) throw new UsageError(`${f.initFrom} is already quantized (${ckpt.meta.model.quantization})`);
  const adapter = await readAdapterFlag(f.adapter, ckpt); // refused before the device opens
  const settings = f.bits === 4 ? { bits: 4 as const, groupSize: f.groupSize } : { bits: 8 as const };
  const groups = f.bits === 4 && groupSizeProblem({ ...ckpt.meta.model, quantization: 'int4', groupSize: f.groupSize }, () => '--group-size');
  if (groups) throw new UsageError(groups);
  return withDirectoryLock(f.outDir, async () => {
    const hfModel = await hfModelProblem(f.outDir);
    if (hfModel) throw new UsageError(hfModel);
    const held = await manifestHeld(f.outDir);
    if (!f.overwrite && held) {
      throw new UsageError(`${f.outDir} already holds ${held.words}: pick another --out-dir, or replace it with --overwrite`);
    }
    await initDevice();
    const { model, tokenizer, ckpt: loaded } = await loadMerged(ckpt, { dropout: 0, moments: false, masks: false }, adapter); // the masks read (for their count), not kept
    const masks = maskedCount(loaded.weights); // the int8 checkpoint holds no masks: it records their count
    const floatWeights = model.stateDict();
    const quantized = await quantizeModel(model, settings).finally(() => model.dispose());
    try {
      // what the source records of how its model was made (distilled, pruned) stays true of this one
      const { run, data, distill } = ckpt.meta;
      const written = await saveCheckpoint(f.outDir, quantized, tokenizer, { run, data, distill, ...(masks.total ? { prunedWeights: masks } : {}) });
      // the float32 model as an inference checkpoint, to compare like with like: no optimizer state,
      // and no pruning masks (a float32 pruned checkpoint holds one per Linear; the int8 one, none)
      // (its size from the model's weights' shapes, as checkpointSafetensors would lay them out: they were never all on the host)
      const weights = [...floatWeights].map(([name, { shape }]) => ({ name, dtype: 'F32' as const, shape: [...shape] }));
      const float32 = safetensorsSize(weights, { [CHECKPOINT_KEY]: JSON.stringify({ ...ckpt.meta, train: undefined, trainer: undefined }) });
      console.log(`float32 ${formatBytes(float32)} -> ${quantized.config.quantization} ${formatBytes(written)} (${(float32 / written).toFixed(2)}x smaller): ${f.outDir}${adapter ? ` (the adapter ${adapter.dir} merged)` : ''}`);
    } finally {
      quantized.dispose();
    }
    return 0;
  });
}

// A sharded Hugging Face model: model.safetensors.index.json maps each tensor to the file (shard)
// that holds it, as transformers' save_pretrained writes a model larger than its max_shard_size
// (5 GB by default: gpt2-xl in float32 is 6.4 GB). Every shard it names is read.
import { parseJSONText } from '../../io/json-text.js';
import { show } from '../../io/value-ranges.js';
import { isMaskBuffer } from './weights.js';

/** The index's weight_map (tensor name -> shard file, a plain name in the model's directory); `at` names the index in errors. */
export function parseShardIndex(text: string, at: string): Map<string, string> {
  const json = parseJSONText(text, (why) => {
    throw new Error(`${at}: ${why}`);
  });
  const map = isRecord(json) ? json.weight_map : undefined;
  if (!isRecord(map) || Object.keys(map).length === 0) {
    throw new Error(`${at}: expected an object whose weight_map maps tensor names to shard files, got weight_map ${show(map)}`);
  }
  for (const [name, file] of Object.entries(map)) {
    // a path elsewhere (../x, /etc/x) is not a shard of this model
    if (typeof file !== 'string' || !/^[^/\\]+$/.test(file) || file === '.' || file === '..') {
      throw new Error(`${at}: weight_map[${JSON.stringify(name)}] must name a file in the model's directory, got ${show(file)}`);
    }
  }
  return new Map(Object.entries(map as Record<string, string>));
}

/** A sharded model's index: its name in the model's directory, and its weight_map (parseShardIndex's). */
export interface ShardIndex {
  file: string;
  weightMap: ReadonlyMap<string, string>;
}

/** A tensor the index places in a shard that does not hold it (a shard from another save?), or null; the shards' headers (their tensors' names) are enough. */
export function shardIndexProblem(weightMap: ReadonlyMap<string, string>, shards: readonly { file: string; reader: { entries: readonly { name: string }[] } }[]): string | null {
  const held = new Map(shards.map((s) => [s.file, new Set(s.reader.entries.map((e) => e.name))]));
  for (const [name, file] of weightMap) {
    if (isMaskBuffer(name)) continue; // not read
    if (!held.get(file)?.has(name)) return `weight_map places '${name}' in ${file}, which does not hold it`;
  }
  return null;
}

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

// `--config FILE.json`: flag values in a JSON object (keys spelled as flags are: camelCase,
// kebab-case or snake_case), checked against the known flags, their types and ranges exactly as
// on the command line.
import { readRegularFile } from '../io/regular-files.js';
import { checkSetting, flagName, settingKey, UsageError, type FlagSpec } from './flags.js';

export async function readConfigFile<T extends Record<string, unknown>>(path: string, spec: FlagSpec<T>): Promise<Partial<T>> {
  let parsed: unknown;
  try {
    // TextDecoder drops a leading byte-order mark, which some editors write (Buffer.toString keeps it)
    parsed = JSON.parse(new TextDecoder().decode(await readRegularFile(path)));
  } catch (e) {
    throw new UsageError(`cannot read config ${path}: ${(e as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UsageError(`config ${path}: expected a JSON object`);
  const out: Record<string, unknown> = {};
  const spelled = new Map<string, string>(); // each setting's key as the file spells it
  for (const [rawKey, v] of Object.entries(parsed)) {
    const key = settingKey(rawKey);
    if (!Object.hasOwn(spec.defaults, key)) throw new UsageError(`config ${path}: unknown setting '${rawKey}'`);
    const earlier = spelled.get(key);
    if (earlier !== undefined) throw new UsageError(`config ${path}: '${earlier}' and '${rawKey}' are the same setting (${flagName(key)}); give it once`);
    spelled.set(key, rawKey);
    checkSetting(spec, key, v, `config ${path}: '${rawKey}'`);
    out[key] = v;
  }
  return out as Partial<T>;
}

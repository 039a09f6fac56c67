// `--config FILE.json`: flag values in a JSON object (keys spelled as flags are: camelCase,
// kebab-case or snake_case), checked against the known flags, their types and ranges exactly as
// on the command line.
import { readRegularFile } from '../node/regular-files.js';
import { checkSetting, flagName, foreignSetting, settingKey, unknownSetting, UsageError, type FlagSpec } from './flags.js';

/** A line `name = value` (a comment or blank lines may come first). */
const PYTHON_ASSIGNMENT = /^\s*(#.*\n\s*)*[A-Za-z_]\w*\s*=[^=]/;
const PYTHON_AS_JSON = `the same settings as one object: n_layer = 6 and dropout = 0.2 are {"n_layer": 6, "dropout": 0.2} (True/False are true/false)`;

export async function readConfigFile<T extends Record<string, unknown>>(path: string, spec: FlagSpec<T>): Promise<Partial<T>> {
  let text: string;
  try {
    // TextDecoder drops a leading byte-order mark, which some editors write (Buffer.toString keeps it)
    text = new TextDecoder().decode(await readRegularFile(path));
  } catch (e) {
    throw new UsageError(`cannot read config ${path}: ${(e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    // nanoGPT's configs are Python files of `name = value` lines, which it runs
    if (PYTHON_ASSIGNMENT.test(text)) throw new UsageError(`config ${path} is Python, as nanoGPT's config files are: --config takes JSON, ${PYTHON_AS_JSON}`);
    throw new UsageError(`cannot read config ${path}: ${(e as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UsageError(`config ${path}: expected a JSON object`);
  // every unknown key at once: a config of nanoGPT's names (wandb_*, dataset, ...) is put right in one go
  const unknown = Object.keys(parsed).filter((rawKey) => !Object.hasOwn(spec.defaults, settingKey(rawKey)));
  if (unknown.length === 1) throw unknownSetting(spec, settingKey(unknown[0]!), `config ${path}: unknown setting '${unknown[0]}'`, "keys are the command's flags, see --help");
  if (unknown.length > 1) {
    const named = unknown.map((rawKey) => {
      const instead = foreignSetting(spec, settingKey(rawKey));
      return instead === undefined ? `'${rawKey}'` : `'${rawKey}' (${instead})`;
    });
    throw new UsageError(`config ${path}: ${unknown.length} unknown settings: ${named.join(', ')} (keys are the command's flags, see --help)`);
  }
  const out: Record<string, unknown> = {};
  const spelled = new Map<string, string>(); // each setting's key as the file spells it
  for (const [rawKey, v] of Object.entries(parsed)) {
    const key = settingKey(rawKey);
    const earlier = spelled.get(key);
    if (earlier !== undefined) throw new UsageError(`config ${path}: '${earlier}' and '${rawKey}' are the same setting (${flagName(key)}); give it once`);
    spelled.set(key, rawKey);
    checkSetting(spec, key, v, `config ${path}: '${rawKey}'`);
    out[key] = v;
  }
  return out as Partial<T>;
}

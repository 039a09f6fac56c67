// A command's config file: `--config FILE`, or FILE bare as nanoGPT's `python train.py FILE` names it.
// JSON: flag values in an object (keys spelled as flags are: camelCase, kebab-case or snake_case).
// Python: nanoGPT's config/*.py (python-config.ts), run over its script's defaults as nanoGPT runs it.
// Either way each value is checked as on the command line, and nanoGPT's names are taken as flags take them.
import { readRegularFile } from '../node/regular-files.js';
import { checkPathSettings, checkSetting, flagName, foreignSetting, nanoGptSetting, parseFlags, printNote, settingKey, showDefault, unknownSetting, UsageError, type FlagSpec, type NanoGptScript, type Note } from './flags.js';
import { readPythonConfig } from './python-config.js';

/** A config file's settings; `names`: how an error names each (the file's key, and its line); `underneath`: the defaults of the nanoGPT script (`script`) a Python config runs over. */
export interface ConfigSettings<T> {
  values: Partial<T>;
  names: Map<string, string>;
  underneath: Partial<T>;
  script?: NanoGptScript;
}

async function readConfigFile<T extends Record<string, unknown>>(path: string, spec: FlagSpec<T>, note: Note): Promise<ConfigSettings<T>> {
  let text: string;
  try {
    // TextDecoder drops a leading byte-order mark, which some editors write (Buffer.toString keeps it)
    text = new TextDecoder().decode(await readRegularFile(path));
  } catch (e) {
    throw new UsageError(`cannot read config ${path}: ${(e as Error).message}`);
  }
  // JSON is an object; nanoGPT's configs are Python, which never starts with '{'
  return /^\s*\{/.test(text) || path.endsWith('.json') ? readJson(path, text, spec, note) : readPython(path, text, spec, note);
}

function readJson<T extends Record<string, unknown>>(path: string, text: string, spec: FlagSpec<T>, note: Note): ConfigSettings<T> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`cannot read config ${path}: ${(e as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UsageError(`config ${path}: expected a JSON object`);
  // every unknown key at once: a config of another program's names is put right in one go
  const known = (key: string) => Object.hasOwn(spec.defaults, key) || (spec.nanogpt !== undefined && Object.hasOwn(spec.nanogpt.names, key));
  const unknown = Object.keys(parsed).filter((rawKey) => !known(settingKey(rawKey)));
  if (unknown.length === 1) throw unknownSetting(spec, settingKey(unknown[0]!), `config ${path}: unknown setting '${unknown[0]}'`, "keys are the command's flags, see --help");
  if (unknown.length > 1) {
    const named = unknown.map((rawKey) => {
      const instead = foreignSetting(spec, settingKey(rawKey));
      return instead === undefined ? `'${rawKey}'` : `'${rawKey}' (${instead})`;
    });
    throw new UsageError(`config ${path}: ${unknown.length} unknown settings: ${named.join(', ')} (keys are the command's flags, see --help)`);
  }
  const values: Record<string, unknown> = {};
  const names = new Map<string, string>();
  const spelled = new Map<string, string>(); // each setting's key as the file spells it
  for (const [rawKey, v] of Object.entries(parsed)) {
    const setting = nanoGptSetting(spec, settingKey(rawKey), v, `config ${path}: '${rawKey}'`, note);
    if (!setting) continue;
    const [key, value] = setting;
    const earlier = spelled.get(key);
    if (earlier !== undefined) throw new UsageError(`config ${path}: '${earlier}' and '${rawKey}' are the same setting (${flagName(key)}); give it once`);
    spelled.set(key, rawKey);
    checkSetting(spec, key, value, `config ${path}: '${rawKey}'`);
    values[key] = value;
    names.set(key, `config ${path}: '${key}'`);
  }
  return { values: values as Partial<T>, names, underneath: {} };
}

/** nanoGPT's config: its assignments in order (a later one wins, as in Python), over the script's defaults. */
function readPython<T extends Record<string, unknown>>(path: string, text: string, spec: FlagSpec<T>, note: Note): ConfigSettings<T> {
  const nano = spec.nanogpt;
  if (!nano) throw new UsageError(`config ${path} is not JSON (a Python config is nanoGPT's, which gpt train, sample and eval take)`);
  const entry = (name: string) => (Object.hasOwn(nano.names, settingKey(name)) ? nano.names[settingKey(name)] : undefined);
  // a setting skipped anyway may hold any Python (nanoGPT's `wandb_run_name = 'ft-' + str(time.time())`)
  const skipped = (name: string) => entry(name) !== undefined && !entry(name)!.as && !entry(name)!.refuse;
  const values: Record<string, unknown> = {};
  const names = new Map<string, string>();
  const assignments = readPythonConfig(text, `config ${path}`, nano.globals, skipped);
  // every unknown name at once, each where it is first bound, as a JSON config's keys
  const firstLines = new Map<string, number>();
  for (const { name, line } of assignments) {
    if (!Object.hasOwn(nano.globals, name) && !Object.hasOwn(spec.defaults, settingKey(name)) && !entry(name) && !firstLines.has(name)) firstLines.set(name, line);
  }
  const unknown = [...firstLines];
  if (unknown.length === 1) throw new UsageError(`config ${path} line ${unknown[0]![1]}: '${unknown[0]![0]}' is no setting of nanoGPT's ${nano.script} nor of this command (see --help)`);
  if (unknown.length > 1) {
    const named = unknown.map(([name, line]) => `'${name}' (line ${line})`).join(', ');
    throw new UsageError(`config ${path}: ${unknown.length} names are no setting of nanoGPT's ${nano.script} nor of this command: ${named} (see --help)`);
  }
  for (const { name, value, line, source } of assignments) {
    const where = `config ${path} line ${line}: '${name}'`;
    if (value === null) {
      note(`config ${path} line ${line}: ${name} = ${source} skipped: nanoGPT's ${name} is ignored here`);
      continue;
    }
    const setting = nanoGptSetting(spec, settingKey(name), value.value, where, note);
    if (!setting) continue;
    checkSetting(spec, setting[0], setting[1], where);
    values[setting[0]] = setting[1];
    names.set(setting[0], where);
  }
  const underneath = Object.fromEntries(Object.entries(nano.underneath).filter(([key]) => !Object.hasOwn(values, key)));
  for (const key of Object.keys(underneath)) names.set(key, `config ${path}: nanoGPT's ${nano.script} default ${flagName(key)}`);
  return { values: values as Partial<T>, names, underneath: underneath as Partial<T>, script: nano };
}

/** How an error names setting `key` of resolved settings: as the config file spells it (their `names`), else as its flag. */
export const settingName = (names: ReadonlyMap<string, string>) => (key: string) => names.get(key) ?? `flag ${flagName(key)}`;

/**
 * A command's settings: its defaults; for a Python config, its nanoGPT script's defaults; then, in
 * nanoGPT's order, the flags before a bare config file, the file, the flags after it (--config FILE:
 * the file, then every flag). `names` names each setting from the file as its errors should.
 */
export async function resolveSettings<T extends Record<string, unknown> & { config: string }>(args: string[], spec: FlagSpec<T>, print: Note = printNote): Promise<Settings<T>> {
  const noted = new Set<string>(); // each once: three wandb settings share one, and a flag before a bare config file is read twice
  const note: Note = (line) => {
    if (!noted.has(line)) print(line);
    noted.add(line);
  };
  const cli = parseFlags(args, spec, false, note); // paths looked at once the config file's values are checked too
  const [bare, second] = cli.positional;
  if (second !== undefined) throw new UsageError(`unexpected argument '${second}': give one config file (got ${bare} and ${second})`);
  if (bare !== undefined && cli.given.has('config')) throw new UsageError(`unexpected argument '${bare}': give one config file (--config ${cli.values.config} is one)`);
  if (bare !== undefined) checkPathSettings(spec, { ...cli.values, config: bare } as T, ['config'], () => 'config file');
  else if (cli.given.has('config')) checkPathSettings(spec, cli.values, ['config']);
  const path = bare ?? cli.values.config;
  const settings = path
    ? await withConfigFile(path, bare === undefined ? cli.given : parseFlags(args.slice(cli.positionalAt[0]! + 1), spec, false).given)
    : { values: cli.values, given: new Set<string>(cli.given), names: cli.names, underneath: new Set<string>(), fromPython: new Set<string>() };
  if (settings.values.data && settings.values.dataDir) throw new UsageError('give --data or --data-dir, not both');
  return settings;

  /** The layers, with the flags given after the config file (`after`: all of them, for --config). */
  async function withConfigFile(path: string, after: ReadonlySet<string>): Promise<Settings<T>> {
    const file = await readConfigFile(path, spec, note);
    if (file.values.config !== undefined) throw new UsageError(`config ${path}: a config file cannot name another ('config')`);
    const before = [...cli.given].filter((key) => !after.has(key));
    const values = { ...spec.defaults, ...file.underneath, ...pick(cli.values, before), ...file.values, ...pick(cli.values, [...after]), config: path };
    const given = new Set<string>([...cli.given, ...Object.keys(file.values)]);
    const underneath = new Set(Object.keys(file.underneath).filter((key) => !given.has(key)));
    // data under a Python config is train.py's dataset, read as train.py reads it: a text given as --data takes its place, with our tokenizer
    if (values.data && underneath.delete('dataDir')) Object.assign(values, { dataDir: '' }, underneath.delete('tokenizer') && { tokenizer: spec.defaults.tokenizer });
    const fileNames = [...file.names].filter(([key]) => !after.has(key) && (underneath.has(key) || !Object.hasOwn(file.underneath, key)));
    const names = new Map([...fileNames, ...[...cli.names].filter(([key]) => after.has(key))]);
    if (file.script) {
      const differ = [...underneath].filter((key) => values[key] !== spec.defaults[key]).map((key) => `${flagName(key)} ${file.script!.underneathShown?.[key] ?? showDefault(values[key])}`);
      note(`config ${path} runs over nanoGPT's ${file.script.script} defaults, as nanoGPT runs it: the settings neither it nor a flag gives take those${differ.length ? `, not ours: ${differ.join(', ')}` : ' (ours, where it leaves one out)'}`);
    }
    const fromPython = new Set(file.script ? Object.keys(file.values).filter((key) => !after.has(key)) : []);
    return { values, given, names, underneath, fromPython };
  }
}

/** A command's settings; `given`: set on the command line or in the config file; `underneath`: set by a Python config's nanoGPT defaults alone; `fromPython`: set by a Python config's own lines (no flag after it); `names`: how an error names a setting from the file, or given under another name (`flag --dataset`). */
interface Settings<T> {
  values: T;
  given: Set<string>;
  names: Map<string, string>;
  underneath: Set<string>;
  fromPython: Set<string>;
}

export function pick<T extends object>(o: T, keys: string[]): Partial<T> {
  return Object.fromEntries(keys.filter((k) => Object.hasOwn(o, k)).map((k) => [k, o[k as keyof T]])) as Partial<T>;
}

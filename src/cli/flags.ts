// Flag parsing for the CLI: `--name value` (or `--name=value`) mapped onto camelCase keys of a
// defaults object, typed by the default's type, each number checked against its declared range.
// A name may be spelled kebab-case, snake_case or camelCase, on the command line and in a config
// file alike (--max-iters, --max_iters, "max_iters", "maxIters"). Values are what a config file's
// JSON allows: numbers in decimal (1e-3, not 0x10), booleans true or false (not 1 or 0). A boolean
// flag alone means true and takes an explicit true/false after it. nanoGPT's own form, --key=value
// with its script's name (--compile=False), is read as its configurator reads it. Unknown flags and
// bad values are one-line usage errors.
import { describeRange, settingProblem, show, type Range, type RangesOf } from '../io/value-ranges.js';
import { pathFlagProblem, type PathFlag } from './path-flags.js';
import { pythonLiteral, type PyValue } from './python-config.js';
import { UsageError } from './usage-error.js';

export { UsageError };

/**
 * A command's settings as data: their defaults, the range of every numeric one, the choices of a
 * string one, and what each does (every setting has a line in --help: a missing one is a type error).
 */
export interface FlagSpec<T extends Record<string, unknown>> {
  defaults: T;
  ranges: RangesOf<T>;
  choices?: { [K in keyof T]?: readonly string[] };
  docs: { [K in keyof T]: string };
  /** Defaults that depend on other settings, shown in words instead of the default's value. */
  defaultsShown?: { [K in keyof T]?: string };
  /** Names (by key) that are no setting here but another program's or another command's, each with what to give instead. */
  foreign?: Record<string, string>;
  /** The settings that name paths, and what each takes: a value given is looked at once every value has passed its own check (checkPathSettings). */
  paths?: { [K in keyof T]?: PathFlag };
  /** The nanoGPT script this command stands for: its names taken here, its --key=value read as its configurator reads them. */
  nanogpt?: NanoGptScript;
}

/** A nanoGPT setting not spelled as ours: the setting it is here (`as`, its value mapped), or none. */
export interface NanoGptName {
  as?: string;
  value?: (v: PyValue['value']) => unknown;
  /** Why a value is skipped or taken otherwise, for a one-line note; undefined: taken as it is. */
  note?: (v: PyValue['value']) => string | undefined;
  /** Why a value is refused, or undefined. */
  refuse?: (v: PyValue['value']) => string | undefined;
  /** A name a config file may set (and is noted) but the command line may not, as nanoGPT's configurator has it. */
  fileOnly?: boolean;
}

/** The nanoGPT script a command stands for. */
export interface NanoGptScript {
  script: 'train.py' | 'sample.py';
  /** Its globals as it spells them: names a config may use, and the types its --key=value must keep. */
  globals: Readonly<Record<string, PyValue>>;
  /** Its names not spelled as ours, by setting key (gradientAccumulationSteps). */
  names: Readonly<Record<string, NanoGptName>>;
  /** Our settings its defaults set under a Python config (nanoGPT runs a config over them), and how a note shows those a value alone would not explain. */
  underneath: Readonly<Record<string, unknown>>;
  underneathShown?: Readonly<Record<string, string>>;
}

/** Takes a one-line note (a nanoGPT setting skipped or taken otherwise). */
export type Note = (line: string) => void;
export const printNote: Note = (line) => console.error(`note: ${line}`);

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
/** The key a flag or config-file name stands for, whichever of the three spellings it uses. */
export const settingKey = (name: string) => name.replace(/[-_]([a-z0-9])/g, (_, c: string) => c.toUpperCase());
export const flagName = (key: string) => `--${kebab(key)}`;

const BOOLEANS = ['true', 'false'];
/** Taken as a boolean flag's value (and refused unless true/false), not as the next argument; Python's spellings too, to be told ours. */
const BOOLEAN_LIKE = /^(true|false|True|False|[01])$/;
/** A decimal number, as JSON writes one and a person types one (+1, .5, 1.); not hex, octal, binary or Infinity. */
export const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/**
 * The flags in `args`, each value checked; then the paths given, unless `checkPaths` is false (a
 * caller with more settings to read first). nanoGPT's names are taken as the command's nanoGPT
 * script has them (those skipped are noted). `positionalAt`: where each positional argument stands in `args`;
 * `names`: how an error names a setting given under another name (`flag --dataset` for dataDir).
 */
export function parseFlags<T extends Record<string, unknown>>(
  args: string[],
  spec: FlagSpec<T>,
  checkPaths = true,
  note: Note = () => {},
): { values: T; positional: string[]; positionalAt: number[]; given: Set<keyof T & string>; names: Map<string, string> } {
  const values: Record<string, unknown> = { ...spec.defaults };
  const positional: string[] = [];
  const positionalAt: number[] = [];
  const given = new Set<keyof T & string>();
  const names = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--')) {
      positional.push(arg);
      positionalAt.push(i);
      continue;
    }
    const [rawName, inline] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    const key = settingKey(rawName);
    const nano = spec.nanogpt;
    const nanoName = nano && Object.hasOwn(nano.names, key) && !nano.names[key]!.fileOnly ? nano.names[key] : undefined;
    if (!Object.hasOwn(spec.defaults, key) && !nanoName) throw unknownSetting(spec, key, `unknown flag --${rawName}`, 'see --help');
    const name = `flag --${rawName}`;
    let value: unknown;
    let shown: string;
    if (nano && inline !== undefined && Object.hasOwn(nano.globals, rawName)) {
      // nanoGPT's --key=value, as its configurator reads it
      value = configuratorValue(rawName, inline, nano);
      shown = `'${inline}'`;
    } else {
      const def = Object.hasOwn(spec.defaults, key) ? spec.defaults[key] : nano!.globals[pyName(key)]?.value;
      let raw: string;
      if (typeof def === 'boolean') {
        // `--kv-cache false` as well as `--kv-cache=false`; a bare flag means true
        raw = inline ?? (BOOLEAN_LIKE.test(args[i + 1] ?? '') ? args[++i]! : 'true');
      } else {
        const next = inline ?? args[++i];
        if (next === undefined) throw new UsageError(`flag --${rawName} needs a value`);
        raw = next;
      }
      value = convert(rawName, raw, def);
      shown = `'${raw}'`;
    }
    const setting = nanoGptSetting(spec, key, value, name, note);
    if (!setting) continue;
    checkSetting(spec, setting[0], setting[1], name, setting[0] === key ? shown : undefined);
    values[setting[0]] = setting[1];
    given.add(setting[0] as keyof T & string);
    if (setting[0] === key) names.delete(key);
    else names.set(setting[0], name);
  }
  if (checkPaths) checkPathSettings(spec, values as T, given, (key) => names.get(key) ?? `flag ${flagName(key)}`);
  return { values: values as T, positional, positionalAt, given, names };
}

/** nanoGPT's spelling of a setting key: gradientAccumulationSteps is gradient_accumulation_steps. */
export const pyName = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * A value of nanoGPT's --key=value as its configurator.py takes it: Python's literal (False, 1e-3,
 * 'text'), else the text itself; of the type of the script's default, as nanoGPT's assert wants it,
 * except an int where a float belongs (--dropout=0), taken as the float: nothing is lost by it.
 */
function configuratorValue(name: string, raw: string, nano: NanoGptScript): unknown {
  const literal = pythonLiteral(raw, `flag --${name}=${raw}`) ?? { type: 'str', value: raw };
  const want = nano.globals[name]!;
  if (literal.type === want.type || (literal.type === 'int' && want.type === 'float')) return literal.value;
  const wanted = `${want.type === 'int' ? 'an' : 'a'} ${want.type} (${nano.script}'s default ${want.type === 'float' && Number.isInteger(want.value) ? `${want.value}.0` : showPython(want.value)})`;
  throw new UsageError(`flag --${name}=${raw}: nanoGPT's configurator reads ${literal.type} ${raw} here, and ${name} is ${wanted}`);
}

/** A Python value as Python prints it (repr). */
export const showPython = (v: unknown) => (typeof v === 'string' ? `'${v}'` : v === null ? 'None' : typeof v === 'boolean' ? (v ? 'True' : 'False') : String(v));

/**
 * The setting `key = value` is for this command, where `key` may be one of its nanoGPT script's names:
 * [our key, the value as taken] or null where it is skipped (noted); refused with `name` where it would change the run.
 */
export function nanoGptSetting<T extends Record<string, unknown>>(spec: FlagSpec<T>, key: string, value: unknown, name: string, note: Note): [string, unknown] | null {
  const entry = spec.nanogpt && Object.hasOwn(spec.nanogpt.names, key) ? spec.nanogpt.names[key]! : undefined;
  if (!entry) return [key, value];
  const v = value as PyValue['value'];
  const refused = entry.refuse?.(v);
  if (refused) throw new UsageError(`${name}: ${refused}`);
  const why = entry.note?.(v);
  if (why) note(why);
  return entry.as ? [entry.as, entry.value ? entry.value(v) : value] : null;
}

/** What to give instead of `key`, another program's name for a setting (own keys only: not 'constructor'). */
export function foreignSetting<T extends Record<string, unknown>>(spec: FlagSpec<T>, key: string): string | undefined {
  return spec.foreign && Object.hasOwn(spec.foreign, key) ? spec.foreign[key] : undefined;
}

/** `what` (an unknown flag or config key) refused, saying what to give instead where it is another program's name, else `otherwise`. */
export function unknownSetting<T extends Record<string, unknown>>(spec: FlagSpec<T>, key: string, what: string, otherwise: string): UsageError {
  const instead = foreignSetting(spec, key);
  return new UsageError(instead === undefined ? `${what} (${otherwise})` : `${what}: ${instead}`);
}

/** The one check of a setting's value, from the command line or a config file. */
export function checkSetting<T extends Record<string, unknown>>(spec: FlagSpec<T>, key: string, value: unknown, name: string, shown?: string): void {
  const problem = settingProblem(name, value, spec.defaults[key], (spec.ranges as Record<string, Range>)[key], shown);
  if (problem) throw new UsageError(problem);
  const choices = spec.choices?.[key];
  if (choices && !choices.includes(value as string)) throw new UsageError(`${name} must be one of ${choices.join(', ')}, got ${shown ?? show(value)}`);
}

/**
 * Looks at the paths the settings `keys` name (path-flags.ts), once every value has passed its own
 * check: a bad number is refused before any path is looked at. `name` names a setting in errors.
 */
export function checkPathSettings<T extends Record<string, unknown>>(spec: FlagSpec<T>, values: T, keys: Iterable<string>, name = (key: string) => `flag ${flagName(key)}`): void {
  for (const key of keys) {
    const rule = spec.paths?.[key];
    const problem = rule && pathFlagProblem(name(key), values[key] as string, rule);
    if (problem) throw new UsageError(problem);
  }
}

function convert(name: string, raw: string, def: unknown): unknown {
  if (typeof def === 'number') {
    if (!DECIMAL.test(raw)) throw new UsageError(`flag --${name} expects a decimal number, got '${raw}'`);
    return Number(raw);
  }
  if (typeof def === 'boolean') {
    if (!BOOLEANS.includes(raw)) throw new UsageError(`flag --${name} expects true or false, got '${raw}'${pythonBoolean(raw)}`);
    return raw === 'true';
  }
  return raw;
}

/** nanoGPT's configurator reads --bias=False as Python: name our spelling of it. */
const pythonBoolean = (raw: string) => (raw === 'True' || raw === 'False' ? ` (Python's ${raw} is ${raw.toLowerCase()} here)` : '');

export function noPositional(positional: string[]): void {
  if (positional.length) throw new UsageError(`unexpected argument '${positional[0]}'`);
}

/** Help lines for every setting: what it does, its default and, for a number, its allowed range. */
export function flagHelp<T extends Record<string, unknown>>(spec: FlagSpec<T>): string {
  return Object.entries(spec.defaults)
    .map(([k, v]) => {
      const range = (spec.ranges as Record<string, Range>)[k];
      const shown = (spec.defaultsShown as Record<string, string> | undefined)?.[k] ?? showDefault(v);
      return `  --${kebab(k).padEnd(18)} ${(spec.docs as Record<string, string>)[k]} (default: ${shown}${range ? `; ${describeRange(range)}` : ''})`;
    })
    .join('\n');
}

/** A value as typed on a command line: bare words as they are, text with spaces or control characters quoted. */
export function showDefault(v: unknown): string {
  if (v === '') return 'none';
  if (typeof v !== 'string' || /^[\w./:@+-]+$/.test(v)) return String(v);
  return JSON.stringify(v);
}

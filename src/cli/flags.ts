// Flag parsing for the CLI: `--kebab-case value` (or `--flag=value`) mapped onto camelCase keys of a
// defaults object, typed by the default's type, each number checked against its declared range.
// Unknown flags and bad values are one-line usage errors.
import { describeRange, settingProblem, show, type Range, type RangesOf } from '../io/value-ranges.js';

export class UsageError extends Error {}

/** A command's settings: their defaults, the range of every numeric one and the choices of a string one (as data, next to them). */
export interface FlagSpec<T extends Record<string, unknown>> {
  defaults: T;
  ranges: RangesOf<T>;
  choices?: { [K in keyof T]?: readonly string[] };
}

const camel = (s: string) => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
export const flagName = (key: string) => `--${kebab(key)}`;

export function parseFlags<T extends Record<string, unknown>>(
  args: string[],
  spec: FlagSpec<T>,
): { values: T; positional: string[]; given: Set<keyof T & string> } {
  const values: Record<string, unknown> = { ...spec.defaults };
  const positional: string[] = [];
  const given = new Set<keyof T & string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const [rawName, inline] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    const key = camel(rawName);
    if (!Object.hasOwn(spec.defaults, key)) throw new UsageError(`unknown flag --${rawName} (see --help)`);
    const def = spec.defaults[key];
    let raw: string;
    if (typeof def === 'boolean') {
      raw = inline ?? 'true';
    } else {
      const next = inline ?? args[++i];
      if (next === undefined) throw new UsageError(`flag --${rawName} needs a value`);
      raw = next;
    }
    const value = convert(rawName, raw, def);
    checkSetting(spec, key, value, `flag --${rawName}`, `'${raw}'`);
    values[key] = value;
    given.add(key);
  }
  return { values: values as T, positional, given };
}

/** The one check of a setting's value, from the command line or a config file. */
export function checkSetting<T extends Record<string, unknown>>(spec: FlagSpec<T>, key: string, value: unknown, name: string, shown?: string): void {
  const problem = settingProblem(name, value, spec.defaults[key], (spec.ranges as Record<string, Range>)[key], shown);
  if (problem) throw new UsageError(problem);
  const choices = spec.choices?.[key];
  if (choices && !choices.includes(value as string)) throw new UsageError(`${name} must be one of ${choices.join(', ')}, got ${shown ?? show(value)}`);
}

function convert(name: string, raw: string, def: unknown): unknown {
  if (typeof def === 'number') {
    if (raw.trim() === '' || Number.isNaN(Number(raw))) throw new UsageError(`flag --${name} expects a number, got '${raw}'`);
    return Number(raw);
  }
  if (typeof def === 'boolean') {
    if (!['true', 'false', '1', '0'].includes(raw)) throw new UsageError(`flag --${name} expects true or false, got '${raw}'`);
    return raw === 'true' || raw === '1';
  }
  return raw;
}

export function noPositional(positional: string[]): void {
  if (positional.length) throw new UsageError(`unexpected argument '${positional[0]}'`);
}

/** Help lines for every setting, with its default and, for a number, its allowed range. */
export function flagHelp<T extends Record<string, unknown>>(spec: FlagSpec<T>, docs: Record<string, string> = {}): string {
  return Object.entries(spec.defaults)
    .map(([k, v]) => {
      const range = (spec.ranges as Record<string, Range>)[k];
      const shown = v === '' ? 'none' : JSON.stringify(v).replace(/^"(.*)"$/, '$1');
      return `  --${kebab(k).padEnd(18)} ${docs[k] ? `${docs[k]} ` : ''}(default: ${shown}${range ? `; ${describeRange(range)}` : ''})`;
    })
    .join('\n');
}

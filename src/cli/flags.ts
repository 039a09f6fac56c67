// Flag parsing for the CLI: `--kebab-case value` (or `--flag=value`) mapped onto camelCase keys of a
// defaults object, typed by the default's type. Unknown flags and bad values are one-line errors.
export class UsageError extends Error {}

const camel = (s: string) => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
export const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export function parseFlags<T extends Record<string, unknown>>(
  args: string[],
  defaults: T,
  /** Flags that take no value. */
  booleans: readonly string[] = [],
): { values: T; positional: string[]; given: Set<string> } {
  const values: Record<string, unknown> = { ...defaults };
  const positional: string[] = [];
  const given = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const [rawName, inline] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    const key = camel(rawName);
    if (!(key in defaults)) throw new UsageError(`unknown flag --${rawName} (see --help)`);
    const def = defaults[key];
    let raw: string;
    if (typeof def === 'boolean' || booleans.includes(key)) {
      raw = inline ?? 'true';
    } else {
      const next = inline ?? args[++i];
      if (next === undefined) throw new UsageError(`flag --${rawName} needs a value`);
      raw = next;
    }
    values[key] = convert(rawName, raw, def);
    given.add(key);
  }
  return { values: values as T, positional, given };
}

function convert(name: string, raw: string, def: unknown): unknown {
  if (typeof def === 'number') {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n)) throw new UsageError(`flag --${name} expects a number, got '${raw}'`);
    return n;
  }
  if (typeof def === 'boolean') {
    if (!['true', 'false', '1', '0'].includes(raw)) throw new UsageError(`flag --${name} expects true or false, got '${raw}'`);
    return raw === 'true' || raw === '1';
  }
  return raw;
}

/** Help lines for every key of `defaults`, with their default values. */
export function flagHelp(defaults: Record<string, unknown>, docs: Record<string, string> = {}): string {
  return Object.entries(defaults)
    .map(([k, v]) => `  --${kebab(k).padEnd(18)} ${docs[k] ? `${docs[k]} ` : ''}(default: ${v === '' ? 'none' : String(v)})`)
    .join('\n');
}

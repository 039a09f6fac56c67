// `--config FILE.json`: flag values in a JSON object (camelCase or kebab-case keys), checked
// against the known flags and their types.
import { readFile } from 'node:fs/promises';
import { UsageError } from './flags.js';

const camel = (s: string) => s.replace(/[-_]([a-z])/g, (_, c: string) => c.toUpperCase());

export async function readConfigFile(path: string, defaults: Record<string, unknown>): Promise<Record<string, unknown>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new UsageError(`cannot read config ${path}: ${(e as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UsageError(`config ${path}: expected a JSON object`);
  const out: Record<string, unknown> = {};
  for (const [rawKey, v] of Object.entries(parsed)) {
    const key = camel(rawKey);
    if (!(key in defaults)) throw new UsageError(`config ${path}: unknown setting '${rawKey}'`);
    if (typeof v !== typeof defaults[key]) throw new UsageError(`config ${path}: '${rawKey}' must be a ${typeof defaults[key]}, got ${JSON.stringify(v)}`);
    out[key] = v;
  }
  return out;
}

// Where training text comes from: a UTF-8 file, a URL (when online), or the built-in default —
// the English prose of the web-platform API documentation that ships inside the `typescript` npm
// package (the JSDoc comments of lib.dom.d.ts, ~690k characters), so the main command works
// offline right after set-up without any text copied into this repository.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { readRegularFile } from '../io/regular-files.js';

export const BUILTIN_CORPUS = 'builtin:webdocs';

export async function loadCorpus(source: string): Promise<string> {
  if (source === BUILTIN_CORPUS) return builtinCorpus();
  if (/^https?:\/\//.test(source)) {
    let res: Response;
    try {
      res = await fetch(source);
    } catch (e) {
      throw new Error(`cannot download ${source}: ${(e as Error).message}`);
    }
    if (!res.ok) throw new Error(`cannot download ${source}: HTTP ${res.status}`);
    return res.text();
  }
  let bytes: Buffer;
  try {
    bytes = await readRegularFile(source);
  } catch (e) {
    throw new Error(`cannot read ${source}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new Error(`${source} is not valid UTF-8 text`);
  }
}

async function builtinCorpus(): Promise<string> {
  const require = createRequire(import.meta.url);
  let path: string;
  try {
    path = require.resolve('typescript/lib/lib.dom.d.ts');
  } catch {
    throw new Error(`the built-in corpus needs the 'typescript' package (npm install), or pass --data FILE`);
  }
  const source = await readFile(path, 'utf8');
  const docs: string[] = [];
  for (const m of source.matchAll(/\/\*\*([\s\S]*?)\*\//g)) {
    const text = m[1]!
      .split('\n')
      .map((l) => l.replace(/^\s*\* ?/, ''))
      .filter((l) => !l.startsWith('@') && !l.startsWith('[MDN'))
      .join(' ')
      .replace(/\s+/g, ' ')
      .trim();
    if (text.length > 20) docs.push(text);
  }
  return docs.join('\n') + '\n';
}

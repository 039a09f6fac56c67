// Where training text comes from: a UTF-8 file, a URL (when online), or the built-in default —
// the English prose of the web-platform API documentation that ships inside the `typescript` npm
// package (the JSDoc comments of lib.dom.d.ts, ~690k characters), so the main command works
// offline right after set-up without any text copied into this repository.
import { constants } from 'node:buffer';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { readRegularFile } from '../io/regular-files.js';

export const BUILTIN_CORPUS = 'builtin:webdocs';

/** What a download may take: the most bytes, and the longest wait for headers or the next bytes of the body. */
export interface DownloadLimits {
  maxBytes: number;
  stallMs: number;
}

// A JS string holds at most ~512M characters (buffer.constants.MAX_STRING_LENGTH), so a larger corpus
// could never be decoded anyway; a server that sends nothing would otherwise hold the run (and its
// --out-dir's lock) for undici's 300 s, and one that sends forever would fill the memory.
export const DOWNLOAD_LIMITS: DownloadLimits = { maxBytes: 256 * 2 ** 20, stallMs: 30_000 };

export async function loadCorpus(source: string, limits: DownloadLimits = DOWNLOAD_LIMITS): Promise<string> {
  if (source === BUILTIN_CORPUS) return builtinCorpus();
  let bytes: Uint8Array;
  if (/^https?:\/\//.test(source)) bytes = await download(source, limits);
  else {
    try {
      bytes = await readRegularFile(source);
    } catch (e) {
      throw new Error(`cannot read ${source}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_STRING_TOO_LONG') {
      throw new Error(`${source}: too large, more than ${constants.MAX_STRING_LENGTH} characters (the most a JavaScript string holds); split it or pass a part`);
    }
    throw new Error(`${source} is not valid UTF-8 text`);
  }
}

/** The body of `url`, given up when the server stalls for `stallMs` or sends more than `maxBytes`. */
async function download(url: string, { maxBytes, stallMs }: DownloadLimits): Promise<Uint8Array> {
  const tooLarge = `larger than ${formatBytes(maxBytes)}, the most a URL may hold (download it and pass the file)`;
  const controller = new AbortController();
  let stalled = false;
  let timer: NodeJS.Timeout | undefined;
  const progressed = () => {
    clearTimeout(timer);
    timer = setTimeout(() => ((stalled = true), controller.abort()), stallMs);
  };
  progressed();
  try {
    const res = await fetch(url, { signal: controller.signal });
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
    if (Number(res.headers.get('content-length')) > maxBytes) throw new Error(tooLarge);
    const chunks: Uint8Array[] = [];
    let total = 0;
    const reader = res.body.getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      progressed();
      total += r.value.length;
      if (total > maxBytes) throw new Error(tooLarge);
      chunks.push(r.value);
    }
    return Buffer.concat(chunks);
  } catch (e) {
    // fetch's own errors say only "fetch failed"; the cause says why (ECONNREFUSED, ENOTFOUND; a blocked port has only a message)
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    const why = stalled ? `no data from the server for ${stallMs / 1000} s` : (cause?.code ?? cause?.message ?? (e as Error).message);
    throw new Error(`cannot download ${url}: ${why}`);
  } finally {
    clearTimeout(timer);
    controller.abort(); // closes the connection of a body left unread (an error, a refusal)
  }
}

const formatBytes = (n: number) => (n >= 2 ** 20 ? `${n / 2 ** 20} MiB` : `${n} bytes`);

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

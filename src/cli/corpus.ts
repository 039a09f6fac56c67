// Where training text comes from: a UTF-8 file, a URL (when online), or the built-in default —
// the English prose of the web-platform API documentation that ships inside the `typescript` npm
// package (the JSDoc comments of lib.dom.d.ts, ~690k characters), so the main command works
// offline right after set-up without any text copied into this repository.
//
// `gpt prepare` reads a file in pieces (openCorpus), so a corpus may be larger than a JavaScript
// string holds; each piece ends where tokenization would split the text anyway.
//
// A text is read as Python's open(path, 'r') reads it (universal newlines): "\r\n" and a lone "\r"
// are "\n". So do all of nanoGPT's readers of text: shakespeare_char/prepare.py (whose train.bin,
// val.bin and meta.pkl `gpt prepare --tokenizer char` writes byte for byte), shakespeare/prepare.py
// (GPT-2's ids), the openwebtext dataset's loader (each document opened in text mode), and
// sample.py's --start=FILE:. Whichever the tokenizer (our bpe too, where nanoGPT has none), a file
// saved with Windows line ends then tokenizes as the same text saved with Unix ones; `gpt prepare`
// and `gpt train --data FILE` read it alike. (The page's text box does the same: a textarea's value
// has its line ends normalized.)
//
// A UTF-8 byte-order mark that starts a file (an editor's "UTF-8 with BOM") is dropped, as TextDecoder
// drops it by default and the page's file reader does: it marks the file's encoding, not its text, so
// a text saved with it trains as the same text saved without (no U+FEFF in a char vocabulary, no
// bytes EF BB BF at the start of GPT-2's ids). Python's open(path, 'r') keeps it as a character (only
// encoding='utf-8-sig' drops it): there nanoGPT's prepare.py differs, as docs/cli.md says. A U+FEFF
// further in is text, kept here and by the tokenizers (GPT-2's encodes it as bytes EF BB BF, as
// Hugging Face's tokenizers and tiktoken do, and decodes it back).
import { constants } from 'node:buffer';
import { existsSync } from 'node:fs';
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { createRequire } from 'node:module';
import { isDirectoryPath, openRegularFile, readRegularFile, unreadableReason } from '../node/regular-files.js';
import { UsageError } from './usage-error.js';
import { fetchFailure, stallWatch, STALL_MS, type DownloadLimits } from '../node/http-download.js';

export const BUILTIN_CORPUS = 'builtin:webdocs';

// A JS string holds at most ~512M characters (buffer.constants.MAX_STRING_LENGTH), so a larger corpus
// could never be decoded anyway; a server that sends nothing would otherwise hold the run (and its
// --out-dir's lock) for undici's 300 s, and one that sends forever would fill the memory.
const DOWNLOAD_LIMITS: DownloadLimits = { maxBytes: 256 * 2 ** 20, stallMs: STALL_MS };

/** Whether `source` names a file or directory: not the built-in corpus, not a URL. */
export const isPathSource = (source: string): boolean => source !== BUILTIN_CORPUS && !/^https?:\/\//.test(source);

/** The text of `source`, given as `flag` (which a text that is not UTF-8 names). */
export async function loadCorpus(source: string, limits: DownloadLimits = DOWNLOAD_LIMITS, flag = '--data'): Promise<string> {
  if (source === BUILTIN_CORPUS) return builtinCorpus();
  let bytes: Uint8Array;
  if (/^https?:\/\//.test(source)) bytes = await download(source, limits);
  else {
    refusePreparedIds(source, flag);
    try {
      bytes = await readRegularFile(source);
    } catch (e) {
      throw new Error(`cannot read ${source}: ${unreadableReason(e)}`);
    }
  }
  try {
    return universalNewlines(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_STRING_TOO_LONG') {
      throw new Error(`${source}: too large, more than ${constants.MAX_STRING_LENGTH} characters (the most a JavaScript string holds); tokenize it with \`gpt prepare --data ${source}\`, which reads it in pieces, and train on the prepared data`);
    }
    throw notUtf8(flag, source, bytes);
  }
}

/** `text` with each line end "\n": "\r\n" and a lone "\r" become "\n", as Python's text mode reads them. */
const universalNewlines = (text: string): string => text.replace(/\r\n?/g, '\n');

/**
 * Refuses prepared token ids given as text: train.bin or val.bin beside meta.json, meta.pkl or the
 * other split (`gpt prepare`'s, nanoGPT's). A char vocabulary's ids are below 128, so each uint16
 * is an ASCII byte and a NUL: valid UTF-8, which would train on the ids' bytes without a word.
 */
function refusePreparedIds(path: string, flag = '--data'): void {
  const split = basename(path);
  if (split !== 'train.bin' && split !== 'val.bin') return;
  const dir = dirname(path);
  if (!['meta.json', 'meta.pkl', split === 'train.bin' ? 'val.bin' : 'train.bin'].some((f) => existsSync(join(dir, f)))) return;
  throw new UsageError(`flag ${flag}: ${path} holds prepared token ids, not text: give the directory to gpt train or gpt eval as --data-dir ${dir}`);
}

/** Text that is not UTF-8, given as `flag`: bad usage, naming the first byte that is not (`bytes` from the file's byte `start` on), as Python's decode error does. */
function notUtf8(flag: string, source: string, bytes: Uint8Array, start = 0): UsageError {
  const at = firstNonUtf8(bytes);
  const where = at < 0 ? '' : ` (byte 0x${bytes[at]!.toString(16).toUpperCase().padStart(2, '0')} at offset ${start + at})`;
  return new UsageError(`flag ${flag}: ${source} is not valid UTF-8 text${where}; ${flag} takes UTF-8 text`);
}

/**
 * The offset of the first byte of `bytes` that starts no valid UTF-8 sequence (a stray continuation,
 * an overlong form, a surrogate, past U+10FFFF, one cut short), as TextDecoder's fatal mode refuses them; -1 if none.
 */
function firstNonUtf8(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; ) {
    const lead = bytes[i]!;
    if (lead < 0x80) {
      i++;
      continue;
    }
    const more = lead >= 0xc2 && lead <= 0xdf ? 1 : lead >= 0xe0 && lead <= 0xef ? 2 : lead >= 0xf0 && lead <= 0xf4 ? 3 : 0;
    // the second byte's range rules out overlong forms (E0, F0), surrogates (ED) and code points past U+10FFFF (F4)
    const [low, high] = lead === 0xe0 ? [0xa0, 0xbf] : lead === 0xed ? [0x80, 0x9f] : lead === 0xf0 ? [0x90, 0xbf] : lead === 0xf4 ? [0x80, 0x8f] : [0x80, 0xbf];
    if (!more || !(bytes[i + 1]! >= low && bytes[i + 1]! <= high)) return i;
    for (let k = 2; k <= more; k++) if ((bytes[i + k]! & 0xc0) !== 0x80) return i; // past the end: undefined & 0xc0 is 0
    i += more + 1;
  }
  return -1;
}

/** A corpus read piece by piece: `pieces()` reads it anew at each call (learning a vocabulary and tokenizing each take a pass). */
export interface Corpus {
  /** Its size in bytes. */
  bytes: number;
  /** How many documents it holds: the files of a directory, else 1. */
  documents: number;
  /** Whether it is a directory of documents, each to be followed by an end-of-text token where the tokenizer has one. */
  separateDocuments: boolean;
  pieces(): AsyncGenerator<CorpusPiece>;
}

export interface CorpusPiece {
  text: string;
  /** How many bytes of the corpus the pieces so far hold. */
  end: number;
  /** Whether the piece ends mid-line, where no line break that is safe to cut at was found (see pieceEnd). */
  rough: boolean;
  /** Whether the piece ends its document (its file). */
  documentEnd: boolean;
}

/**
 * Pieces of a file are at most this many bytes: small enough that a piece per tokenizing thread (gpt
 * prepare --workers, up to 16) holds little memory, its text and ids; the same whatever the threads, as
 * a piece cut mid-line (rough) tokenizes differently where it is cut.
 */
export const PIECE_BYTES = 8 * 2 ** 20;

/**
 * `source` (a file, a directory of files, a URL, builtin:webdocs) as a Corpus; files are read in
 * pieces of at most `pieceBytes`. A directory's files, hidden ones and those under `leaveOut` left
 * out, are its documents, in the order of their paths.
 */
export async function openCorpus(source: string, pieceBytes = PIECE_BYTES, leaveOut = ''): Promise<Corpus> {
  if (!isPathSource(source)) {
    const text = await loadCorpus(source);
    const bytes = Buffer.byteLength(text);
    const pieces = async function* () {
      yield { text, end: bytes, rough: false, documentEnd: true };
    };
    return { bytes, documents: 1, separateDocuments: false, pieces };
  }
  if (await isDirectoryPath(source)) return directoryCorpus(source, pieceBytes, leaveOut);
  refusePreparedIds(source);
  const handle = await openSource(source);
  const { size } = await handle.stat().finally(() => handle.close());
  return { bytes: size, documents: 1, separateDocuments: false, pieces: () => filePieces(source, pieceBytes, size) };
}

/** Whether `path` is `dir` or lies under it (both absolute). */
export const isWithin = (path: string, dir: string): boolean => path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);

/**
 * The files under `dir` with their sizes, in the order of their paths; hidden ones (.git, .DS_Store)
 * and those under `leaveOut` left out. Links are followed, to directories too; a directory met again
 * (a link back up) is walked once, and a file met again (a link or hard link to it) is read once,
 * under its first path; a dangling link is left out. Node 20's recursive readdir took a link back up
 * round and round until the links nested too deep: a directory's files read 40 times over.
 */
async function documentFiles(dir: string, leaveOut: string): Promise<{ path: string; size: number }[]> {
  const skipped = leaveOut && resolve(leaveOut);
  const files: { name: string; path: string; size: number; file: string }[] = [];
  const walked = new Set<string>();
  const walk = async (name: string): Promise<void> => {
    const at = join(dir, name);
    const real = await realpath(at);
    if (walked.has(real)) return;
    walked.add(real);
    for (const entry of (await readdir(at)).sort()) { // sorted: of a directory's two links, the same one is walked on every file system
      if (entry.startsWith('.')) continue;
      const path = join(at, entry);
      if (skipped && isWithin(resolve(path), skipped)) continue;
      // bigint: a file index (NTFS's is 64-bit) past 2^53 would be rounded into another file's
      const s = await stat(path, { bigint: true }).catch(() => null);
      if (s?.isDirectory()) await walk(join(name, entry));
      else if (s?.isFile()) files.push({ name: join(name, entry), path, size: Number(s.size), file: s.ino ? `${s.dev}:${s.ino}` : path }); // ino 0: a file system that keeps none
    }
  };
  await walk('');
  const read = new Set<string>();
  return files
    .sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0))
    .filter(({ file }) => !read.has(file) && read.add(file))
    .map(({ path, size }) => ({ path, size }));
}

async function directoryCorpus(dir: string, pieceBytes: number, leaveOut: string): Promise<Corpus> {
  const files = await documentFiles(dir, leaveOut);
  for (const { path } of files) refusePreparedIds(path);
  if (!files.length) throw new UsageError(`${dir} holds no files to read as text`);
  const pieces = async function* () {
    let before = 0; // bytes of the files read so far
    for (const { path, size } of files) {
      for await (const piece of filePieces(path, pieceBytes, size)) yield { ...piece, end: before + piece.end };
      before += size;
    }
  };
  return { bytes: files.reduce((n, f) => n + f.size, 0), documents: files.length, separateDocuments: true, pieces };
}

async function openSource(path: string) {
  try {
    return await openRegularFile(path);
  } catch (e) {
    throw new Error(`cannot read ${path}: ${unreadableReason(e)}`);
  }
}

/** The pieces of the file at `path`, which must still be `size` bytes long: each pass must read the text the others read. */
async function* filePieces(path: string, pieceBytes: number, size: number): AsyncGenerator<CorpusPiece> {
  const handle = await openSource(path);
  try {
    // no larger than the file: a buffer of a piece's size for each small file of a directory took 14 ms a file to make
    const buffer = new Uint8Array(Math.min(pieceBytes, Math.max(size, 1)));
    let [held, start, ended] = [0, 0, false]; // buffer[0, held) is the file from byte `start` on
    for (let first = true; ; first = false) {
      while (!ended && held < buffer.length) {
        const n = (await handle.read(buffer, held, buffer.length - held, start + held)).bytesRead;
        [held, ended] = [held + n, n === 0];
      }
      // a full buffer may hold the rest of the file exactly: then it is the last piece, not one to cut
      if (!ended) ended = (await handle.read(new Uint8Array(1), 0, 1, start + held)).bytesRead === 0;
      if (held === 0) {
        if (start !== size) throw new Error(`${path} changed while it was being read: ${size} bytes when opened, ${start} now`);
        // an empty file is still a document: it ends (gpt2 follows it with <|endoftext|>, as nanoGPT's openwebtext does an empty text)
        if (first) yield { text: '', end: 0, rough: false, documentEnd: true };
        return;
      }
      const cut = ended ? { at: held, rough: false } : pieceEnd(buffer, held);
      // a byte-order mark is dropped at the start of the file only
      const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: !first });
      let text: string;
      try {
        text = universalNewlines(decoder.decode(buffer.subarray(0, cut.at))); // a piece never ends between a "\r" and its "\n" (pieceEnd)
      } catch {
        throw notUtf8('--data', path, buffer.subarray(0, cut.at), start);
      }
      yield { text, end: start + cut.at, rough: cut.rough, documentEnd: cut.at === held && ended };
      buffer.copyWithin(0, cut.at, held);
      [held, start] = [held - cut.at, start + cut.at];
    }
  } finally {
    await handle.close();
  }
}

const printableAscii = (byte: number) => byte > 0x20 && byte < 0x7f;
const asciiLetterOrDigit = (byte: number) => (byte >= 0x30 && byte <= 0x39) || ((byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x7a);

/**
 * Where a piece of buffer[0, held) ends: after the last line break between two printable ASCII
 * characters ("x\nY"), or before the "\r" of a Windows line end that follows a letter or digit
 * ("a|\r\n", read as "a|\n": a file with such line ends has no "x\nY"). Neither GPT-2's
 * pre-tokenization nor ours (splitChunks) joins characters across these, so the pieces tokenize
 * exactly as the whole text does; a break after a space or before one would not do ("x \n" and
 * "\n\n" are chunks of their own). Failing these, the piece ends before the last character
 * (rough), though never between a "\r" and its "\n" (read as one line end, its halves would be
 * two): tokens there may differ from the whole text's.
 */
function pieceEnd(buffer: Uint8Array, held: number): { at: number; rough: boolean } {
  for (let i = held - 1; i >= 2; i--) {
    if (buffer[i - 1] === 0x0a && printableAscii(buffer[i]!) && printableAscii(buffer[i - 2]!)) return { at: i, rough: false };
    if (buffer[i] === 0x0d && asciiLetterOrDigit(buffer[i - 1]!)) return { at: i, rough: false };
  }
  let at = held - 1;
  while (at > 0 && (buffer[at]! & 0xc0) === 0x80) at--; // not inside a UTF-8 sequence
  if (at > 1 && buffer[at - 1] === 0x0d && buffer[at] === 0x0a) at--; // nor inside a "\r\n": its halves would read as two line ends
  return { at: at > 0 ? at : held, rough: true };
}

/** The body of `url`, given up when the server stalls for `stallMs` or sends more than `maxBytes`. */
async function download(url: string, { maxBytes, stallMs }: DownloadLimits): Promise<Uint8Array> {
  const tooLarge = `larger than ${formatBytes(maxBytes)}, the most a URL may hold (download it and pass the file)`;
  const watch = stallWatch(stallMs);
  try {
    const res = await fetch(url, { signal: watch.signal });
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
    if (Number(res.headers.get('content-length')) > maxBytes) throw new Error(tooLarge);
    const chunks: Uint8Array[] = [];
    let total = 0;
    const reader = res.body.getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      watch.progressed();
      total += r.value.length;
      if (total > maxBytes) throw new Error(tooLarge);
      chunks.push(r.value);
    }
    return Buffer.concat(chunks);
  } catch (e) {
    throw new Error(`cannot download ${url}: ${fetchFailure(e, watch, stallMs)}`);
  } finally {
    watch.close(); // closes the connection of a body left unread (an error, a refusal)
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

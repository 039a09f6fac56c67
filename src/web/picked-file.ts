// Files the page's file inputs give (browser Files; Blobs in Node's tests): a checkpoint read a
// slice per tensor, a training text read whole and decoded as UTF-8. No DOM here.
import { formatBytes } from '../gpt/buffer-fit.js';
import type { ByteSource } from '../io/safetensors-source.js';

/** A picked file read a slice at a time (a tensor's bytes): never the whole of a weights file in one buffer. */
export const pickedSource = (file: File): ByteSource => ({
  size: file.size,
  read: (offset, length) => readPicked(file, async (f) => new Uint8Array(await f.slice(offset, offset + length).arrayBuffer())),
});

/** A picked file (or a slice of it) read; one the browser cannot read (a text file of 2 GiB and more, one changed since it was picked) is named, with its size. */
export async function readPicked<T>(file: File, read: (f: File) => Promise<T>): Promise<T> {
  try {
    return await read(file);
  } catch (e) {
    throw new Error(`cannot read ${file.name} (${formatBytes(file.size)}): ${(e as Error).message}`);
  }
}

/**
 * A text file's text; one that is not UTF-8 is refused (File.text() would put U+FFFD, which the
 * model learns, where its bytes were), and so is one past the longest string (V8's: 2^29 - 24
 * UTF-16 units), which Chromium's decoder gives as '' (Node's throws): the page trained on nothing,
 * or called it "not UTF-8".
 */
export async function readUtf8(file: File): Promise<string> {
  // a file past 3 bytes a unit is too long from its size alone: not read (Chromium refuses to read 2 GiB whole, 'due to permission problems')
  if (file.size > UTF8_MOST_BYTES_PER_UNIT * LONGEST_STRING) throw tooLong(file);
  const bytes = await readPicked(file, (f) => f.arrayBuffer());
  let text = '';
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (e) {
    // the decoder's refusal of bytes that are not UTF-8 is a TypeError (the Encoding standard's)
    if (e instanceof TypeError) throw new Error(`${file.name} is not UTF-8 text: save it as UTF-8 (an editor's Save As offers the encoding) and open it again`);
  }
  // the decoder drops a leading byte order mark: a file of that alone is an empty text (an editor's 'UTF-8 with BOM')
  if (!text && bytes.byteLength > UTF8_BOM_BYTES) throw tooLong(file);
  return text;
}

const tooLong = (file: File) => new Error(`${file.name} (${formatBytes(file.size)}) is too long for one text in this browser (its longest string is 2^29 - 24 characters): train on a part of it`);

/** V8's longest string, in UTF-16 units. */
const LONGEST_STRING = 2 ** 29 - 24;
/** The most bytes of UTF-8 one UTF-16 unit takes: 3 (a character from U+0800 to U+FFFF; one past it is 4 bytes for 2 units). */
const UTF8_MOST_BYTES_PER_UNIT = 3;

/** The bytes of UTF-8's byte order mark (EF BB BF), which TextDecoder leaves out of the text. */
const UTF8_BOM_BYTES = 3;

// The page's reading of a picked text file (src/web/picked-file.ts; a File in Node as in the
// browser): UTF-8 read as is, other bytes refused as not UTF-8, and a text the browser cannot make
// one string of (past V8's longest, 2^29 - 24 units: a corpus of 600 MB) refused with its size:
// Chromium's decoder gave '' for it (checked in Chromium 156), so the page trained on nothing.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { readUtf8 } from '../src/web/picked-file.js';

afterEach(() => vi.unstubAllGlobals());

describe('readUtf8', () => {
  it('reads UTF-8 as is and refuses Latin-1 in one line saying what to do', async () => {
    const text = 'naïve café, 日本語\n';
    expect(await readUtf8(new File([new TextEncoder().encode(text)], 'corpus.txt'))).toBe(text);
    const latin1 = Uint8Array.from('naïve café', (c) => c.charCodeAt(0)); // ï, é as one byte each
    await expect(readUtf8(new File([latin1], 'latin1.txt'))).rejects.toThrow(
      /^latin1\.txt is not UTF-8 text: save it as UTF-8 \(an editor's Save As offers the encoding\) and open it again$/,
    );
  });

  it.each([
    ['returned as nothing (Chromium)', () => ''],
    ['refused (V8 in Node)', () => {
      throw Object.assign(new Error('Cannot create a string longer than 0x1fffffe8 characters'), { code: 'ERR_STRING_TOO_LONG' });
    }],
  ])('refuses a text too long for one string, %s, naming it with its size', async (_, decode) => {
    // made here without 600 MB of text: the decoder as each platform's behaves past the longest string
    vi.stubGlobal('TextDecoder', class {
      decode = decode;
    });
    await expect(readUtf8(new File([new Uint8Array(3 * 2 ** 20)], 'huge.txt'))).rejects.toThrow(
      /^huge\.txt \(3\.00 MiB\) is too long for one text in this browser \(its longest string is 2\^29 - 24 characters\): train on a part of it$/,
    );
  });

  it("refuses a file too long for one string from its size, unread, past 3 bytes a unit (Chromium reads no 2 GiB file whole, and blamed 'permission problems')", async () => {
    let reads = 0;
    const picked = (size: number) =>
      ({
        name: 'corpus.txt',
        size,
        arrayBuffer: () => (reads++, Promise.reject(new DOMException('The requested file could not be read, typically due to permission problems that have occurred after a reference to a file was acquired.', 'NotReadableError'))),
      }) as unknown as File;
    await expect(readUtf8(picked(2 ** 31))).rejects.toThrow(
      new Error('corpus.txt (2.00 GiB) is too long for one text in this browser (its longest string is 2^29 - 24 characters): train on a part of it'),
    );
    expect(reads).toBe(0);
    // a size a text of 3-byte characters may have: read (here, refused as Chromium refuses it)
    await expect(readUtf8(picked(3 * (2 ** 29 - 24)))).rejects.toThrow(/^cannot read corpus\.txt \(1\.50 GiB\): The requested file could not be read/);
    expect(reads).toBe(1);
  });

  it('reads an empty file as the empty text', async () => {
    expect(await readUtf8(new File([], 'empty.txt'))).toBe('');
  });

  it("reads a file of a byte order mark alone (an empty text an editor saved as 'UTF-8 with BOM') as the empty text, not one too long", async () => {
    expect(await readUtf8(new File([Uint8Array.of(0xef, 0xbb, 0xbf)], 'bom.txt'))).toBe('');
    expect(await readUtf8(new File([Uint8Array.of(0xef, 0xbb, 0xbf, 0x61)], 'bom-a.txt')), 'the mark is no character of the text').toBe('a');
  });
});

// For the torch.save tests: zip archives written by hand from the format's spec (APPNOTE.TXT),
// independent of src/io/zip.ts, the reader (only the packing of little-endian fields is
// src/io/zip-writer.ts's): stored entries (or ones marked compressed), optionally in zip64's
// records, optionally placed past 4 GiB in a sparse ByteSource (zeros in the gap, never allocated).
import type { ByteSource } from '../src/io/safetensors-source.js';
import { littleEndian } from '../src/io/zip-writer.js';

export interface ZipInput {
  name: string;
  data: Uint8Array;
  /** The compression method recorded (0: stored; 8: deflate, which a reader of torch's files refuses). */
  method?: number;
}

/** A file of `size` bytes holding `pieces` at their offsets and zeros elsewhere. */
export function sparseSource(pieces: { at: number; bytes: Uint8Array }[], size: number): ByteSource {
  return {
    size,
    read: async (offset, length) => {
      const out = new Uint8Array(length);
      for (const { at, bytes } of pieces) {
        const from = Math.max(at, offset);
        const to = Math.min(at + bytes.length, offset + length);
        if (from < to) out.set(bytes.subarray(from - at, to - at), from - offset);
      }
      return out;
    },
  };
}

/**
 * The archive's pieces: each entry's local header and data, then the central directory and end
 * records. `gap` bytes of nothing come before the first entry (past 4 GiB: offsets only zip64 can
 * hold); `zip64` writes every size and offset in zip64's fields, as a writer must past 4 GiB.
 */
export function zipPieces(inputs: ZipInput[], { zip64 = false, gap = 0 } = {}): { pieces: { at: number; bytes: Uint8Array }[]; size: number } {
  const enc = new TextEncoder();
  const pieces: { at: number; bytes: Uint8Array }[] = [];
  const central: Uint8Array[] = [];
  let at = gap;
  for (const { name, data, method = 0 } of inputs) {
    const nameBytes = enc.encode(name);
    const extra = zip64 ? littleEndian([[2, 1], [2, 24], [8, data.length], [8, data.length], [8, at]]) : new Uint8Array();
    const u32 = (v: number) => (zip64 ? 0xffffffff : v);
    const local = cat([littleEndian([[4, 0x04034b50], [2, 45], [2, 0], [2, method], [4, 0], [4, 0], [4, u32(data.length)], [4, u32(data.length)], [2, nameBytes.length], [2, extra.length]]), nameBytes, extra]);
    pieces.push({ at, bytes: cat([local, data]) });
    central.push(cat([littleEndian([[4, 0x02014b50], [2, 45], [2, 45], [2, 0], [2, method], [4, 0], [4, 0], [4, u32(data.length)], [4, u32(data.length)], [2, nameBytes.length], [2, extra.length], [2, 0], [2, 0], [2, 0], [4, 0], [4, u32(at)]]), nameBytes, extra]));
    at += local.length + data.length;
  }
  const dir = cat(central);
  const dirAt = at;
  const end: Uint8Array[] = [dir];
  if (zip64) {
    end.push(littleEndian([[4, 0x06064b50], [8, 44], [2, 45], [2, 45], [4, 0], [4, 0], [8, inputs.length], [8, inputs.length], [8, dir.length], [8, dirAt]]));
    end.push(littleEndian([[4, 0x07064b50], [4, 0], [8, dirAt + dir.length], [4, 1]]));
  }
  const count = zip64 ? 0xffff : inputs.length;
  end.push(littleEndian([[4, 0x06054b50], [2, 0], [2, 0], [2, count], [2, count], [4, zip64 ? 0xffffffff : dir.length], [4, zip64 ? 0xffffffff : dirAt], [2, 0]]));
  const tail = cat(end);
  pieces.push({ at: dirAt, bytes: tail });
  return { pieces, size: dirAt + tail.length };
}

/** A whole archive in memory (no gap). */
export function zipBytes(inputs: ZipInput[], opts: { zip64?: boolean } = {}): Uint8Array {
  const { pieces, size } = zipPieces(inputs, opts);
  const out = new Uint8Array(size);
  for (const { at, bytes } of pieces) out.set(bytes, at);
  return out;
}

function cat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

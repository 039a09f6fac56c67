// A zip archive's entries read by position from a ByteSource, as PyTorch's torch.save (>= 1.6)
// writes them: its central directory first (from the end of the file), then each entry's bytes
// only when asked for, so a 3 GB pytorch_model.bin is never one buffer. Only STORED (uncompressed)
// entries are read, which is all torch writes; zip64 (an archive or entry past 4 GiB, or more than
// 65535 entries) is read. Platform free.
import { readableLine } from './readable-line.js';
import type { ByteSource } from './safetensors-source.js';

/** One file of a zip archive: its name and where its bytes lie in the archive. */
export interface ZipEntry {
  name: string;
  /** Where its bytes begin, past its local header. */
  offset: number;
  size: number;
}

/** A zip archive's entries by name, in the central directory's order; `read` reads one entry's bytes. */
export interface ZipArchive {
  entries: Map<string, ZipEntry>;
  read(entry: ZipEntry, from?: number, length?: number): Promise<Uint8Array>;
}

export const EOCD = 0x06054b50;
export const EOCD64 = 0x06064b50;
export const EOCD64_LOCATOR = 0x07064b50;
export const CENTRAL = 0x02014b50;
export const LOCAL = 0x04034b50;
/** A 16- or 32-bit field holding this says "see the zip64 record". */
export const U16_MAX = 0xffff;
export const U32_MAX = 0xffffffff;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;
export const ZIP64_EXTRA = 0x0001;
/**
 * The most bytes a central directory is read to (64 MiB): torch.save's entry per storage takes
 * under a hundred, so a larger one is damage, not gigabytes to read before saying so.
 */
const MAX_DIRECTORY_BYTES = 2 ** 26;
export const STORED = 0;

/** Reads and checks the central directory of the zip archive `source` reads; `name` (a file name) leads every error. */
export async function openZip(source: ByteSource, name: string): Promise<ZipArchive> {
  const fail = (why: string): never => {
    throw new Error(`${name}: ${readableLine(why)}`);
  };
  const readBytes = async (offset: number, length: number) => {
    if (offset < 0 || offset + length > source.size) fail(`a zip record at byte ${offset} (${length} bytes) runs past the end of the ${source.size}-byte file (truncated?)`);
    const bytes = await source.read(offset, length);
    if (bytes.length !== length) fail(`read ${bytes.length} of ${length} bytes at offset ${offset} (the file changed while it was read?)`);
    return bytes;
  };
  const readAt = async (offset: number, length: number) => {
    const bytes = await readBytes(offset, length);
    return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };

  // the end-of-central-directory record: the last 22 bytes, or before a comment of up to 64 KiB
  const tailLength = Math.min(source.size, EOCD_SIZE + MAX_COMMENT);
  const tail = await readAt(source.size - tailLength, tailLength);
  let eocd = -1;
  for (let i = tailLength - EOCD_SIZE; i >= 0 && eocd < 0; i--) if (tail.getUint32(i, true) === EOCD && i + EOCD_SIZE + tail.getUint16(i + 20, true) === tailLength) eocd = i;
  if (eocd < 0) fail(`not a zip archive (no end-of-central-directory record in its last ${tailLength} bytes; truncated?)`);
  let count = tail.getUint16(eocd + 10, true);
  let dirSize = tail.getUint32(eocd + 12, true);
  let dirOffset = tail.getUint32(eocd + 16, true);
  if (count === U16_MAX || dirSize === U32_MAX || dirOffset === U32_MAX) {
    // zip64: a locator just before the record says where the zip64 end record is
    const at = source.size - tailLength + eocd - 20;
    const locator = await readAt(at, 20);
    if (locator.getUint32(0, true) !== EOCD64_LOCATOR) fail(`the end record says zip64 but no zip64 locator precedes it (at byte ${at})`);
    const recordAt = u64(locator, 8, fail);
    const record = await readAt(recordAt, 56);
    if (record.getUint32(0, true) !== EOCD64) fail(`no zip64 end-of-central-directory record at byte ${recordAt}, where its locator points`);
    count = u64(record, 32, fail);
    dirSize = u64(record, 40, fail);
    dirOffset = u64(record, 48, fail);
  }
  if (dirSize > MAX_DIRECTORY_BYTES) fail(`a central directory of ${dirSize} bytes, past the ${MAX_DIRECTORY_BYTES} read (a damaged archive?)`);
  const dir = await readAt(dirOffset, dirSize);
  const utf8 = new TextDecoder();
  const entries = new Map<string, ZipEntry>();
  const headers: { name: string; nameLength: number; localAt: number; size: number }[] = [];
  for (let at = 0, i = 0; i < count; i++) {
    if (at + 46 > dirSize || dir.getUint32(at, true) !== CENTRAL) fail(`central directory entry ${i} of ${count} is damaged (at byte ${dirOffset + at})`);
    const method = dir.getUint16(at + 10, true);
    let compressed: number = dir.getUint32(at + 20, true);
    let size: number = dir.getUint32(at + 24, true);
    const nameLength = dir.getUint16(at + 28, true);
    const extraLength = dir.getUint16(at + 30, true);
    const commentLength = dir.getUint16(at + 32, true);
    let localAt: number = dir.getUint32(at + 42, true);
    const end = at + 46 + nameLength + extraLength + commentLength;
    if (end > dirSize) fail(`central directory entry ${i} of ${count} runs past the directory's end`);
    const entryName = utf8.decode(new Uint8Array(dir.buffer, dir.byteOffset + at + 46, nameLength));
    // zip64's extra field holds, in this order, the fields that are 0xffffffff above
    const wide = [size === U32_MAX, compressed === U32_MAX, localAt === U32_MAX];
    if (wide.some(Boolean)) {
      const field = extraField(dir, at + 46 + nameLength, extraLength, ZIP64_EXTRA);
      if (!field) fail(`entry '${entryName}' has a 32-bit size or offset of 0xffffffff but no zip64 extra field`);
      let next = field!.at;
      const take = () => {
        if (next + 8 > field!.at + field!.length) fail(`entry '${entryName}': its zip64 extra field is too short`);
        return u64(dir, (next += 8) - 8, fail);
      };
      if (wide[0]) size = take();
      if (wide[1]) compressed = take();
      if (wide[2]) localAt = take();
    }
    if (method !== STORED) fail(`entry '${entryName}' is compressed (method ${method}), but only stored entries are read, as torch.save writes them (a zip re-packed by another tool? re-save it with torch.save)`);
    if (compressed !== size) fail(`entry '${entryName}' is stored with ${compressed} bytes for ${size}`);
    if (entries.has(entryName)) fail(`entry '${entryName}' is in the archive twice`);
    headers.push({ name: entryName, nameLength, localAt, size });
    entries.set(entryName, { name: entryName, offset: -1, size });
    at = end;
  }
  // each entry's data begins after its local header, whose extra field may differ from the central one's
  const spans: { name: string; from: number; to: number }[] = [];
  for (const { name: entryName, nameLength, localAt, size } of headers) {
    // the header and the name it should hold, in one read
    if (localAt + 30 > source.size) fail(`entry '${entryName}' has its local header at byte ${localAt}, past the end of the ${source.size}-byte file (truncated?)`);
    const local = await readAt(localAt, Math.min(30 + nameLength, source.size - localAt));
    if (local.getUint32(0, true) !== LOCAL) fail(`entry '${entryName}' has no local header at byte ${localAt}`);
    const localNameLength = local.getUint16(26, true);
    const localName = localNameLength === nameLength ? utf8.decode(new Uint8Array(local.buffer, local.byteOffset + 30, nameLength)) : utf8.decode(await readBytes(localAt + 30, localNameLength));
    if (localName !== entryName) fail(`entry '${entryName}' is named '${localName}' in its local header (a damaged archive)`);
    const offset = localAt + 30 + localNameLength + local.getUint16(28, true);
    if (offset + size > source.size) fail(`entry '${entryName}' (${size} bytes at byte ${offset}) runs past the end of the ${source.size}-byte file (truncated?)`);
    entries.set(entryName, { name: entryName, offset, size });
    spans.push({ name: entryName, from: localAt, to: offset + size });
  }
  // an entry's bytes are its own: none is another's or the directory's (a damaged archive, or one crafted to read one set of bytes as two)
  const directory = { name: '', from: dirOffset, to: dirOffset + dirSize };
  spans.sort((a, b) => a.from - b.from);
  spans.forEach((span, i) => {
    const before = spans[i - 1];
    if (before && span.from < before.to) fail(`entry '${span.name}' (bytes ${span.from} to ${span.to}) overlaps entry '${before.name}' (bytes ${before.from} to ${before.to})`);
    if (span.from < directory.to && directory.from < span.to) fail(`entry '${span.name}' (bytes ${span.from} to ${span.to}) overlaps the central directory (bytes ${directory.from} to ${directory.to})`);
  });
  const read = async (entry: ZipEntry, from = 0, length = entry.size - from) => {
    if (from < 0 || length < 0 || from + length > entry.size) fail(`bytes ${from} to ${from + length} of entry '${entry.name}', which has ${entry.size}`);
    return readBytes(entry.offset + from, length);
  };
  return { entries, read };
}

/** An unsigned 64-bit little-endian field, within float64's exact integers. */
function u64(view: DataView, at: number, fail: (why: string) => never): number {
  const value = view.getUint32(at, true) + view.getUint32(at + 4, true) * 2 ** 32;
  if (!Number.isSafeInteger(value)) fail(`a zip64 field of ${view.getBigUint64(at, true)}, beyond 2^53`);
  return value;
}

/** Where the extra field with header id `id` lies among the extra fields at `at` (`length` bytes), or null. */
function extraField(view: DataView, at: number, length: number, id: number): { at: number; length: number } | null {
  for (let i = at; i + 4 <= at + length; ) {
    const size = view.getUint16(i + 2, true);
    if (view.getUint16(i, true) === id) return { at: i + 4, length: Math.min(size, at + length - i - 4) };
    i += 4 + size;
  }
  return null;
}

// A zip archive written as PyTorch's PyTorchStreamWriter (caffe2/serialize/inline_container.cc)
// writes torch.save's: every entry stored (uncompressed) with its CRC-32, its data aligned to 64
// bytes by padding in the local header's extra field ('FB', then 'Z's), so a reader can map a
// tensor's bytes in place. Pieces are made one entry at a time (an entry's bytes asked for when
// its turn comes), so a writer holds one tensor, not the file; past 4 GiB in zip64's records.
// Platform free: src/node writes the pieces to disk.
import { crc32 } from './checksum.js';
import { CENTRAL, EOCD, EOCD64, EOCD64_LOCATOR, LOCAL, STORED, U16_MAX, U32_MAX, ZIP64_EXTRA } from './zip.js';

/** One entry to write: its name, and its bytes, made when the writer reaches it. */
export interface ZipEntryOut {
  name: string;
  data: () => Uint8Array | Promise<Uint8Array>;
}

/** Where torch aligns each entry's data (kFieldAlignment). */
const ALIGNMENT = 64;
/** The extra field's id PyTorch pads with: 'FB'. */
const PADDING_ID = 0x4246;
const LOCAL_HEADER = 30;
/** Version needed to extract: 2.0, stored entries; 4.5 with zip64's fields. */
const VERSION = 20;
const VERSION_ZIP64 = 45;

/**
 * The archive of `entries` in pieces: each entry's local header and data, then the central
 * directory and end record. Offsets and sizes past 32 bits, or more than 65535 entries, are
 * written in zip64's fields and records (as torch does past 4 GiB); `zip64` writes them so for
 * every entry (tests: an archive past 4 GiB is too large for one).
 */
export async function* zipPieces(entries: Iterable<ZipEntryOut>, { zip64 = false } = {}): AsyncGenerator<Uint8Array> {
  const utf8 = new TextEncoder();
  const central: Uint8Array[] = []; // each entry's record, name and extra field, in order
  let at = 0;
  let count = 0;
  for (const entry of entries) {
    const data = await entry.data();
    const nameBytes = utf8.encode(entry.name);
    const crc = crc32(data);
    const wide = zip64 || at >= U32_MAX || data.length >= U32_MAX;
    const size = wide ? U32_MAX : data.length;
    // zip64's sizes, then torch's padding: the data would start past both, and the padding's own 4 bytes
    const sizes = wide ? littleEndian([[2, ZIP64_EXTRA], [2, 16], [8, data.length], [8, data.length]]) : new Uint8Array(0);
    const bare = at + LOCAL_HEADER + nameBytes.length + sizes.length + 4;
    const padding = (ALIGNMENT - (bare % ALIGNMENT)) % ALIGNMENT;
    const extra = new Uint8Array(sizes.length + 4 + padding).fill(0x5a); // 'Z'
    extra.set(sizes);
    new DataView(extra.buffer).setUint16(sizes.length, PADDING_ID, true);
    new DataView(extra.buffer).setUint16(sizes.length + 2, padding, true);
    const version = wide ? VERSION_ZIP64 : VERSION;
    const local = littleEndian([[4, LOCAL], [2, version], [2, 0], [2, STORED], [4, 0], [4, crc], [4, size], [4, size], [2, nameBytes.length], [2, extra.length]]);
    // the central record's zip64 field holds, in this order, those of size, compressed size and offset that are 0xffffffff
    const centralExtra = wide ? littleEndian([[2, ZIP64_EXTRA], [2, 24], [8, data.length], [8, data.length], [8, at]]) : new Uint8Array(0);
    central.push(littleEndian([[4, CENTRAL], [2, version], [2, version], [2, 0], [2, STORED], [4, 0], [4, crc], [4, size], [4, size], [2, nameBytes.length], [2, centralExtra.length], [2, 0], [2, 0], [2, 0], [4, 0], [4, wide ? U32_MAX : at]]), nameBytes, centralExtra);
    yield* [local, nameBytes, extra, data];
    at += local.length + nameBytes.length + extra.length + data.length;
    count++;
  }
  const directorySize = central.reduce((n, piece) => n + piece.length, 0);
  yield* central;
  if (zip64 || count >= U16_MAX || at >= U32_MAX || directorySize >= U32_MAX) {
    // the zip64 end record, the locator that points to it, then the plain end record saying "see zip64"
    const record = at + directorySize;
    yield littleEndian([[4, EOCD64], [8, 44], [2, VERSION_ZIP64], [2, VERSION_ZIP64], [4, 0], [4, 0], [8, count], [8, count], [8, directorySize], [8, at]]);
    yield littleEndian([[4, EOCD64_LOCATOR], [4, 0], [8, record], [4, 1]]);
    yield littleEndian([[4, EOCD], [2, 0], [2, 0], [2, U16_MAX], [2, U16_MAX], [4, U32_MAX], [4, U32_MAX], [2, 0]]);
    return;
  }
  yield littleEndian([[4, EOCD], [2, 0], [2, 0], [2, count], [2, count], [4, directorySize], [4, at], [2, 0]]);
}

/** Little-endian fields ([width in bytes, value]), one after another, as zip's records are laid out. */
export function littleEndian(fields: [2 | 4 | 8, number][]): Uint8Array {
  const out = new Uint8Array(fields.reduce((n, [width]) => n + width, 0));
  const view = new DataView(out.buffer);
  let at = 0;
  for (const [width, value] of fields) {
    if (width === 2) view.setUint16(at, value, true);
    else if (width === 4) view.setUint32(at, value, true);
    else view.setBigUint64(at, BigInt(value), true);
    at += width;
  }
  return out;
}

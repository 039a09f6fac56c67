// A zip archive written as PyTorch's PyTorchStreamWriter (caffe2/serialize/inline_container.cc)
// writes torch.save's: every entry stored (uncompressed) with its CRC-32, its data aligned to 64
// bytes by padding in the local header's extra field ('FB', then 'Z's), so a reader can map a
// tensor's bytes in place. Pieces are made one entry at a time (an entry's bytes asked for when
// its turn comes), so a writer holds one tensor, not the file. Archives past 4 GiB (zip64) are
// refused. Platform free: src/node writes the pieces to disk.
import { crc32 } from './checksum.js';
import { CENTRAL, EOCD, LOCAL, STORED, U32_MAX } from './zip.js';

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
const CENTRAL_HEADER = 46;
/** Version needed to extract: 2.0, stored entries. */
const VERSION = 20;

/** The archive of `entries` in pieces: each entry's local header and data, then the central directory and end record. */
export async function* zipPieces(entries: Iterable<ZipEntryOut>, name = 'zip'): AsyncGenerator<Uint8Array> {
  const utf8 = new TextEncoder();
  const central: Uint8Array[] = []; // each entry's record and name, in order
  let at = 0;
  let count = 0;
  for (const entry of entries) {
    const data = await entry.data();
    const nameBytes = utf8.encode(entry.name);
    const crc = crc32(data);
    // the data would start here without padding; the extra field's own 4 bytes come first
    const bare = at + LOCAL_HEADER + nameBytes.length + 4;
    const padding = (ALIGNMENT - (bare % ALIGNMENT)) % ALIGNMENT;
    const extra = new Uint8Array(4 + padding).fill(0x5a); // 'Z'
    new DataView(extra.buffer).setUint16(0, PADDING_ID, true);
    new DataView(extra.buffer).setUint16(2, padding, true);
    if (at + LOCAL_HEADER + nameBytes.length + extra.length + data.length >= U32_MAX) {
      throw new Error(`${name}: the archive reaches 4 GiB at entry ${entry.name}, which needs zip64, not written here`);
    }
    const local = header(LOCAL_HEADER, [[4, LOCAL], [2, VERSION], [2, 0], [2, STORED], [4, 0], [4, crc], [4, data.length], [4, data.length], [2, nameBytes.length], [2, extra.length]]);
    central.push(header(CENTRAL_HEADER, [[4, CENTRAL], [2, VERSION], [2, VERSION], [2, 0], [2, STORED], [4, 0], [4, crc], [4, data.length], [4, data.length], [2, nameBytes.length], [2, 0], [2, 0], [2, 0], [2, 0], [4, 0], [4, at]]), nameBytes);
    yield* [local, nameBytes, extra, data];
    at += local.length + nameBytes.length + extra.length + data.length;
    count++;
  }
  const directorySize = central.reduce((n, piece) => n + piece.length, 0);
  if (count > 0xffff || at + directorySize >= U32_MAX) throw new Error(`${name}: ${count} entries or a central directory past 4 GiB need zip64, not written here`);
  yield* central;
  yield header(22, [[4, EOCD], [2, 0], [2, 0], [2, count], [2, count], [4, directorySize], [4, at], [2, 0]]);
}

/** Little-endian fields ([width, value]) filling `size` bytes. */
function header(size: number, fields: [2 | 4, number][]): Uint8Array {
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const [width, value] of fields) {
    if (width === 2) view.setUint16(at, value, true);
    else view.setUint32(at, value, true);
    at += width;
  }
  return out;
}

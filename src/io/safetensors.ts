// The safetensors checkpoint format (https://github.com/huggingface/safetensors), read and written
// exactly, in pure TypeScript so that it runs in a browser too.
//
// Layout: u64 little-endian N | N bytes of UTF-8 JSON header, padded with spaces to a multiple of 8 |
// data. The header maps each tensor name to {dtype, shape, data_offsets: [begin, end]}, offsets
// relative to the start of the data; an optional "__metadata__" maps strings to strings. Tensors are
// packed with no holes and nothing after the last one, little-endian.
//
// In memory a tensor is held as Float32Array (F32, F16, BF16), Int32Array (I32, I64), Int8Array (I8)
// or Uint8Array (U8, BOOL); F16/BF16/I64 are converted on the way in and out.
import { parseJSONText } from './json-text.js';
import { duplicateKey } from './duplicate-key.js';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../tensor/half.js';
import { readableLine } from './readable-line.js';
import { describeValue } from '../tensor/check.js';

export type TensorData = Float32Array | Int32Array | Int8Array | Uint8Array;

/** One tensor of a safetensors file, held as Float32Array (F32, F16, BF16), Int32Array (I32, I64), Int8Array (I8) or Uint8Array (U8, BOOL). */
export interface SafetensorsTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  data: TensorData;
}

/** A whole safetensors file: its tensors by name and its string metadata. */
export interface Safetensors {
  tensors: Record<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

interface Codec {
  bytes: number;
  /** Held in memory byte for byte as stored (on a little-endian host): a reader can fill the array in place. */
  asStored: boolean;
  holds: Float32ArrayConstructor | Int32ArrayConstructor | Int8ArrayConstructor | Uint8ArrayConstructor;
  /** Copies `src` (not aligned in general) into a fresh array of `count` elements. */
  read(src: Uint8Array, count: number, name: string): TensorData;
  /** Writes `data` into `dst`, which has exactly the right length. */
  write(data: TensorData, dst: Uint8Array): void;
}

const DTYPES = {
  F32: { asStored: true, bytes: 4, holds: Float32Array, read: (src) => new Float32Array(copyBytes(src)), write: writeBytes },
  F16: { asStored: false, bytes: 2, holds: Float32Array, read: readHalf(f16BitsToF32), write: writeHalf(f32ToF16Bits) },
  BF16: { asStored: false, bytes: 2, holds: Float32Array, read: readHalf(bf16BitsToF32), write: writeHalf(f32ToBf16Bits) },
  I32: { asStored: true, bytes: 4, holds: Int32Array, read: (src) => new Int32Array(copyBytes(src)), write: writeBytes },
  I64: { asStored: false, bytes: 8, holds: Int32Array, read: readI64, write: writeI64 },
  I8: { asStored: true, bytes: 1, holds: Int8Array, read: (src) => new Int8Array(copyU8(src).buffer), write: writeBytes },
  U8: { asStored: true, bytes: 1, holds: Uint8Array, read: copyU8, write: writeBytes },
  // PyTorch's torch.bool (older transformers saves hold GPT-2's causal mask so), one byte of 0 or 1
  BOOL: { asStored: true, bytes: 1, holds: Uint8Array, read: copyU8, write: writeBytes },
} satisfies Record<string, Codec>;

/** The dtypes read and written: F32, F16, BF16, I32, I64, I8, U8, BOOL. */
export type SafetensorsDtype = keyof typeof DTYPES;

const METADATA_KEY = '__metadata__';
const TENSOR_KEYS = ['dtype', 'shape', 'data_offsets'];

/** Where one tensor goes in a safetensors file being written, and how its bytes are made. */
export interface PlacedTensor {
  name: string;
  /** Its byte range in the data (the bytes after the header). */
  begin: number;
  end: number;
  /** Writes the tensor's bytes into `dst`, which has exactly `end - begin` bytes. */
  encode(dst: Uint8Array): void;
  /** The tensor's own memory where it already is the file's bytes (F32, I32, I8, U8, BOOL on a little-endian host): written as it is, not copied. */
  stored: Uint8Array | null;
}

/** A safetensors file laid out but not yet encoded: what a writer needs to produce it whole or a tensor at a time. */
export interface SafetensorsLayout {
  /** The file's first bytes: the 8-byte header length, then the header padded with spaces. */
  head: Uint8Array;
  /** The tensors in file order. */
  tensors: PlacedTensor[];
  /** The file's size in bytes. */
  size: number;
}

/** What a header says of one tensor: enough to place it in the file before its values exist. */
export interface SafetensorsSpec {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
}

/** A tensor to be written whose values are read only when its turn comes (from the GPU): a writer holds one at a time. */
export interface PendingTensor extends SafetensorsSpec {
  read(): Promise<TensorData>;
}

/** Every pending tensor's values, read one after another, by name in the order given. */
export async function readPendingTensors(tensors: PendingTensor[]): Promise<Record<string, SafetensorsTensor>> {
  const out: Record<string, SafetensorsTensor> = {};
  for (const { name, dtype, shape, read } of tensors) out[name] = { dtype, shape, data: await read() };
  return out;
}

/** Checks `tensors` (in the order given) and optional string metadata and places them in a safetensors file. */
export function layoutSafetensors(tensors: Record<string, SafetensorsTensor>, metadata?: Record<string, string>): SafetensorsLayout {
  const entries = Object.entries(tensors);
  const { head, ranges, size } = placeSafetensors(entries.map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape })), metadata);
  return { head, tensors: entries.map(([name, t], i) => placeTensor(name, t, ranges[i]!)), size };
}

/** The size of the file layoutSafetensors would lay out for tensors of `specs` (in the order given) and `metadata`: their values need not be at hand. */
export const safetensorsSize = (specs: SafetensorsSpec[], metadata?: Record<string, string>): number => placeSafetensors(specs, metadata).size;

/**
 * The file's head for `specs` (in the order given) and optional string metadata, and each tensor's
 * byte range in the data: everything but the values, checked.
 */
function placeSafetensors(specs: SafetensorsSpec[], metadata?: Record<string, string>): { head: Uint8Array; ranges: [number, number][]; size: number } {
  const headerParts: string[] = [];
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') fail(`metadata "${k}" must be a string, got ${typeof v}`);
      checkText(`metadata "${k}"`, k, v);
    }
    headerParts.push(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(metadata)}`);
  }
  let offset = 0;
  const named = new Set<string>();
  const ranges = specs.map(({ name, dtype, shape }): [number, number] => {
    const codec = checkSpec(name, dtype, shape);
    // a list of tensors (streamSafetensors') may repeat a name, which a header cannot hold twice
    if (named.has(name)) fail(`tensor "${name}" is given twice`);
    named.add(name);
    const begin = offset;
    offset += shape.reduce((a, b) => a * b, 1) * codec.bytes;
    // Built by hand rather than with JSON.stringify(object) so the header keeps the given order.
    const info = { dtype, shape, data_offsets: [begin, offset] };
    headerParts.push(`${JSON.stringify(name)}:${JSON.stringify(info)}`);
    return [begin, offset];
  });
  const json = new TextEncoder().encode(`{${headerParts.join(',')}}`);
  const headerLength = Math.ceil(json.length / 8) * 8;
  // a file every reader (this one too) would refuse
  if (headerLength > MAX_HEADER_LENGTH) fail(`the header would be ${headerLength} bytes, past the ${MAX_HEADER_LENGTH} safetensors allows (metadata this large belongs in a file of its own)`);
  const head = new Uint8Array(8 + headerLength);
  const view = new DataView(head.buffer);
  view.setUint32(0, headerLength % 2 ** 32, true);
  view.setUint32(4, Math.floor(headerLength / 2 ** 32), true);
  head.set(json, 8);
  head.fill(0x20, 8 + json.length);
  return { head, ranges, size: head.length + offset };
}

/** A tensor, its values checked against its dtype and shape, at its place in the data. */
function placeTensor(name: string, t: SafetensorsTensor, [begin, end]: [number, number]): PlacedTensor {
  const codec = checkData(name, t);
  const stored = codec.asStored && LITTLE_ENDIAN ? new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) : null;
  return { name, begin, end, encode: (dst) => codec.write(t.data, dst), stored };
}

/** The bytes of a safetensors file holding `tensors` (in the order given) and optional string metadata. */
export function serializeSafetensors(tensors: Record<string, SafetensorsTensor>, metadata?: Record<string, string>): Uint8Array {
  return safetensorsBytes(layoutSafetensors(tensors, metadata));
}

/** The whole file of a layout as one array (see safetensorsPieces for a file too large for one). */
function safetensorsBytes({ head, tensors: placed, size }: SafetensorsLayout): Uint8Array {
  const out = new Uint8Array(size);
  out.set(head);
  const body = out.subarray(head.length);
  for (const t of placed) t.encode(body.subarray(t.begin, t.end));
  return out;
}

/**
 * The file's bytes in pieces: the head, then each tensor's bytes, its own memory where that is
 * already the file's bytes (F32: no copy), else encoded into a buffer of its own as the piece is
 * asked for. A writer taking them one at a time holds at most one tensor's encoded bytes, never
 * the whole file (past Node's 4 GiB Buffer limit for a large model with optimizer state). The
 * tensors must not change until the pieces are written.
 */
export function* safetensorsPieces({ head, tensors }: SafetensorsLayout): Generator<Uint8Array> {
  yield head;
  for (const t of tensors) yield placedBytes(t);
}

/**
 * serializeSafetensors' bytes in pieces, as safetensorsPieces yields them, each tensor read (from
 * the GPU) only when its piece is asked for: the writer holds one tensor's values at a time, never
 * them all nor the whole file. A tensor whose values disagree with its spec is an error then.
 */
export async function* streamSafetensors(tensors: PendingTensor[], metadata?: Record<string, string>): AsyncGenerator<Uint8Array> {
  const { head, tensors: placed } = layoutPendingSafetensors(tensors, metadata);
  yield head;
  for (const t of placed) yield await t.bytes();
}

/** A file of tensors yet to be read, laid out: its head, and each tensor's place and bytes, read when asked for. */
export interface PendingSafetensorsLayout {
  head: Uint8Array;
  /** In file order; `begin`/`end` place each in the data (the bytes after the head). */
  tensors: { name: string; begin: number; end: number; bytes(): Promise<Uint8Array> }[];
  size: number;
}

/**
 * Places pending tensors (in the order given) and optional string metadata in a safetensors file
 * from their specs alone: a reader of one range of the file (an HTTP server) reads only the
 * tensors it overlaps. Each tensor's values are read, checked against its spec and encoded at
 * each call of its bytes().
 */
export function layoutPendingSafetensors(tensors: PendingTensor[], metadata?: Record<string, string>): PendingSafetensorsLayout {
  const { head, ranges, size } = placeSafetensors(tensors, metadata);
  const placed = tensors.map(({ name, dtype, shape, read }, i) => {
    const [begin, end] = ranges[i]!;
    return { name, begin, end, bytes: async () => placedBytes(placeTensor(name, { dtype, shape, data: await read() }, [begin, end])) };
  });
  return { head, tensors: placed, size };
}

/** A placed tensor's bytes: its own memory where that is already the file's bytes, else encoded into a buffer of its own. */
function placedBytes(t: PlacedTensor): Uint8Array {
  if (t.stored) return t.stored;
  const bytes = new Uint8Array(t.end - t.begin);
  t.encode(bytes);
  return bytes;
}

/** Reads a safetensors file, checking its header, offsets and sizes (a damaged file is an error naming what is wrong). */
export function parseSafetensors(bytes: Uint8Array): Safetensors {
  checkBytes('parseSafetensors', bytes);
  const headerLength = safetensorsHeaderLength(bytes, bytes.length);
  const data = bytes.subarray(8 + headerLength);
  const { metadata, layout } = parseSafetensorsHeader(bytes.subarray(8, 8 + headerLength), data.length);
  const tensors = layout.map((t) => [t.name, decodeSafetensorsTensor(t, data.subarray(t.begin, t.end))] as const);
  // fromEntries defines own properties, so a tensor named "__proto__" stays a tensor.
  return { tensors: Object.fromEntries(tensors), metadata };
}

/** Refuses, naming `op`, what is not bytes: an ArrayBuffer (fetch's arrayBuffer()) or a Promise of bytes not awaited. */
export function checkBytes(op: string, bytes: unknown): asserts bytes is Uint8Array {
  if (bytes instanceof Uint8Array) return;
  const hint = bytes instanceof ArrayBuffer ? '; wrap it: new Uint8Array(buffer)' : '';
  throw new TypeError(`${op}: argument 'bytes' must be a Uint8Array, got ${describeValue(bytes)}${hint}`);
}

/** Where one tensor lies in a safetensors file's data (the bytes after the header). */
export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * The header's length from a safetensors file's first 8 bytes, checked against the file's size:
 * with this and parseSafetensorsHeader a reader can take a file's tensors one at a time.
 */
export function safetensorsHeaderLength(first8: Uint8Array, fileSize: number): number {
  if (fileSize < 8 || first8.length < 8) fail(`file is ${fileSize} bytes, too short for the 8-byte header length`);
  const view = new DataView(first8.buffer, first8.byteOffset, 8);
  const headerLength = view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
  // named as the file holds it: above 2^53 the float is rounded
  const length = `header length ${view.getBigUint64(0, true)}`;
  if (headerLength > fileSize - 8) fail(otherFormat(first8) ?? `${length} runs past the end of the ${fileSize}-byte file (truncated?)`);
  if (headerLength > MAX_HEADER_LENGTH) fail(otherFormat(first8) ?? `${length} is past the ${MAX_HEADER_LENGTH} bytes safetensors allows a header (a damaged file?)`);
  return headerLength;
}

/**
 * safetensors' own limit on a header (its reader's MAX_HEADER_SIZE): a length past it, in a file
 * large enough, is damage, not a header to allocate and read.
 */
const MAX_HEADER_LENGTH = 100_000_000;

/**
 * What a file that is no safetensors file is, from its first bytes: PyTorch's torch.save formats,
 * given where safetensors was expected. Asked only of a header length that cannot be (a header
 * length may begin with these bytes).
 */
function otherFormat(first8: Uint8Array): string | null {
  const [a, b, c, d] = first8;
  if (a === 0x50 && b === 0x4b && c === 3 && d === 4) return "a zip archive, as PyTorch's torch.save writes (pytorch_model.bin, .pt), not a safetensors file";
  if (a === 0x80 && b! >= 2 && b! <= 5) return "a Python pickle (PyTorch's torch.save before 1.6 writes one), not a safetensors file";
  // printable ASCII and whitespace: a header length of them is petabytes (a config.json, a log, a text given for weights)
  if (first8.subarray(0, 8).every((c) => (c >= 0x20 && c < 0x7f) || c === 0x09 || c === 0x0a || c === 0x0d)) {
    return `a text file (it begins ${JSON.stringify(String.fromCharCode(...first8.subarray(0, 8)))}), not a safetensors file`;
  }
  return null;
}

/** A safetensors header's metadata and tensors, in data order, checked to tile the `dataLength` bytes after it exactly. */
export function parseSafetensorsHeader(raw: Uint8Array, dataLength: number): { metadata: Record<string, string>; layout: SafetensorsEntry[] } {
  const header = parseHeader(raw);
  let metadata: Record<string, string> = {};
  const layout: SafetensorsEntry[] = [];
  for (const [name, info] of Object.entries(header)) {
    // null: none, as safetensors' own reader takes it (an optional map)
    if (name === METADATA_KEY) metadata = info === null ? {} : checkMetadata(info);
    else layout.push({ name, ...checkTensorInfo(name, info, dataLength) });
  }

  // Tensors must tile the data exactly: no overlap, no hole, nothing after the last one.
  layout.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  layout.forEach((t, i) => {
    if (t.begin < expected) {
      const prev = layout[i - 1]!;
      fail(`tensors "${prev.name}" [${prev.begin}, ${prev.end}] and "${t.name}" [${t.begin}, ${t.end}] overlap`);
    }
    if (t.begin > expected) fail(`hole of ${t.begin - expected} bytes before tensor "${t.name}" (corrupt file)`);
    expected = t.end;
  });
  if (expected < dataLength) fail(`${dataLength - expected} trailing bytes after the last tensor (corrupt file)`);
  return { metadata, layout };
}

/** One tensor from its `end - begin` bytes (copied: the result owns its memory). */
function decodeSafetensorsTensor({ name, dtype, shape, begin, end }: SafetensorsEntry, bytes: Uint8Array): SafetensorsTensor {
  return { dtype, shape, data: DTYPES[dtype].read(bytes, (end - begin) / DTYPES[dtype].bytes, name) };
}

/**
 * One tensor from its bytes, taking them as its memory where they are a buffer of their own held as
 * stored (F32 read fresh from a file or a File's slice: no copy), else decoded into a copy.
 */
export function adoptSafetensorsTensor(entry: SafetensorsEntry, bytes: Uint8Array): SafetensorsTensor {
  const codec: Codec = DTYPES[entry.dtype];
  const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer;
  if (!own || !codec.asStored || !LITTLE_ENDIAN) return decodeSafetensorsTensor(entry, bytes);
  return { dtype: entry.dtype, shape: entry.shape, data: new codec.holds(bytes.buffer as ArrayBuffer) };
}

function checkSpec(name: string, dtype: unknown, shape: unknown): Codec {
  if (name === METADATA_KEY) fail(`"${METADATA_KEY}" is reserved and cannot name a tensor`);
  checkText(`tensor name ${JSON.stringify(name)}`, name);
  checkDtype(name, dtype, 'written');
  checkShape(name, shape);
  return DTYPES[dtype];
}

function checkData(name: string, t: SafetensorsTensor): Codec {
  const codec = checkSpec(name, t.dtype, t.shape);
  if (!(t.data instanceof codec.holds)) {
    const got = (t.data as object)?.constructor?.name ?? typeof t.data;
    fail(`tensor "${name}" of dtype ${t.dtype} needs its data as ${codec.holds.name}, got ${got}`);
  }
  const count = t.shape.reduce((a, b) => a * b, 1);
  if (t.data.length !== count) {
    fail(`tensor "${name}" has ${t.data.length} elements but shape [${t.shape.join(', ')}] needs ${count}`);
  }
  return codec;
}

/** JSON.stringify would escape a lone surrogate, but other readers reject such a header. */
function checkText(what: string, ...texts: string[]): void {
  if (texts.some((text) => /\p{Cs}/u.test(text))) fail(`${what} contains a lone surrogate, which has no UTF-8 form`);
}

function parseHeader(raw: Uint8Array): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(raw);
  } catch {
    fail('header is not valid UTF-8');
  }
  const header = parseJSONText(text, (why) => fail(`header is ${why}`));
  const twice = duplicateKey(text);
  if (twice !== null) fail(`header names ${JSON.stringify(twice)} twice in one object`);
  if (!isPlainObject(header)) fail('header must be a JSON object');
  return header;
}

function checkMetadata(info: unknown): Record<string, string> {
  if (!isPlainObject(info)) fail(`"${METADATA_KEY}" must be an object of strings`);
  for (const [k, v] of Object.entries(info)) {
    if (typeof v !== 'string') fail(`"${METADATA_KEY}" entry "${k}" must be a string, got ${JSON.stringify(v)}`);
  }
  return info as Record<string, string>;
}

function checkTensorInfo(name: string, info: unknown, dataLength: number) {
  if (!isPlainObject(info)) fail(`tensor "${name}" must be an object with dtype, shape and data_offsets`);
  const extra = Object.keys(info).filter((k) => !TENSOR_KEYS.includes(k));
  if (extra.length) fail(`tensor "${name}" has unknown fields ${extra.map((k) => `"${k}"`).join(', ')}`);
  const { dtype, shape, data_offsets: offsets } = info;
  checkDtype(name, dtype, 'read');
  checkShape(name, shape);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
    fail(`tensor "${name}" data_offsets must be [begin, end] byte offsets, got ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) fail(`tensor "${name}" data_offsets [${begin}, ${end}] end before they begin`);
  if (end > dataLength) {
    const where = `data_offsets [${begin}, ${end}] run past the end of the ${dataLength}-byte data`;
    fail(`tensor "${name}" ${where} (truncated?)`);
  }
  const needed = shape.reduce((a, b) => a * b, 1) * DTYPES[dtype].bytes;
  if (end - begin !== needed) {
    fail(
      `tensor "${name}" data_offsets [${begin}, ${end}] hold ${end - begin} bytes ` +
        `but shape [${shape.join(', ')}] of ${dtype} needs ${needed}`,
    );
  }
  return { dtype, shape: [...shape], begin, end };
}

/** A dtype of the format not held here (F64, U16, F8_E4M3, ...) is named with those that are. */
function checkDtype(name: string, dtype: unknown, done: 'read' | 'written'): asserts dtype is SafetensorsDtype {
  if (typeof dtype !== 'string' || !Object.hasOwn(DTYPES, dtype)) {
    fail(`tensor "${name}" has dtype ${JSON.stringify(dtype)}, which is not ${done} (only ${Object.keys(DTYPES).join(', ')})`);
  }
}

function checkShape(name: string, shape: unknown): asserts shape is number[] {
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    fail(`tensor "${name}" shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`);
  }
}

const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;

const isPlainObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x);

function fail(message: string): never {
  throw new Error(`safetensors: ${readableLine(message)}`);
}

// F32/I32 are copied byte for byte, which is only right on a little-endian host. That is every
// host WebGPU runs on, and the GPU uploads assume it as well.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A fresh, aligned copy. Not `src.slice()`: on a Node Buffer that is a view, not a copy. */
function copyBytes(src: Uint8Array): ArrayBuffer {
  if (!LITTLE_ENDIAN) fail('big-endian hosts are not supported');
  return copyU8(src).buffer;
}

function copyU8(src: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(src.length);
  out.set(src);
  return out;
}

function writeBytes(data: TensorData, dst: Uint8Array): void {
  if (!LITTLE_ENDIAN) fail('big-endian hosts are not supported');
  dst.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function readHalf(toF32: (bits: number) => number) {
  return (src: Uint8Array, count: number): Float32Array => {
    const view = viewOf(src);
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = toF32(view.getUint16(2 * i, true));
    return out;
  };
}

function writeHalf(fromF32: (x: number) => number) {
  return (data: TensorData, dst: Uint8Array): void => {
    const view = viewOf(dst);
    for (let i = 0; i < data.length; i++) view.setUint16(2 * i, fromF32(data[i]!), true);
  };
}

/** I64 is read into int32 (token ids, step counters); a value that does not fit is an error. */
function readI64(src: Uint8Array, count: number, name: string): Int32Array {
  const view = viewOf(src);
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const lo = view.getUint32(8 * i, true);
    const hi = view.getInt32(8 * i + 4, true);
    // It fits in int32 when the high word is just the sign extension of the low word.
    if (hi !== lo >> 31) {
      fail(`tensor "${name}" (I64) element ${i} = ${view.getBigInt64(8 * i, true)} does not fit in int32`);
    }
    out[i] = lo | 0;
  }
  return out;
}

function writeI64(data: TensorData, dst: Uint8Array): void {
  const view = viewOf(dst);
  for (let i = 0; i < data.length; i++) {
    view.setInt32(8 * i, data[i]!, true);
    view.setInt32(8 * i + 4, data[i]! < 0 ? -1 : 0, true);
  }
}

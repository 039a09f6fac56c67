// PyTorch's torch.save files (>= 1.6: a zip archive) read as torch.load(weights_only=True) reads
// them: FOLDER/data.pkl is a pickle whose tensors name storages kept as FOLDER/data/KEY. Only the
// globals that allow-list names are taken (OrderedDict, the tensor and parameter rebuilders, the
// storage types), each as a function of ours: a pickle naming any other (os.system, builtins.eval)
// is refused by name, and nothing of it runs. A tensor's values are read only when asked for, so a
// 3 GB pytorch_model.bin is read a tensor at a time. Platform free.
import { bf16BitsToF32, f16BitsToF32 } from '../tensor/half.js';
import { parsePickle, PickleGlobal, PickleObject, type PickleHooks, type PickleValue } from './pickle.js';
import { adoptSafetensorsTensor, type SafetensorsDtype, type SafetensorsTensor } from './safetensors.js';
import type { ByteSource, SafetensorsReader } from './safetensors-source.js';
import { readableLine } from './readable-line.js';
import { openZip, type ZipArchive } from './zip.js';

/** How each storage type's elements are stored, and what they are held as (safetensors' dtypes: float64 as float32, int16 as int32). */
const STORAGES: Record<string, { bytes: number; dtype: SafetensorsDtype; read(view: DataView, at: number): number }> = {
  FloatStorage: { bytes: 4, dtype: 'F32', read: (v, at) => v.getFloat32(at, true) },
  DoubleStorage: { bytes: 8, dtype: 'F32', read: (v, at) => v.getFloat64(at, true) },
  HalfStorage: { bytes: 2, dtype: 'F16', read: (v, at) => f16BitsToF32(v.getUint16(at, true)) },
  BFloat16Storage: { bytes: 2, dtype: 'BF16', read: (v, at) => bf16BitsToF32(v.getUint16(at, true)) },
  LongStorage: { bytes: 8, dtype: 'I64', read: readI64 },
  IntStorage: { bytes: 4, dtype: 'I32', read: (v, at) => v.getInt32(at, true) },
  ShortStorage: { bytes: 2, dtype: 'I32', read: (v, at) => v.getInt16(at, true) },
  CharStorage: { bytes: 1, dtype: 'I8', read: (v, at) => v.getInt8(at) },
  ByteStorage: { bytes: 1, dtype: 'U8', read: (v, at) => v.getUint8(at) },
  BoolStorage: { bytes: 1, dtype: 'BOOL', read: (v, at) => v.getUint8(at) },
};

/** The most elements one typed array holds in the engines this runs on (2^32 - 1 in V8). */
const MAX_ELEMENTS = 2 ** 32 - 1;
/**
 * The most elements a view that repeats its storage's (stride 0, as expand() makes) is read to: a
 * view of its own storage is no larger than the file, but a repeating one of a few bytes could ask
 * for gigabytes (256 MiB of float32 here).
 */
const MAX_REPEATED_ELEMENTS = 2 ** 26;

/**
 * The most bytes a torch.save file's pickle is read to (64 MiB): a state dict's takes kilobytes (a
 * few hundred bytes a tensor), so one larger is damage, not gigabytes to read before saying so.
 */
const MAX_PICKLE_BYTES = 2 ** 26;

/** One storage of the file: FOLDER/data/KEY, `numel` elements of its type. */
class TorchStorage extends PickleObject {
  constructor(readonly key: string, readonly type: string, readonly numel: number) {
    super();
  }
}

/** A tensor of the file, its values not yet read: a view (offset, shape, strides in elements) of a storage. */
export class TorchTensor extends PickleObject {
  constructor(readonly storage: TorchStorage, readonly offset: number, readonly shape: number[], readonly stride: number[]) {
    super();
  }
  /** The dtype its values are held as (F32 for float32 and float64, ...). */
  get dtype(): SafetensorsDtype {
    return STORAGES[this.storage.type]!.dtype;
  }
}

/** A torch.save file, its pickle read: `root` is what torch.load returns, its tensors TorchTensors, each read by `readTensor`. */
export interface TorchFile {
  root: PickleValue;
  readTensor(tensor: TorchTensor): Promise<SafetensorsTensor>;
}

/** The first bytes of a pickle (PROTO 2 to 5): a torch.save file of before PyTorch 1.6 begins so. */
const isPickle = (first: Uint8Array) => first[0] === 0x80 && first[1]! >= 2 && first[1]! <= 5;

/** Reads the torch.save file `source` reads (its pickle, not its tensors); `name` (a file name) leads every error. */
export async function openTorchFile(source: ByteSource, name: string): Promise<TorchFile> {
  const first = await source.read(0, Math.min(2, source.size));
  if (isPickle(first)) throw new Error(`${name}: a torch.save file of PyTorch before 1.6 (a bare pickle), which is not read: re-save it with torch >= 1.6, torch.save(torch.load(PATH), PATH)`);
  const zip = await openZip(source, name);
  const pickles = [...zip.entries.keys()].filter((entry) => /^[^/]+\/data\.pkl$/.test(entry));
  if (pickles.length !== 1) throw new Error(`${name}: a zip archive that is not a torch.save file (${pickles.length ? `${pickles.length} FOLDER/data.pkl` : 'no FOLDER/data.pkl'})`);
  const folder = pickles[0]!.slice(0, -'data.pkl'.length);
  // PyTorch >= 2.1 records the byte order of the tensors' bytes, read here as little-endian
  const byteorder = zip.entries.get(`${folder}byteorder`);
  // a word, never read whole where the file makes it large
  if (byteorder && byteorder.size > 16) throw new Error(`${name}: ${folder}byteorder has ${byteorder.size} bytes, not a byte order ('little' or 'big')`);
  const order = byteorder && new TextDecoder().decode(await zip.read(byteorder)).trim();
  if (order && order !== 'little') throw new Error(`${name}: its tensors are stored ${readableLine(order)}-endian (${folder}byteorder), but only little-endian ones are read: re-save it on a little-endian machine`);
  const pickle = zip.entries.get(pickles[0]!)!;
  if (pickle.size > MAX_PICKLE_BYTES) throw new Error(`${name}: ${pickle.name} has ${pickle.size} bytes, past the ${MAX_PICKLE_BYTES} a torch.save pickle is read to (its tensors' values lie beside it, in ${folder}data/): a damaged file`);
  const storages = new Map<string, TorchStorage>();
  const root = parsePickle(await zip.read(pickle), `${name}: ${pickles[0]}`, torchHooks(storages));
  return { root, readTensor: (tensor) => readTensor(zip, folder, name, tensor) };
}

/**
 * A state dict of the file (`tensors`: a dict of names to tensors, e.g. its root, as a
 * pytorch_model.bin holds) read as a safetensors file is: entries known before any tensor is read,
 * each read when asked for. An entry's begin and end place the bytes its values take in their
 * storage. `at` names the dict in errors ("ckpt.pt['model']").
 */
export function torchStateDictReader(file: TorchFile, tensors: PickleValue, at: string): SafetensorsReader {
  if (!(tensors instanceof Map)) throw new Error(`${at}: expected a dict of tensors (a state dict), got ${describe(tensors)}`);
  const byName = new Map<string, TorchTensor>();
  for (const [key, t] of tensors) {
    if (typeof key !== 'string' || !(t instanceof TorchTensor)) throw new Error(`${at}: expected a dict of tensors (a state dict), but ${describe(key)} holds ${describe(t)}`);
    byName.set(key, t);
  }
  const entries = [...byName].map(([name, t]) => {
    const bytes = STORAGES[t.storage.type]!.bytes;
    const begin = t.offset * bytes;
    return { name, dtype: t.dtype, shape: [...t.shape], begin, end: begin + t.shape.reduce((a, b) => a * b, 1) * bytes };
  });
  const readTensor = (entry: { name: string }) => file.readTensor(byName.get(entry.name)!);
  return {
    metadata: {},
    entries,
    readTensor,
    async readTensors(wanted = () => true) {
      const out: Record<string, SafetensorsTensor> = {};
      // defineProperty: a tensor named "__proto__" stays a tensor
      for (const entry of entries) if (wanted(entry.name)) Object.defineProperty(out, entry.name, { value: await readTensor(entry), enumerable: true, writable: true, configurable: true });
      return out;
    },
  };
}

/** A pickled value in a few words, for errors. */
export function describe(value: PickleValue): string {
  if (value instanceof TorchTensor) return `a tensor of size (${value.shape.join(', ')})`;
  if (value instanceof Map) return `a dict of ${value.size}`;
  if (Array.isArray(value)) return `a list or tuple of ${value.length}`;
  if (value instanceof PickleObject) return 'an object';
  return JSON.stringify(value);
}

/** torch.load(weights_only=True)'s allow-list, as ours; `storages` keeps each storage once, by key (tied weights share one). */
function torchHooks(storages: Map<string, TorchStorage>): PickleHooks {
  const storageTypes = Object.keys(STORAGES).map((type): [string, null] => [`torch.${type}`, null]);
  const globals = new Map<string, ((args: PickleValue[]) => PickleValue) | null>([
    ['collections.OrderedDict', (args) => (args.length === 0 ? new Map() : refuse(`collections.OrderedDict with ${args.length} arguments`))],
    ['torch._utils._rebuild_tensor_v2', rebuildTensor],
    // a Parameter's data, its requires_grad and hooks set aside: the values are all that is read
    ['torch._utils._rebuild_parameter', ([data]) => (data instanceof TorchTensor ? data : refuse('torch._utils._rebuild_parameter of something not a tensor'))],
    ['torch._utils._rebuild_parameter_with_state', ([data]) => (data instanceof TorchTensor ? data : refuse('torch._utils._rebuild_parameter_with_state of something not a tensor'))],
    ...storageTypes,
  ]);
  return {
    globals,
    persistentLoad(pid) {
      // ('storage', storage type, key, location, numel)
      const [kind, type, key, , numel] = Array.isArray(pid) ? pid : [];
      if (kind !== 'storage' || !(type instanceof PickleGlobal) || typeof key !== 'string' || !isCount(numel)) refuse(`a persistent id that is not a storage's ('storage', type, key, location, numel)`);
      const storageType = (type as PickleGlobal).path.slice('torch.'.length);
      const known = storages.get(key as string);
      if (known && (known.type !== storageType || known.numel !== numel)) refuse(`storage ${key} named as ${known.type} of ${known.numel} and as ${storageType} of ${numel}`);
      const storage = known ?? new TorchStorage(key as string, storageType, numel as number);
      storages.set(storage.key, storage);
      return storage;
    },
    build(target, state) {
      // a state dict's OrderedDict carries _metadata (its modules' versions): not needed to read it
      if (!(target instanceof Map) || !(state instanceof Map)) refuse('BUILD of something other than an OrderedDict');
    },
  };
}

/** _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]). */
function rebuildTensor([storage, offset, shape, stride]: PickleValue[]): TorchTensor {
  if (!(storage instanceof TorchStorage)) refuse('torch._utils._rebuild_tensor_v2 of something not a storage');
  if (!isCount(offset) || !isCounts(shape) || !isCounts(stride) || shape.length !== stride.length) refuse(`torch._utils._rebuild_tensor_v2 with offset ${String(offset)}, size and stride that are not tuples of counts of one length`);
  const t = new TorchTensor(storage as TorchStorage, offset as number, shape as number[], stride as number[]);
  const last = (shape as number[]).reduce((end, n, i) => (n === 0 ? -Infinity : end + (n - 1) * (stride as number[])[i]!), offset as number);
  if (last >= (storage as TorchStorage).numel) refuse(`a tensor of size (${(shape as number[]).join(', ')}), stride (${(stride as number[]).join(', ')}) at offset ${String(offset)} runs past its storage's ${(storage as TorchStorage).numel} elements`);
  return t;
}

/** A tensor's values in row-major order, read from its storage's entry (a strided view gathered: a transposed tensor too). */
async function readTensor(zip: ZipArchive, folder: string, name: string, t: TorchTensor): Promise<SafetensorsTensor> {
  // a key, a size read from the file can be megabytes long: its error is cut to a readable line
  const fail = (why: string): never => {
    throw new Error(`${name}: ${readableLine(why)}`);
  };
  const entryName = `${folder}data/${t.storage.key}`;
  const { bytes: width, dtype, read } = STORAGES[t.storage.type]!;
  const entry = zip.entries.get(entryName) ?? fail(`no ${entryName}, the storage a tensor names`);
  if (entry.size !== t.storage.numel * width) fail(`${entryName} has ${entry.size} bytes, not the ${t.storage.numel} elements of ${width} bytes its ${t.storage.type} holds`);
  const count = t.shape.reduce((a, b) => a * b, 1);
  // a view repeating its storage (stride 0) can name more elements than any array holds
  if (count > MAX_ELEMENTS) fail(`a tensor of size (${t.shape.join(', ')}) in ${entryName}: ${count} elements, past the ${MAX_ELEMENTS} one array holds`);
  if (count > t.storage.numel && count > MAX_REPEATED_ELEMENTS) fail(`a tensor of size (${t.shape.join(', ')}) in ${entryName} repeats its storage's ${t.storage.numel} elements as ${count}, past the ${MAX_REPEATED_ELEMENTS} a repeating view is read to`);
  const holds = { F32: Float32Array, F16: Float32Array, BF16: Float32Array, I64: Int32Array, I32: Int32Array, I8: Int8Array, U8: Uint8Array, BOOL: Uint8Array }[dtype];
  const data = new holds(count);
  if (count === 0) return { dtype, shape: [...t.shape], data };
  // only the span of the storage the view covers is read
  const span = t.shape.reduce((end, n, i) => end + (n - 1) * t.stride[i]!, 0) + 1;
  const bytes = await zip.read(entry, t.offset * width, span * width);
  if (isRowMajor(t) && asInSafetensors(t.storage.type)) {
    // laid out as a safetensors file's tensor: decoded as one (float32 adopted uncopied where the read gave its own buffer)
    try {
      return adoptSafetensorsTensor({ name: entryName, dtype, shape: [...t.shape], begin: 0, end: bytes.length }, bytes);
    } catch (e) {
      fail((e as Error).message);
    }
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const index = new Array<number>(t.shape.length).fill(0);
  for (let i = 0, at = 0; i < count; i++) {
    try {
      data[i] = read(view, at * width);
    } catch (e) {
      fail(`a tensor of ${entryName}: ${(e as Error).message}`);
    }
    // the next index in row-major order, and its element in the storage
    for (let d = t.shape.length - 1; d >= 0; d--) {
      at += t.stride[d]!;
      if (++index[d]! < t.shape[d]!) break;
      at -= t.stride[d]! * t.shape[d]!;
      index[d] = 0;
    }
  }
  return { dtype, shape: [...t.shape], data };
}

/** Whether a storage's elements are stored as its dtype's are in a safetensors file (not float64's or int16's, held converted). */
const asInSafetensors = (type: string) => type !== 'DoubleStorage' && type !== 'ShortStorage';

/** Whether a tensor's elements lie in its storage in row-major order, one after another (a dimension of 1 has any stride). */
function isRowMajor({ shape, stride }: TorchTensor): boolean {
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expected) return false;
    expected *= shape[d]!;
  }
  return true;
}

/** An int64 as an int32 (token ids, counters); one that does not fit is an error. */
function readI64(view: DataView, at: number): number {
  const value = view.getBigInt64(at, true);
  if (value !== BigInt(Number(value) | 0)) throw new Error(`an int64 of ${value}, which does not fit in int32`);
  return Number(value);
}

const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
const isCounts = (x: unknown): x is number[] => Array.isArray(x) && x.every(isCount);

function refuse(why: string): never {
  throw new Error(why);
}

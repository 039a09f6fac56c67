// torch.save's file (PyTorch >= 1.6) written, the reverse of src/io/torch-file.ts: a zip archive
// (src/io/zip-writer.ts, torch's 64-byte alignment) of archive/data.pkl, a protocol-2 pickle whose
// tensors are torch._utils._rebuild_tensor_v2 of storages named by persistent id, each storage's
// bytes as archive/data/KEY, and archive/version. Only the globals torch.load(weights_only=True)
// allows are named. Tensors are float32 and contiguous; two tensors given one storage share it (a
// tied weight, saved once). Each storage is read when its entry is written. Platform free.
import { PickleObjectOut, PickleWriter, type PickleOut } from './pickle-writer.js';
import { OP } from './pickle-ops.js';
import { zipPieces, type ZipEntryOut } from './zip-writer.js';

/** torch.save's folder for a stream (what torch.load reads any folder name as). */
const FOLDER = 'archive';
/** The file format version torch >= 1.6 writes (kProducedFileFormatVersion). */
const VERSION = '3\n';

/** A float32 storage: `numel` values, read when its entry is written. */
export class TorchStorageOut {
  constructor(
    readonly numel: number,
    readonly read: () => Promise<Float32Array>,
  ) {}
}

/** A contiguous float32 tensor of `shape` over all of `storage`. */
export class TorchTensorOut extends PickleObjectOut {
  constructor(
    readonly storage: TorchStorageOut,
    readonly shape: readonly number[],
  ) {
    super();
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== storage.numel) throw new Error(`torch.save: a tensor of size (${shape.join(', ')}) over a storage of ${storage.numel} values`);
  }

  /** _rebuild_tensor_v2(storage, 0, size, stride, requires_grad=False, OrderedDict()), as torch writes a tensor. */
  writeTo(w: PickleWriter): void {
    if (!(w instanceof TorchPickler)) throw new Error('torch.save: a tensor is written only into a torch.save pickle');
    const stride = this.shape.map((_, i) => this.shape.slice(i + 1).reduce((a, b) => a * b, 1));
    w.global('torch._utils', '_rebuild_tensor_v2').op(OP.MARK);
    // the persistent id: ('storage', storage type, key, location, numel)
    w.op(OP.MARK).str('storage').global('torch', 'FloatStorage').str(w.keyOf(this.storage)).str('cpu').int(this.storage.numel).op(OP.TUPLE, OP.BINPERSID);
    w.int(0).tuple(this.shape).tuple(stride).value(false);
    new OrderedDict(new Map()).writeTo(w);
    w.op(OP.TUPLE, OP.REDUCE);
  }
}

/** collections.OrderedDict of `items` (a state dict's type). */
export class OrderedDict extends PickleObjectOut {
  constructor(readonly items: ReadonlyMap<string | number, PickleOut>) {
    super();
  }

  writeTo(w: PickleWriter): void {
    w.global('collections', 'OrderedDict').op(OP.EMPTY_TUPLE, OP.REDUCE);
    if (this.items.size === 0) return;
    w.op(OP.MARK);
    for (const [key, item] of this.items) w.value(key).value(item);
    w.op(OP.SETITEMS);
  }
}

/** A pickle writer that numbers storages as their tensors are written: keys '0', '1', ... */
class TorchPickler extends PickleWriter {
  readonly storages = new Map<TorchStorageOut, string>();

  keyOf(storage: TorchStorageOut): string {
    const known = this.storages.get(storage);
    if (known !== undefined) return known;
    const key = String(this.storages.size);
    this.storages.set(storage, key);
    return key;
  }
}

/** torch.save(root)'s bytes in pieces (writeFileAtomic takes them): the pickle first, then each storage read and written in turn. */
export function torchSavePieces(root: PickleOut, name = 'torch.save'): AsyncGenerator<Uint8Array> {
  const pickler = new TorchPickler();
  const pickle = pickler.value(root).finish();
  const entries: ZipEntryOut[] = [
    { name: `${FOLDER}/data.pkl`, data: () => pickle },
    ...[...pickler.storages].map(([storage, key]) => ({ name: `${FOLDER}/data/${key}`, data: () => storageBytes(storage, key, name) })),
    { name: `${FOLDER}/version`, data: () => new TextEncoder().encode(VERSION) },
  ];
  return zipPieces(entries);
}

/** A storage's values as little-endian float32 bytes, checked to be as many as it said. */
async function storageBytes(storage: TorchStorageOut, key: string, name: string): Promise<Uint8Array> {
  const values = await storage.read();
  if (values.length !== storage.numel) throw new Error(`${name}: storage ${key} read ${values.length} values, not its ${storage.numel}`);
  // float32 arrays are little-endian on every platform WebGPU runs on
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

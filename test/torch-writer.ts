// For the torch.save tests: a torch.save file written by hand, as PyTorch >= 1.6 lays it out
// (archive/data.pkl, a protocol-2 pickle whose float32 tensors are _rebuild_tensor_v2 of storages
// kept as archive/data/KEY), for checkpoints too large to commit as fixtures (a padded GPT-2
// vocabulary). Independent of src/io: written from the pickle opcodes' definitions.
import { zipBytes, type ZipInput } from './zip-writer.js';

/** A float32 tensor, row-major. */
export interface HostTensor {
  shape: number[];
  data: Float32Array;
}
export type TorchValue = number | string | boolean | null | HostTensor | Map<string, TorchValue>;

/** The bytes of torch.save(root), each tensor a storage of its own. */
export function torchSave(root: TorchValue): Uint8Array {
  const out: number[] = [0x80, 2];
  const storages: ZipInput[] = [];
  const ascii = (s: string) => [...new TextEncoder().encode(s)];
  const str = (s: string) => {
    const b = ascii(s);
    out.push(0x58, ...u32(b.length), ...b); // BINUNICODE
  };
  const int = (n: number) => out.push(0x4a, ...u32(n >>> 0)); // BININT (non-negative here)
  const global = (module: string, name: string) => out.push(0x63, ...ascii(`${module}\n${name}\n`));
  const put = (v: TorchValue): void => {
    if (v === null) out.push(0x4e);
    else if (typeof v === 'boolean') out.push(v ? 0x88 : 0x89);
    else if (typeof v === 'string') str(v);
    else if (typeof v === 'number') {
      if (Number.isInteger(v) && v >= 0 && v < 2 ** 31) int(v);
      else {
        const b = new Uint8Array(8);
        new DataView(b.buffer).setFloat64(0, v, false);
        out.push(0x47, ...b); // BINFLOAT
      }
    } else if (v instanceof Map) {
      out.push(0x7d, 0x28); // EMPTY_DICT, MARK
      for (const [k, x] of v) {
        str(k);
        put(x);
      }
      out.push(0x75); // SETITEMS
    } else {
      const key = String(storages.length);
      storages.push({ name: `archive/data/${key}`, data: new Uint8Array(v.data.buffer, v.data.byteOffset, v.data.byteLength) });
      const strides = v.shape.map((_, i) => v.shape.slice(i + 1).reduce((a, b) => a * b, 1));
      global('torch._utils', '_rebuild_tensor_v2');
      out.push(0x28, 0x28); // MARK (args), MARK (persistent id)
      str('storage');
      global('torch', 'FloatStorage');
      str(key);
      str('cpu');
      int(v.data.length);
      out.push(0x74, 0x51); // TUPLE, BINPERSID
      int(0);
      const tuple = (xs: number[]) => {
        out.push(0x28);
        xs.forEach(int);
        out.push(0x74);
      };
      tuple(v.shape);
      tuple(strides);
      out.push(0x89); // requires_grad False
      global('collections', 'OrderedDict');
      out.push(0x29, 0x52, 0x74, 0x52); // EMPTY_TUPLE, REDUCE, TUPLE (the args), REDUCE
    }
  };
  put(root);
  out.push(0x2e); // STOP
  return zipBytes([{ name: 'archive/data.pkl', data: Uint8Array.from(out) }, ...storages, { name: 'archive/version', data: new TextEncoder().encode('3\n') }]);
}

function u32(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}

/**
 * nanoGPT's ckpt.pt of a GPT-2-vocabulary run (vocab_size padded to 50304), one layer of width 4
 * (3.2 MB, its token embedding most of it); `prefix` before every weight name ('_orig_mod.' as
 * torch.compile saves them, or ''); `extra` entries beside model and model_args. With its token
 * embedding, [50304, 4]. `fill`: every weight's value (NaN: a file whose weights, once read, are refused), in place of varied ones.
 */
export function paddedNanoGptCheckpoint(prefix: string, extra: [string, TorchValue][] = [], fill?: number): { bytes: Uint8Array; wte: HostTensor } {
  const C = 4;
  const values = (n: number) => Float32Array.from({ length: n }, (_, i) => fill ?? Math.sin(i * 12.9898) * 0.1);
  const t = (...shape: number[]): HostTensor => ({ shape, data: values(shape.reduce((a, b) => a * b)) });
  const wte = t(50304, C);
  const weights: [string, HostTensor][] = [
    ['transformer.wte.weight', wte], ['transformer.wpe.weight', t(16, C)],
    ['transformer.h.0.ln_1.weight', t(C)], ['transformer.h.0.attn.c_attn.weight', t(3 * C, C)], ['transformer.h.0.attn.c_proj.weight', t(C, C)],
    ['transformer.h.0.ln_2.weight', t(C)], ['transformer.h.0.mlp.c_fc.weight', t(4 * C, C)], ['transformer.h.0.mlp.c_proj.weight', t(C, 4 * C)],
    ['transformer.ln_f.weight', t(C)], ['lm_head.weight', wte],
  ];
  const state = new Map<string, TorchValue>(weights.map(([name, w]) => [prefix + name, w]));
  const args = new Map<string, TorchValue>([['n_layer', 1], ['n_head', 2], ['n_embd', C], ['block_size', 16], ['bias', false], ['vocab_size', 50304], ['dropout', 0]]);
  const bytes = torchSave(new Map<string, TorchValue>([['model', state], ['model_args', args], ...extra, ['config', new Map([['dataset', 'openwebtext']])]]));
  return { bytes, wte };
}

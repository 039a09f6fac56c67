// Python pickles written, protocol 2 (what torch.save writes): dicts, lists, tuples, strings,
// ints, floats, booleans and None, and objects a writer spells itself (PickleObjectOut: torch's
// tensors, by globals and persistent ids). The opcodes are the reader's (src/io/pickle-ops.ts).
// Nothing is memoized: a value seen twice is written twice (torch's shared storages are shared by
// their persistent id, not by the pickle's memo). Platform free.
import { OP } from './pickle-ops.js';

/** A Python float: a JS number is written as an int where it is one (iter_num), so a float (0.0) says so. */
export class PyFloat {
  constructor(readonly value: number) {}
}

/** A Python tuple (a JS array is written as a list). */
export class PyTuple {
  constructor(readonly items: readonly PickleOut[]) {}
}

/** A value that writes itself (a tensor: its globals, its storage's persistent id). */
export abstract class PickleObjectOut {
  abstract writeTo(w: PickleWriter): void;
}

/** What a pickle is written of: a Map is a dict (insertion order kept), an array a list; a number must be a safe integer (PyFloat for floats). */
export type PickleOut = null | boolean | number | string | PyFloat | PyTuple | readonly PickleOut[] | ReadonlyMap<string | number, PickleOut> | PickleObjectOut;

/** Protocol 2's opcodes, appended to a growing buffer; `finish` ends the pickle. */
export class PickleWriter {
  private bytes = new Uint8Array(1024);
  private length = 0;
  private readonly utf8 = new TextEncoder();

  constructor() {
    this.op(OP.PROTO, 2);
  }

  /** Opcodes and raw bytes, as given. */
  op(...bytes: number[]): this {
    this.append(Uint8Array.from(bytes));
    return this;
  }

  /** A Python int (BININT1/2, BININT, or LONG1 past int32). */
  int(n: number): this {
    if (!Number.isSafeInteger(n)) throw new Error(`pickle: ${n} is not an integer a float64 holds exactly (a float must be a PyFloat)`);
    if (n >= 0 && n < 0x100) return this.op(OP.BININT1, n);
    if (n >= 0 && n < 0x10000) return this.op(OP.BININT2, n & 0xff, n >>> 8);
    if (n >= -(2 ** 31) && n < 2 ** 31) return this.op(OP.BININT, ...le(BigInt(n), 4));
    // LONG1: little-endian two's complement, as short as keeps the sign
    let width = 1;
    while (BigInt(n) >= 1n << BigInt(8 * width - 1) || BigInt(n) < -(1n << BigInt(8 * width - 1))) width++;
    return this.op(OP.LONG1, width, ...le(BigInt(n), width));
  }

  float(x: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, x, false);
    return this.op(OP.BINFLOAT, ...b);
  }

  str(s: string): this {
    const b = this.utf8.encode(s);
    this.op(OP.BINUNICODE, ...le(BigInt(b.length), 4));
    this.append(b);
    return this;
  }

  /** A global by module and name (GLOBAL, protocol 2's spelling). */
  global(module: string, name: string): this {
    this.op(OP.GLOBAL);
    this.append(this.utf8.encode(`${module}\n${name}\n`));
    return this;
  }

  /** A tuple of `items` (EMPTY_TUPLE, TUPLE1-3, or MARK ... TUPLE). */
  tuple(items: readonly PickleOut[]): this {
    if (items.length === 0) return this.op(OP.EMPTY_TUPLE);
    if (items.length > 3) this.op(OP.MARK);
    for (const item of items) this.value(item);
    return this.op(items.length > 3 ? OP.TUPLE : [OP.TUPLE1, OP.TUPLE2, OP.TUPLE3][items.length - 1]!);
  }

  value(v: PickleOut): this {
    if (v === null) return this.op(OP.NONE);
    if (typeof v === 'boolean') return this.op(v ? OP.NEWTRUE : OP.NEWFALSE);
    if (typeof v === 'number') return this.int(v);
    if (typeof v === 'string') return this.str(v);
    if (v instanceof PyFloat) return this.float(v.value);
    if (v instanceof PyTuple) return this.tuple(v.items);
    if (v instanceof PickleObjectOut) {
      v.writeTo(this);
      return this;
    }
    if (v instanceof Map) {
      this.op(OP.EMPTY_DICT);
      if (v.size === 0) return this;
      this.op(OP.MARK);
      for (const [key, item] of v) this.value(key).value(item);
      return this.op(OP.SETITEMS);
    }
    const items = v as readonly PickleOut[];
    this.op(OP.EMPTY_LIST);
    if (items.length === 0) return this;
    this.op(OP.MARK);
    for (const item of items) this.value(item);
    return this.op(OP.APPENDS);
  }

  /** The pickle of what was written, STOP added. */
  finish(): Uint8Array {
    this.op(OP.STOP);
    return this.bytes.slice(0, this.length);
  }

  private append(b: Uint8Array): void {
    if (this.length + b.length > this.bytes.length) {
      const grown = new Uint8Array(Math.max(2 * this.bytes.length, this.length + b.length));
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
    }
    this.bytes.set(b, this.length);
    this.length += b.length;
  }
}

/** The pickle (protocol 2) of `value`. */
export const pickleBytes = (value: PickleOut): Uint8Array => new PickleWriter().value(value).finish();

/** `n` as `width` little-endian two's-complement bytes. */
function le(n: bigint, width: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < width; i++) out.push(Number((n >> BigInt(8 * i)) & 0xffn));
  return out;
}

// Python pickles of plain data (protocols 2 to 5): dicts, lists, tuples, strings, numbers, booleans
// and None, as nanoGPT's meta.pkl holds (its character vocabulary). Nothing else is read: an opcode
// that would name a class or call a function is refused, so a pickle can build data here, never run
// code, as Python's own loader would. A reader may allow named globals (PickleHooks: torch.load's
// weights_only allow-list, src/io/torch-file.ts): each is then a function of ours, never Python's,
// and any other global is refused by name.
import { OP } from './pickle-ops.js';
import { readableLine } from './readable-line.js';

/** What a pickle of plain data holds: a dict is a Map (its keys may be numbers), a list or tuple an array; objects only where hooks make them. */
export type PickleValue = null | boolean | number | string | PickleValue[] | Map<PickleValue, PickleValue> | PickleObject;

/** A value a reader's hooks make (a global named, a tensor built): opaque to the unpickler. */
export abstract class PickleObject {}

/** A Python global a pickle names (GLOBAL, STACK_GLOBAL), allowed by the reader's hooks. */
export class PickleGlobal extends PickleObject {
  constructor(readonly path: string) {
    super();
  }
}

/** What a reader allows beyond plain data; every global not in `globals` is refused by name. */
export interface PickleHooks {
  /** The allowed globals by 'module.name': what calling one (REDUCE, NEWOBJ) with `args` makes, or null for one that is only named, never called. */
  globals: ReadonlyMap<string, ((args: PickleValue[]) => PickleValue) | null>;
  /** BINPERSID's object for a persistent id (torch's storages). */
  persistentLoad(pid: PickleValue): PickleValue;
  /** BUILD: sets `state` on `target` (torch's OrderedDict's _metadata); throws where it is not allowed. */
  build(target: PickleValue, state: PickleValue): void;
}

const MARK = Symbol('mark');
type Slot = PickleValue | typeof MARK;

/** The value pickled in `bytes`; `name` (a file name) leads every error; `hooks` allow globals (none by default). */
export function parsePickle(bytes: Uint8Array, name = 'pickle', hooks?: PickleHooks): PickleValue {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const stack: Slot[] = [];
  // a dict, as pickle._Unpickler's: an index may be any u32 (an array would hold 2^32 slots, and holes)
  const memo = new Map<number, PickleValue>();
  let at = 0;
  const fail = (why: string, where = at): never => {
    throw new Error(`${name}: ${readableLine(why)} (at byte ${where})`);
  };
  const take = (n: number) => {
    if (at + n > bytes.length) fail('cut short');
    at += n;
    return at - n;
  };
  const u8 = () => bytes[take(1)]!;
  const u16 = () => view.getUint16(take(2), true);
  const u32 = () => view.getUint32(take(4), true);
  const text = (n: number) => {
    const start = take(n);
    try {
      return utf8.decode(bytes.subarray(start, start + n));
    } catch {
      return fail('a string that is not UTF-8');
    }
  };
  const pop = (): PickleValue => {
    const v = stack.pop();
    if (v === undefined || v === MARK) fail('an opcode found too few values');
    return v as PickleValue;
  };
  const popToMark = (): PickleValue[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) fail('no mark to pop to');
    return stack.splice(i).slice(1) as PickleValue[];
  };
  const top = <T>(check: (v: Slot) => v is T & Slot, what: string): T => {
    const v = stack.at(-1);
    if (v === undefined || !check(v)) fail(`expected a ${what} to add to`);
    return v as T;
  };
  const dict = () => top<Map<PickleValue, PickleValue>>((v): v is Map<PickleValue, PickleValue> => v instanceof Map, 'dict');
  const list = () => top<PickleValue[]>((v): v is PickleValue[] => Array.isArray(v), 'list');
  const setPairs = (d: Map<PickleValue, PickleValue>, flat: PickleValue[]) => {
    // Python's loader fails on a key without its value too
    if (flat.length % 2) fail(`SETITEMS with ${flat.length} values, not key-value pairs`);
    for (let i = 0; i < flat.length; i += 2) d.set(flat[i]!, flat[i + 1]!);
  };
  const get = (i: number) => (memo.has(i) ? memo.get(i)! : fail(`memo entry ${i} is not there`));
  const put = (i: number, op: string) => memo.set(i, stack.length && stack.at(-1) !== MARK ? (stack.at(-1) as PickleValue) : fail(`${op} with nothing to store`));
  const line = () => {
    const end = bytes.indexOf(0x0a, at);
    return end < 0 ? fail('cut short') : text(end - at + 1).slice(0, -1);
  };
  const global = (module: string, qualname: string, where: number): PickleGlobal => {
    const path = `${module}.${qualname}`;
    if (!hooks!.globals.has(path)) fail(`global ${path} is not allowed (only ${[...hooks!.globals.keys()].join(', ')}): a pickle that could run code is not read`, where);
    return new PickleGlobal(path);
  };
  const call = (callable: PickleValue, args: PickleValue, where: number) => {
    const make = callable instanceof PickleGlobal ? hooks!.globals.get(callable.path) : undefined;
    if (!make) fail(`${callable instanceof PickleGlobal ? callable.path : 'a value that is no allowed global'} is called, which is not allowed`, where);
    if (!Array.isArray(args)) fail('a call whose arguments are not a tuple', where);
    return byHook(() => make!(args as PickleValue[]), where);
  };
  /** A hook's answer; its error, with the place in the pickle. */
  const byHook = <T>(answer: () => T, where: number): T => {
    try {
      return answer();
    } catch (e) {
      return fail((e as Error).message, where);
    }
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case OP.PROTO: u8(); break;
      case OP.FRAME: take(8); break; // a length hint
      case OP.STOP: return stack.length === 1 ? pop() : fail(`STOP with ${stack.length} values on the stack`);
      case OP.MARK: stack.push(MARK); break;
      case OP.EMPTY_DICT: stack.push(new Map()); break;
      case OP.EMPTY_LIST: stack.push([]); break;
      case OP.EMPTY_TUPLE: stack.push([]); break;
      case OP.NONE: stack.push(null); break;
      case OP.NEWTRUE: stack.push(true); break;
      case OP.NEWFALSE: stack.push(false); break;
      case OP.BININT1: stack.push(u8()); break;
      case OP.BININT2: stack.push(u16()); break;
      case OP.BININT: stack.push(view.getInt32(take(4), true)); break;
      case OP.BINFLOAT: stack.push(view.getFloat64(take(8), false)); break; // big-endian
      case OP.LONG1: { const n = u8(); const start = take(n); stack.push(long(bytes.subarray(start, start + n), fail)); break; }
      case OP.SHORT_BINUNICODE: stack.push(text(u8())); break;
      case OP.BINUNICODE: stack.push(text(u32())); break;
      case OP.MEMOIZE: put(memo.size, 'MEMOIZE'); break;
      case OP.BINPUT: put(u8(), 'BINPUT'); break;
      case OP.LONG_BINPUT: put(u32(), 'LONG_BINPUT'); break;
      case OP.BINGET: stack.push(get(u8())); break;
      case OP.LONG_BINGET: stack.push(get(u32())); break;
      case OP.SETITEM: { const v = pop(); const k = pop(); dict().set(k, v); break; }
      case OP.SETITEMS: { const flat = popToMark(); setPairs(dict(), flat); break; }
      case OP.APPEND: { const v = pop(); list().push(v); break; }
      case OP.APPENDS: { const items = popToMark(); const l = list(); for (const item of items) l.push(item); break; } // a loop: push(...items) overflows the call stack past ~100k)
      case OP.TUPLE: stack.push(popToMark()); break;
      case OP.TUPLE1: stack.push([pop()]); break;
      case OP.TUPLE2: { const b = pop(); stack.push([pop(), b]); break; }
      case OP.TUPLE3: { const c = pop(); const b = pop(); stack.push([pop(), b, c]); break; }
      default:
        if (!hooks || !objectOp(op)) unread(op);
    }
  }

  /** The opcodes that name or call globals, read where hooks allow globals: false for another. */
  function objectOp(op: number): boolean {
    const where = at - 1;
    switch (op) {
      case OP.GLOBAL: { const module = line(); stack.push(global(module, line(), where)); return true; }
      case OP.STACK_GLOBAL: { const qualname = pop(); stack.push(global(String(pop()), String(qualname), where)); return true; }
      case OP.REDUCE: // callable(*args)
      case OP.NEWOBJ: { const args = pop(); stack.push(call(pop(), args, where)); return true; } // cls.__new__(cls, *args), for the classes allowed the same
      case OP.BUILD: { const state = pop(); byHook(() => hooks!.build(stack.at(-1) as PickleValue, state), where); return true; }
      case OP.BINPERSID: { const pid = pop(); stack.push(byHook(() => hooks!.persistentLoad(pid), where)); return true; }
      default: return false;
    }
  }

  function unread(op: number): never {
    // protocols 0 and 1 (no PROTO first) spell plain data with opcodes of their own
    const oldProtocol = bytes[0] === 0x80 ? '' : "; a pickle of protocol 0 or 1, where only 2 to 5 (pickle.dump's default) are read";
    return fail(`opcode 0x${op.toString(16).padStart(2, '0')} is not one of plain data (dicts, lists, tuples, strings, numbers): it is not read${oldProtocol}`, at - 1);
  }
}

/** A little-endian two's-complement integer (LONG1), within float64's exact integers. */
function long(bytes: Uint8Array, fail: (why: string) => never): number {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!);
  if (bytes.length && bytes[bytes.length - 1]! & 0x80) v -= 1n << BigInt(8 * bytes.length);
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) fail(`an integer beyond 2^53: ${v}`);
  return Number(v);
}

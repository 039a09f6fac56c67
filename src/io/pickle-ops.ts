// The pickle opcodes that src/io/pickle.ts reads and src/io/pickle-writer.ts writes, by the names
// Python's pickletools gives them (Lib/pickletools.py): one table, so reader and writer agree.
export const OP = {
  PROTO: 0x80,
  FRAME: 0x95,
  STOP: 0x2e, // '.'
  MARK: 0x28, // '('
  EMPTY_DICT: 0x7d, // '}'
  EMPTY_LIST: 0x5d, // ']'
  EMPTY_TUPLE: 0x29, // ')'
  NONE: 0x4e, // 'N'
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  BININT1: 0x4b, // 'K'
  BININT2: 0x4d, // 'M'
  BININT: 0x4a, // 'J'
  BINFLOAT: 0x47, // 'G', big-endian
  LONG1: 0x8a,
  SHORT_BINUNICODE: 0x8c,
  BINUNICODE: 0x58, // 'X'
  MEMOIZE: 0x94,
  BINPUT: 0x71, // 'q'
  LONG_BINPUT: 0x72, // 'r'
  BINGET: 0x68, // 'h'
  LONG_BINGET: 0x6a, // 'j'
  SETITEM: 0x73, // 's'
  SETITEMS: 0x75, // 'u'
  APPEND: 0x61, // 'a'
  APPENDS: 0x65, // 'e'
  TUPLE: 0x74, // 't'
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  GLOBAL: 0x63, // 'c'
  STACK_GLOBAL: 0x93,
  REDUCE: 0x52, // 'R'
  NEWOBJ: 0x81,
  BUILD: 0x62, // 'b'
  BINPERSID: 0x51, // 'Q'
} as const;

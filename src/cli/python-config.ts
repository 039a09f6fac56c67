// nanoGPT's config files without Python: its configurator exec()s a config/*.py in train.py's
// globals, and those files are `name = value` lines. Read here: comments and blank lines, `import x`,
// and `name = expr` where expr is numbers (6e-4, 600_000), 'strings', True/False/None, + - * / // % **,
// parentheses and names bound above (train.py's defaults or the file's own lines), a value going on
// over lines as in Python (inside brackets, after a backslash). Anything else is an error naming the
// line, not a guess.
import { UsageError } from './usage-error.js';

export type PyValue =
  | { type: 'int' | 'float'; value: number }
  | { type: 'str'; value: string }
  | { type: 'bool'; value: boolean }
  | { type: 'NoneType'; value: null }
  | { type: 'module'; value: string };

/** One `name = expr` line (`source`: the expr as written); `value` null where it could not be read and the caller let that pass (`lenient`). */
export interface Assignment {
  name: string;
  value: PyValue | null;
  line: number;
  source: string;
}

const SUBSET = "a config is name = value lines (and import x): numbers, 'strings', True/False/None, + - * / // % ** ( ) and names bound above";
const KEYWORDS = new Set(['if', 'elif', 'else', 'for', 'while', 'def', 'class', 'from', 'with', 'try', 'except', 'del', 'return', 'lambda', 'global', 'assert', 'pass', 'print', 'not', 'and', 'or', 'in', 'is']);

type Token = { kind: 'name' | 'number' | 'string' | 'op'; text: string; value?: PyValue };
/** Makes the error for what is not read here; `pythonRefuses`: Python's tokenizer refuses it too (literal_eval's SyntaxError). */
type Unsupported = (what: string, pythonRefuses?: boolean) => UsageError;

// Python's number literals (its lexical grammar): an int has no leading zero (010 is a SyntaxError)
const DIGITS = '\\d(_?\\d)*';
const POINT_FLOAT = `(${DIGITS})?\\.${DIGITS}|${DIGITS}\\.`;
const FLOAT = new RegExp(`^((${POINT_FLOAT})([eE][+-]?${DIGITS})?|${DIGITS}[eE][+-]?${DIGITS})$`);
const INT = /^([1-9](_?\d)*|0(_?0)*|0[xX](_?[\da-fA-F])+|0[oO](_?[0-7])+|0[bB](_?[01])+)$/;
const IMAGINARY = new RegExp(`^((${POINT_FLOAT})([eE][+-]?${DIGITS})?|${DIGITS}([eE][+-]?${DIGITS})?)[jJ]$`);
/** Python's string prefixes (r'', b'', f'', u'' and their pairs): not read here. */
const STRING_PREFIX = /^(r|u|b|f|br|rb|fr|rf)$/i;
const BEYOND = '(beyond 2**53 - 1)'; // a JavaScript number holds ints exactly to there; Python's have no end
const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', a: '\x07', b: '\b', f: '\f', v: '\v', '\\': '\\', "'": "'", '"': '"' };
/** Escapes that name a character by its code (\x41, \u00e9, \N{...}, octal \101): not read here. */
const CODE_ESCAPE = /[xuUN0-7]/;

/** The tokens of one line (a comment ends it); `unsupported` makes the error for a token that cannot be read. */
function tokenize(line: string, unsupported: Unsupported): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < line.length) {
    const c = line[i]!;
    if (c === ' ' || c === '\t' || c === '\r') i++;
    else if (c === '#') break;
    else if (/[A-Za-z_]/.test(c)) {
      const text = /^\w+/.exec(line.slice(i))![0];
      if ((line[i + text.length] === "'" || line[i + text.length] === '"') && STRING_PREFIX.test(text)) throw unsupported(`the string prefix ${text}`);
      tokens.push({ kind: 'name', text });
      i += text.length;
    } else if (/\d/.test(c) || (c === '.' && /\d/.test(line[i + 1] ?? ''))) {
      // the number and whatever sticks to it (0x10, 1.2.3): all of it is checked at once
      const text = /^([eE][+-]|[\w.])+/.exec(line.slice(i))![0];
      const digits = text.replace(/_/g, '');
      if (FLOAT.test(text)) tokens.push({ kind: 'number', text, value: { type: 'float', value: Number(digits) } });
      else if (!INT.test(text)) throw unsupported(`the number ${text}`, !IMAGINARY.test(text));
      else if (BigInt(digits) > Number.MAX_SAFE_INTEGER) throw unsupported(`the int ${text} ${BEYOND}`);
      else tokens.push({ kind: 'number', text, value: { type: 'int', value: Number(digits) } });
      i += text.length;
    } else if (c === "'" || c === '"') {
      if (line.startsWith(c.repeat(3), i)) throw unsupported('a triple-quoted string');
      let value = '';
      let j = i + 1;
      for (; j < line.length && line[j] !== c; j++) {
        if (line[j] !== '\\' || j + 1 >= line.length) value += line[j];
        else if (CODE_ESCAPE.test(line[++j]!)) throw unsupported(`the escape \\${line[j]}`);
        else value += ESCAPES[line[j]!] ?? `\\${line[j]}`; // Python keeps an unknown escape as written
      }
      if (j >= line.length) throw unsupported(`the unterminated string ${line.slice(i)}`, true);
      tokens.push({ kind: 'string', text: line.slice(i, j + 1), value: { type: 'str', value } });
      i = j + 1;
    } else {
      const text = line.startsWith('**', i) || line.startsWith('//', i) ? line.slice(i, i + 2) : c;
      tokens.push({ kind: 'op', text });
      i += text.length;
    }
  }
  return tokens;
}

/**
 * The assignments of a nanoGPT config, in order; names are looked up in `scope` (the script's
 * defaults), which the file's own lines extend. A value that cannot be read is an error, unless
 * `lenient` holds its name: a setting ignored anyway may be anything (`'ft-' + str(time.time())`).
 */
export function readPythonConfig(text: string, where: string, scope: Readonly<Record<string, PyValue>>, lenient: (name: string) => boolean): Assignment[] {
  const names = new Map(Object.entries(scope));
  const out: Assignment[] = [];
  const unread = new Map<string, number>(); // names set to what is not read here (lenient), by line
  // Python's open() ends a line at \n, \r\n or a lone \r
  const lines = text.split(/\r\n|\r|\n/);
  for (let index = 0; index < lines.length; index++) {
    const line = index + 1;
    const unsupported = (what: string) => new UsageError(`${where} line ${line}: ${what} is not supported (${SUBSET})`);
    let source = lines[index]!;
    const tokens = tokenize(source, unsupported);
    // Python's logical line goes on while a bracket is open, or after a backslash that ends the line
    for (let next; (next = continuation(lines[index]!, tokens)) && index + 1 < lines.length; ) {
      if (next === 'backslash') tokens.pop();
      const more = lines[++index]!;
      tokens.push(...tokenize(more, unsupported));
      source = `${uncommented(source).replace(/\\$/, '').trimEnd()} ${uncommented(more).trim()}`;
    }
    if (!tokens.length) continue;
    if (/^\s/.test(source)) throw unsupported('an indented line'); // Python's IndentationError
    const [first, second] = tokens;
    if (first!.kind === 'name' && first!.text === 'import') {
      for (const module of importedModules(tokens.slice(1), unsupported)) names.set(module, { type: 'module', value: module });
      continue;
    }
    if (first!.kind !== 'name' || second?.text !== '=' || tokens.slice(2).some((t) => t.kind === 'op' && t.text === '=')) {
      throw unsupported(first!.kind === 'name' && KEYWORDS.has(first!.text) ? `'${first!.text}'` : `'${source.trim()}'`);
    }
    const name = first!.text;
    const expr = uncommented(source.slice(source.indexOf('=') + 1)).trim();
    let value: PyValue | null = null;
    try {
      value = new Expression(tokens.slice(2), names, unread, unsupported, (what) => new UsageError(`${where} line ${line}: ${what}`)).parse();
    } catch (e) {
      if (!lenient(name)) throw e;
    }
    if (value) {
      names.set(name, value);
      unread.delete(name);
    } else {
      names.delete(name);
      unread.set(name, line);
    }
    out.push({ name, value, line, source: expr });
  }
  return out;
}

/** Why the logical line of `tokens` goes on after the physical line `source`: an open bracket, a backslash at its very end, or neither (null). */
function continuation(source: string, tokens: Token[]): 'bracket' | 'backslash' | null {
  const depth = tokens.reduce((d, t) => (t.kind !== 'op' ? d : '([{'.includes(t.text) ? d + 1 : ')]}'.includes(t.text) ? d - 1 : d), 0);
  if (depth > 0) return 'bracket';
  return source.endsWith('\\') && tokens.at(-1)?.text === '\\' ? 'backslash' : null;
}

/** A line without its trailing comment (one after a space, with no quote in it). */
const uncommented = (source: string) => source.replace(/\s#[^'"]*$/, '');

/** The names `import a, b.c` binds (a, b); anything else (`from`, `as`) is unsupported. */
function importedModules(tokens: Token[], unsupported: Unsupported): string[] {
  const modules: string[] = [];
  if (!tokens.length) throw unsupported("'import '");
  for (let i = 0; i < tokens.length; i += 2) {
    if (tokens[i]?.kind !== 'name' || (i + 1 < tokens.length && !['.', ','].includes(tokens[i + 1]!.text))) throw unsupported(`'import ${tokens.map((t) => t.text).join(' ')}'`);
    if (i === 0 || tokens[i - 1]!.text === ',') modules.push(tokens[i]!.text);
  }
  return modules;
}

/**
 * Python's value of a command-line `--key=value` as nanoGPT's configurator takes it (ast.literal_eval),
 * or null where that fails (then it is the text); what literal_eval reads and this does not (a tuple,
 * an escape \\x41, b'') is an error starting with `where`, never taken as the text.
 */
export function pythonLiteral(text: string, where: string): PyValue | null {
  const unsupported = (what: string) => new UsageError(`${where}: ${what} is not supported (Python's literal_eval reads it; give a number, 'string', True, False or None)`);
  let tokens: Token[];
  try {
    tokens = tokenize(text, (what, pythonRefuses) => (pythonRefuses ? new LiteralEvalFails() : unsupported(what)));
  } catch (e) {
    if (e instanceof LiteralEvalFails) return null; // an unterminated quote (--start=don't), a number Python refuses (1.2.3)
    throw e;
  }
  // a name other than True, False, None makes literal_eval fail whatever surrounds it (--start=Hello, world is the text)
  const named = tokens.some((t) => t.kind === 'name' && !Object.hasOwn(CONSTANTS, t.text));
  const unsure = named ? undefined : (tokens.find((t) => t.kind === 'op' && '()[]{},'.includes(t.text)) ?? (text.includes('...') && { text: '...' }));
  if (unsure) throw unsupported(`'${unsure.text}'`); // a tuple, list, dict, set or Ellipsis, or ('parenthesised')
  if (tokens.length > 1 && tokens.every((t) => t.kind === 'string')) return { type: 'str', value: tokens.map((t) => t.value!.value).join('') }; // 'a' 'b'
  const sign = tokens[0]?.text === '-' || tokens[0]?.text === '+' ? tokens.shift()!.text : '';
  if (tokens.length !== 1) return null;
  const [token] = tokens;
  const literal = token!.kind === 'name' ? CONSTANTS[token!.text] : token!.value;
  if (!literal || (sign && literal.type !== 'int' && literal.type !== 'float')) return null;
  return sign === '-' ? negative(literal as { type: 'int' | 'float'; value: number }) : literal;
}

/** What Python's tokenizer refuses too: literal_eval's SyntaxError. */
class LiteralEvalFails extends Error {}

const CONSTANTS: Record<string, PyValue> = { True: { type: 'bool', value: true }, False: { type: 'bool', value: false }, None: { type: 'NoneType', value: null } };

/** A recursive-descent reader of one expression, with Python's precedence: + - below * / // % below unary - below **. */
class Expression {
  private at = 0;
  constructor(
    private readonly tokens: Token[],
    private readonly names: ReadonlyMap<string, PyValue>,
    private readonly unread: ReadonlyMap<string, number>,
    private readonly unsupported: (what: string) => UsageError,
    private readonly error: (what: string) => UsageError,
  ) {}

  parse(): PyValue {
    if (!this.tokens.length) throw this.unsupported('an empty value');
    const value = this.sum();
    if (this.at < this.tokens.length) throw this.unsupported(`'${this.tokens[this.at]!.text}' here`);
    return value;
  }

  private next = (...ops: string[]) => (ops.includes(this.tokens[this.at]?.text ?? '') && this.tokens[this.at]!.kind === 'op' ? this.tokens[this.at++]!.text : null);

  private sum(): PyValue {
    let left = this.product();
    for (let op; (op = this.next('+', '-')); ) left = this.binary(op, left, this.product());
    return left;
  }

  private product(): PyValue {
    let left = this.unary();
    for (let op; (op = this.next('*', '/', '//', '%')); ) left = this.binary(op, left, this.unary());
    return left;
  }

  private unary(): PyValue {
    const op = this.next('-', '+');
    if (!op) return this.power();
    const v = this.number(op, this.unary());
    const n = { type: v.type === 'float' ? 'float' : 'int', value: v.value } as const;
    return op === '-' ? negative(n) : n;
  }

  private power(): PyValue {
    const base = this.atom();
    return this.next('**') ? this.binary('**', base, this.unary()) : base; // 2 ** -1: the exponent may be signed
  }

  private atom(): PyValue {
    const token = this.tokens[this.at++];
    if (!token) throw this.unsupported('a line that ends after an operator');
    if (token.text === '(' && token.kind === 'op') {
      const inner = this.sum();
      if (!this.next(')')) throw this.unsupported(this.tokens[this.at] ? `'${this.tokens[this.at]!.text}' inside parentheses` : 'an unclosed parenthesis');
      return inner;
    }
    if (token.kind === 'string') {
      // Python joins adjacent string literals ('out-' 'x'), across lines inside brackets too
      let text = token.value!.value as string;
      while (this.tokens[this.at]?.kind === 'string') text += this.tokens[this.at++]!.value!.value as string;
      return { type: 'str', value: text };
    }
    if (token.value) return token.value;
    if (token.kind !== 'name' || KEYWORDS.has(token.text)) throw this.unsupported(`'${token.text}'`);
    const after = this.tokens[this.at]?.text;
    if (after === '(') throw this.unsupported(`the call ${token.text}(...)`);
    if (after === '.') throw this.unsupported(`the attribute ${token.text}.${this.tokens[this.at + 1]?.text ?? ''}`);
    const value = CONSTANTS[token.text] ?? this.names.get(token.text);
    if (!value && this.unread.has(token.text)) throw this.unsupported(`the value of ${token.text} (line ${this.unread.get(token.text)}: not read here)`);
    if (!value) throw this.error(`name '${token.text}' is not defined (names bound above, or train.py's settings)`);
    if (value.type === 'module') throw this.unsupported(`the module ${token.text} as a value`);
    return value;
  }

  /** A number, or a bool as one (Python's True + 1 is 2). */
  private number(op: string, v: PyValue): { type: 'int' | 'float' | 'bool'; value: number } {
    if (v.type === 'int' || v.type === 'float' || v.type === 'bool') return { type: v.type, value: Number(v.value) };
    // Python repeats a string (* int) and formats one (%): not done here
    if (v.type === 'str' && (op === '*' || op === '%')) throw this.unsupported(`'${op}' with str ${JSON.stringify(v.value)}`);
    throw this.error(`'${op}' does not apply to ${v.type} ${JSON.stringify(v.value)}`);
  }

  private binary(op: string, l: PyValue, r: PyValue): PyValue {
    if (op === '+' && l.type === 'str' && r.type === 'str') return { type: 'str', value: l.value + r.value };
    const a = this.number(op, l).value;
    const b = this.number(op, r).value;
    const ints = l.type !== 'float' && r.type !== 'float';
    if ((op === '/' || op === '//' || op === '%') && b === 0) throw this.error(`division by zero ('${op}')`);
    if (op === '**') return this.pow(a, b, ints);
    const [div, mod] = op === '//' || op === '%' ? divmod(a, b, ints) : [0, 0];
    const value = { '+': a + b, '-': a - b, '*': a * b, '/': a / b, '//': div, '%': mod }[op]!;
    if (!ints || op === '/') return { type: 'float', value };
    if (!Number.isSafeInteger(value)) throw this.unsupported(`the int result of '${op}' ${BEYOND}`);
    return { type: 'int', value: value || 0 }; // an int has no -0
  }

  /** Python's a ** b: an int to a power >= 0 is exact; else floats, with Python's errors where C's pow gives inf or NaN. */
  private pow(a: number, b: number, ints: boolean): PyValue {
    if (ints && b >= 0) {
      // far beyond without computing it: 3 ** 10 ** 8 would take a BigInt of 158 million bits
      if (Math.abs(a) > 1 && Math.log2(Math.abs(a)) * b > 54) throw this.unsupported(`the int result of '**' ${BEYOND}`);
      const exact = BigInt(a) ** BigInt(b);
      if (exact > Number.MAX_SAFE_INTEGER || -exact > Number.MAX_SAFE_INTEGER) throw this.unsupported(`the int result of '**' ${BEYOND}`);
      return { type: 'int', value: Number(exact) };
    }
    if (a === 0 && b < 0) throw this.error("division by zero ('**')");
    if (a < 0 && Number.isFinite(b) && !Number.isInteger(b)) throw this.unsupported("'**' of a negative number to a fractional power (Python's complex number)");
    // where C's pow and JavaScript's differ: 1 ** nan and (-1) ** inf are 1.0 in Python
    if (b === 0 || a === 1 || (a === -1 && !Number.isFinite(b) && !Number.isNaN(b))) return { type: 'float', value: 1 };
    if (!Number.isFinite(a) || !Number.isFinite(b) || a === 0) return { type: 'float', value: a ** b }; // inf, nan and 0: exact in both
    // JavaScript's ** is not correctly rounded (2 ** 1.5 is 2.82842712474619, C's pow 2.8284271247461903): exact, by integer power only
    if (!Number.isInteger(b)) throw this.unsupported(`'**' to the fractional power ${b}`);
    const value = integerPower(a, b);
    if (value === null) throw this.unsupported(`'**' whose float result is near a tie between two floats (C's pow may round it either way)`);
    if (value === undefined) throw this.unsupported(`'**' whose result is too large or small for a normal float`); // Python: OverflowError, or a subnormal
    return { type: 'float', value };
  }
}

/** x ** n for a finite x != 0 and an integer n, correctly rounded: x is m * 2**e, so it is m**n * 2**(e*n) exactly; undefined where that is not a normal float, null where C's pow may round it otherwise. */
function integerPower(x: number, n: number): number | undefined | null {
  if (Math.abs(Math.log2(Math.abs(x)) * n) > 1030) return undefined; // far out of range: no huge m**n
  const bits = new DataView(new Float64Array([Math.abs(x)]).buffer);
  const biased = (bits.getUint32(4, true) >>> 20) & 0x7ff;
  const fraction = (BigInt(bits.getUint32(4, true) & 0xfffff) << 32n) | BigInt(bits.getUint32(0, true));
  const [m, e] = biased ? [fraction | (1n << 52n), biased - 1075] : [fraction, -1074];
  const power = m ** BigInt(Math.abs(n));
  const [num, den, exp2] = n > 0 ? [power, 1n, e * n] : [1n, power, -e * -n];
  // a quotient of 66 bits or more, its remainder folded into the last bit: Number() then rounds it as the exact value would round
  const shift = 66 - (num.toString(2).length - den.toString(2).length);
  const scaled = shift >= 0 ? num << BigInt(shift) : num;
  const divisor = shift >= 0 ? den : den << BigInt(-shift);
  const quotient = scaled / divisor | (scaled % divisor ? 1n : 0n);
  const length = quotient.toString(2).length;
  const exponent = exp2 - shift + length - 1; // of the result's leading bit
  if (exponent > 1023 || exponent < -1022) return undefined;
  // glibc's pow is within 0.52 ulp, not correctly rounded: near a tie it may round the other way (10.0 ** 23 is 1.0000000000000001e+23 in Python)
  const below = quotient & ((1n << BigInt(length - 53)) - 1n); // what rounding drops, of one ulp 2 ** (length - 53)
  if (Math.abs(Number(below) / 2 ** (length - 53) - 0.5) < 0.025) return null; // within 0.52 ulp: no other float is nearer than 0.5 + 0.02 ulp
  const half = Math.trunc((exp2 - shift) / 2);
  const magnitude = Number(quotient) * 2 ** half * 2 ** (exp2 - shift - half);
  return x < 0 && n % 2 ? -magnitude : magnitude;
}

/** -x, as Python has it: an int has no -0. */
const negative = <T extends { type: 'int' | 'float'; value: number }>(n: T): T => ({ ...n, value: n.type === 'int' ? -n.value || 0 : -n.value });

/** Python's divmod, for ints (exact to 2**53) and floats alike (CPython's float_divmod, on fmod, which is JavaScript's %). */
function divmod(a: number, b: number, ints: boolean): [number, number] {
  let mod = a % b;
  let div = (a - mod) / b;
  if (mod !== 0) {
    if (b < 0 !== mod < 0) {
      mod += b;
      div -= 1;
    }
  } else mod = Math.sign(b) < 0 || Object.is(b, -0) ? -0 : 0; // copysign(0, b)
  if (ints) return [div, mod];
  let floorDiv: number;
  if (div !== 0) {
    floorDiv = Math.floor(div);
    if (div - floorDiv > 0.5) floorDiv += 1;
  } else floorDiv = a / b < 0 || Object.is(a / b, -0) ? -0 : 0; // copysign(0, a / b)
  return [floorDiv, mod];
}

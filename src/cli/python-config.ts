// nanoGPT's config files without Python: its configurator exec()s a config/*.py in train.py's
// globals, and those files are `name = value` lines. Read here: comments and blank lines, `import x`,
// and `name = expr` where expr is numbers (6e-4, 600_000), 'strings', True/False/None, + - * / // % **,
// parentheses and names bound above (train.py's defaults or the file's own lines). Anything else is
// an error naming the line, not a guess.
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

const NUMBER = /^(\d(_?\d)*(\.(\d(_?\d)*)?)?|\.\d(_?\d)*)([eE][+-]?\d(_?\d)*)?$/;
const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', a: '\x07', b: '\b', f: '\f', v: '\v', '\\': '\\', "'": "'", '"': '"' };
/** Escapes that name a character by its code (\x41, \u00e9, \N{...}, octal \101): not read here. */
const CODE_ESCAPE = /[xuUN0-7]/;

/** The tokens of one line (a comment ends it); `unsupported` makes the error for a token that cannot be read. */
function tokenize(line: string, unsupported: (what: string) => UsageError): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < line.length) {
    const c = line[i]!;
    if (c === ' ' || c === '\t' || c === '\r') i++;
    else if (c === '#') break;
    else if (/[A-Za-z_]/.test(c)) {
      const text = /^\w+/.exec(line.slice(i))![0];
      if (line[i + text.length] === "'" || line[i + text.length] === '"') throw unsupported(`the string prefix ${text}`);
      tokens.push({ kind: 'name', text });
      i += text.length;
    } else if (/\d/.test(c) || (c === '.' && /\d/.test(line[i + 1] ?? ''))) {
      // the number and whatever sticks to it (0x10, 1.2.3): all of it is checked at once
      const text = /^([eE][+-]|[\w.])+/.exec(line.slice(i))![0];
      if (!NUMBER.test(text)) throw unsupported(`the number ${text}`);
      const digits = text.replace(/_/g, '');
      tokens.push({ kind: 'number', text, value: { type: /[.eE]/.test(digits) ? 'float' : 'int', value: Number(digits) } });
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
      if (j >= line.length) throw unsupported(`the unterminated string ${line.slice(i)}`);
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
  text.split('\n').forEach((source, index) => {
    const line = index + 1;
    const unsupported = (what: string) => new UsageError(`${where} line ${line}: ${what} is not supported (${SUBSET})`);
    const tokens = tokenize(source, unsupported);
    if (!tokens.length) return;
    if (/^\s/.test(source)) throw unsupported('an indented line'); // Python's IndentationError
    const [first, second] = tokens;
    if (first!.kind === 'name' && first!.text === 'import') {
      for (const module of importedModules(tokens.slice(1), unsupported)) names.set(module, { type: 'module', value: module });
      return;
    }
    if (first!.kind !== 'name' || second?.text !== '=' || tokens.slice(2).some((t) => t.kind === 'op' && t.text === '=')) {
      throw unsupported(first!.kind === 'name' && KEYWORDS.has(first!.text) ? `'${first!.text}'` : `'${source.trim()}'`);
    }
    const name = first!.text;
    const expr = source.slice(source.indexOf('=') + 1).replace(/\s#[^'"]*$/, '').trim();
    let value: PyValue | null = null;
    try {
      value = new Expression(tokens.slice(2), names, unsupported, (what) => new UsageError(`${where} line ${line}: ${what}`)).parse();
    } catch (e) {
      if (!lenient(name)) throw e;
    }
    if (value) names.set(name, value);
    out.push({ name, value, line, source: expr });
  });
  return out;
}

/** The names `import a, b.c` binds (a, b); anything else (`from`, `as`) is unsupported. */
function importedModules(tokens: Token[], unsupported: (what: string) => UsageError): string[] {
  const modules: string[] = [];
  for (let i = 0; i < tokens.length; i += 2) {
    if (tokens[i]?.kind !== 'name' || (i + 1 < tokens.length && !['.', ','].includes(tokens[i + 1]!.text))) throw unsupported(`'import ${tokens.map((t) => t.text).join(' ')}'`);
    if (i === 0 || tokens[i - 1]!.text === ',') modules.push(tokens[i]!.text);
  }
  return modules;
}

/** Python's value of a command-line `--key=value` as nanoGPT's configurator takes it (ast.literal_eval), or null where that would fail (then it is the text). */
export function pythonLiteral(text: string): PyValue | null {
  try {
    const tokens = tokenize(text, () => new UsageError(''));
    const sign = tokens[0]?.text === '-' || tokens[0]?.text === '+' ? tokens.shift()!.text : '';
    if (tokens.length !== 1) return null;
    const [token] = tokens;
    const literal = token!.kind === 'name' ? CONSTANTS[token!.text] : token!.value;
    if (!literal || (sign && literal.type !== 'int' && literal.type !== 'float')) return null;
    return sign === '-' ? { type: literal.type as 'int' | 'float', value: -(literal.value as number) } : literal;
  } catch {
    return null; // an unterminated quote (--start=don't): literal_eval's SyntaxError
  }
}

const CONSTANTS: Record<string, PyValue> = { True: { type: 'bool', value: true }, False: { type: 'bool', value: false }, None: { type: 'NoneType', value: null } };

/** A recursive-descent reader of one expression, with Python's precedence: + - below * / // % below unary - below **. */
class Expression {
  private at = 0;
  constructor(
    private readonly tokens: Token[],
    private readonly names: ReadonlyMap<string, PyValue>,
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
    return { type: v.type === 'float' ? 'float' : 'int', value: op === '-' ? -v.value : +v.value };
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
    if (token.value) return token.value;
    if (token.kind !== 'name' || KEYWORDS.has(token.text)) throw this.unsupported(`'${token.text}'`);
    const after = this.tokens[this.at]?.text;
    if (after === '(') throw this.unsupported(`the call ${token.text}(...)`);
    if (after === '.') throw this.unsupported(`the attribute ${token.text}.${this.tokens[this.at + 1]?.text ?? ''}`);
    const value = CONSTANTS[token.text] ?? this.names.get(token.text);
    if (!value) throw this.error(`name '${token.text}' is not defined (names bound above, or train.py's settings)`);
    if (value.type === 'module') throw this.unsupported(`the module ${token.text} as a value`);
    return value;
  }

  /** A number, or a bool as one (Python's True + 1 is 2). */
  private number(op: string, v: PyValue): { type: 'int' | 'float' | 'bool'; value: number } {
    if (v.type === 'int' || v.type === 'float' || v.type === 'bool') return { type: v.type, value: Number(v.value) };
    throw this.error(`'${op}' does not apply to ${v.type} ${JSON.stringify(v.value)}`);
  }

  private binary(op: string, l: PyValue, r: PyValue): PyValue {
    if (op === '+' && l.type === 'str' && r.type === 'str') return { type: 'str', value: l.value + r.value };
    const a = this.number(op, l);
    const b = this.number(op, r);
    const ints = a.type !== 'float' && b.type !== 'float';
    if ((op === '/' || op === '//' || op === '%') && b.value === 0) throw this.error(`division by zero ('${op}')`);
    const floor = (x: number, y: number) => Math.floor(x / y);
    const value = { '+': a.value + b.value, '-': a.value - b.value, '*': a.value * b.value, '/': a.value / b.value, '//': floor(a.value, b.value), '%': a.value - b.value * floor(a.value, b.value), '**': a.value ** b.value }[op]!;
    // int op int stays int, except true division and a negative power
    return { type: ints && op !== '/' && !(op === '**' && b.value < 0) ? 'int' : 'float', value };
  }
}

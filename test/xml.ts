// A strict little XML parser for the tests (the SVG `gpt plot` writes): elements, attributes,
// text, comments and the five predefined entities (plus numeric ones). Anything else that is not
// well-formed XML (an unclosed or mismatched tag, an unquoted or repeated attribute, a bare '&' or
// '<', two roots) throws, naming the offset.

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** The element's own text (entities decoded), children's text excluded. */
  text: string;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const NAME = /[A-Za-z_:][\w.:-]*/y;

function decode(s: string, at: number): string {
  return s.replace(/&([^;]*);|&/g, (m, ref: string | undefined) => {
    if (ref === undefined) throw new Error(`XML: bare '&' near offset ${at}`);
    if (ref in ENTITIES) return ENTITIES[ref]!;
    const code = /^#x[\da-f]+$/i.test(ref) ? parseInt(ref.slice(2), 16) : /^#\d+$/.test(ref) ? Number(ref.slice(1)) : NaN;
    if (Number.isNaN(code)) throw new Error(`XML: unknown entity ${m} near offset ${at}`);
    return String.fromCodePoint(code);
  });
}

export function parseXml(src: string): XmlElement {
  let i = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | null = null;
  const fail = (what: string): never => {
    throw new Error(`XML: ${what} at offset ${i}`);
  };
  const name = () => {
    NAME.lastIndex = i;
    const m = NAME.exec(src) ?? fail('expected a name');
    i += m[0].length;
    return m[0];
  };
  const space = () => {
    while (/\s/.test(src[i] ?? '')) i++;
  };
  if (src.startsWith('<?xml')) i = src.indexOf('?>') + 2;
  while (i < src.length) {
    if (src.startsWith('<!--', i)) {
      const end = src.indexOf('-->', i);
      if (end < 0) fail('unclosed comment');
      i = end + 3;
    } else if (src.startsWith('</', i)) {
      i += 2;
      const n = name();
      space();
      if (src[i++] !== '>') fail('expected >');
      const open = stack.pop() ?? fail(`closing </${n}> without an open element`);
      if (open.name !== n) fail(`</${n}> closes <${open.name}>`);
    } else if (src[i] === '<') {
      i++;
      const el: XmlElement = { name: name(), attrs: {}, children: [], text: '' };
      for (;;) {
        const before = i;
        space();
        if (src.startsWith('/>', i) || src[i] === '>') break;
        if (i === before) fail('expected space before an attribute');
        const a = name();
        space();
        if (src[i++] !== '=') fail(`attribute ${a} without a value`);
        space();
        const quote = src[i++];
        if (quote !== '"' && quote !== "'") fail(`attribute ${a} value not quoted`);
        const end = src.indexOf(quote!, i);
        if (end < 0) fail('unclosed attribute value');
        const raw = src.slice(i, end);
        if (raw.includes('<')) fail(`'<' in attribute ${a}`);
        if (Object.hasOwn(el.attrs, a)) fail(`attribute ${a} repeated`);
        el.attrs[a] = decode(raw, i);
        i = end + 1;
      }
      if (stack.length) stack[stack.length - 1]!.children.push(el);
      else if (root) fail('a second root element');
      else root = el;
      if (src.startsWith('/>', i)) i += 2;
      else {
        i++;
        stack.push(el);
      }
    } else {
      const end = src.indexOf('<', i);
      const raw = src.slice(i, end < 0 ? src.length : end);
      if (stack.length) stack[stack.length - 1]!.text += decode(raw, i);
      else if (raw.trim()) fail('text outside the root element');
      i += raw.length;
    }
  }
  if (stack.length) fail(`<${stack[stack.length - 1]!.name}> is not closed`);
  return root ?? fail('no root element');
}

/** Every element under (and including) `el` for which `pick` holds, in document order. */
export function findAll(el: XmlElement, pick: (e: XmlElement) => boolean): XmlElement[] {
  return [...(pick(el) ? [el] : []), ...el.children.flatMap((c) => findAll(c, pick))];
}

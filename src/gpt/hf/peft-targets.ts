// Which of GPT-2's modules a peft LoraConfig adapts, by peft's own rule (tuners_utils.py
// check_target_module_exists, read 2026-12): each module of the transformers model is named by its
// dotted path (transformer.h.0.attn.c_attn; GPT2Model's without `transformer.`), and
// - target_modules as a string is a Python regular expression that must match the whole name
//   (re.fullmatch); "all-linear" is the shorthand for every Linear and Conv1D but the output layer;
// - as a list, an entry selects the module it names in full, or every module whose name ends with
//   "." + the entry; layers_to_transform (an index or a list) then keeps, of those matched by their
//   ending, the ones in a block of that index, found by layers_pattern (the ModuleList's name, a
//   regular expression too; absent: any) as `re.match(r".*\.{pattern}\.(\d+)\.", name)`.
// Our LoRA adapts the same layers in every block, so a selection is honoured where, of each of the
// blocks' four Linears, it takes every block's or none, and nothing else; anything else is refused
// naming the field and the module. Python's patterns are read in a subset whose meaning JavaScript's
// RegExp shares on module names (ASCII, no newline): see pythonPatternProblem.
import { show } from '../../io/value-ranges.js';
import type { LoRATarget } from '../lora.js';

/** A rule of peft's selecting modules by name, and how to name it in errors: the config's fields as given. */
export interface TargetRule {
  said: string;
  selects: (module: string) => boolean;
}

/** The four Linears of each block, by their names in it. */
const BLOCK_LINEARS = ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'] as const;
/** The other modules of a block (transformers' GPT2Block), '' the block itself. */
const BLOCK_OTHERS = ['', '.ln_1', '.attn', '.attn.attn_dropout', '.attn.resid_dropout', '.ln_2', '.mlp', '.mlp.act', '.mlp.dropout'];

/** The most quantifiers a pattern may hold (see pythonPatternProblem). */
const MAX_QUANTIFIERS = 6;
/** Constructs of Python's re that this reader takes, as said in errors. */
const SUBSET = `literal characters, ., \\d \\w \\s (and \\D \\W \\S), an escaped punctuation character, [...] classes of those and ranges, groups (...) and (?:...), |, ^, $, and * + ? {m} {m,} {m,n} with an optional lazy ?, at most ${MAX_QUANTIFIERS} of them, none on a group holding a quantifier or |`;

/**
 * What in the Python pattern `p` this reader does not take (its SUBSET, where Python's re and
 * JavaScript's RegExp agree on ASCII names), or null. Left out on purpose: (?P<name>), inline flags
 * (?i), lookarounds, backreferences, \A \Z \b (JavaScript reads \A and \Z as letters), {,n} (a
 * quantifier in Python, literal text in JavaScript), possessive quantifiers and atomic groups (Python
 * 3.11), a class opening with ] (a literal in Python, an empty class in JavaScript), a bare { or }.
 * Both engines backtrack, so a file's pattern could take years on one name: a quantified group
 * holding a quantifier or | ((a+)+, (a|a)*: exponential) is refused, and so are more than
 * MAX_QUANTIFIERS quantifiers (k of them split a name of n characters C(n + k - 1, k - 1) ways).
 */
export function pythonPatternProblem(p: string): string | null {
  const groups: boolean[] = []; // of each open group, whether it holds a quantifier or |
  let atom: 'none' | 'plain' | 'branching group' = 'none'; // what a quantifier would repeat
  let quantifiers = 0;
  for (let i = 0; i < p.length; i++) {
    const ch = p[i]!;
    if (ch === '\\') {
      const e = escapeProblem(p, i);
      if (e) return e;
      i++;
      atom = 'plain';
    } else if (ch === '[') {
      let j = i + 1;
      if (p[j] === '^') j++;
      if (p[j] === ']') return `a class opening with ] at ${i} (a literal ] in Python, an empty class in JavaScript: write \\])`;
      for (; j < p.length && p[j] !== ']'; j++) {
        if (p[j] === '[') return `[ inside a class at ${j} (write \\[)`;
        if (p[j] === '\\') {
          const e = escapeProblem(p, j);
          if (e) return e;
          j++;
        }
      }
      if (j >= p.length) return `a class opened at ${i} and not closed`;
      i = j;
      atom = 'plain';
    } else if (ch === '(') {
      if (p[i + 1] === '?') {
        if (p[i + 2] !== ':') return `(?${p[i + 2] ?? ''} at ${i} (of groups, only (...) and (?:...) are read)`;
        i += 2;
      }
      groups.push(false);
      atom = 'none';
    } else if (ch === ')') {
      if (!groups.length) return `an unopened ) at ${i}`;
      const branching = groups.pop()!;
      if (branching && groups.length) groups[groups.length - 1] = true;
      atom = branching ? 'branching group' : 'plain';
    } else if ('*+?{'.includes(ch)) {
      const brace = ch === '{' ? /^\{(\d+)(,(\d*))?\}/.exec(p.slice(i)) : null;
      if (ch === '{' && !brace) return `a { at ${i} that is not a quantifier {m}, {m,} or {m,n} (write \\{)`;
      if (atom === 'none') return `a quantifier ${brace ? brace[0] : ch} at ${i} with nothing to repeat`;
      if (atom === 'branching group') return `a quantifier ${brace ? brace[0] : ch} at ${i} on a group holding a quantifier or | (its backtracking can be exponential)`;
      if (brace?.[3] && Number(brace[3]) < Number(brace[1])) return `a quantifier ${brace[0]} at ${i} whose maximum is under its minimum`;
      if (++quantifiers > MAX_QUANTIFIERS) return `more than ${MAX_QUANTIFIERS} quantifiers (its backtracking grows as the name's length to their number)`;
      if (brace) i += brace[0].length - 1;
      if (p[i + 1] === '?') i++; // lazy: the same in both
      if (p[i + 1] !== undefined && '*+?{'.includes(p[i + 1]!)) return `a quantifier after a quantifier at ${i + 1} (possessive in Python 3.11, an error before)`;
      if (groups.length) groups[groups.length - 1] = true;
      atom = 'none';
    } else if (ch === '}' || ch === ']') {
      return `a bare ${ch} at ${i} (write \\${ch})`;
    } else if (ch === '|') {
      if (groups.length) groups[groups.length - 1] = true;
      atom = 'none';
    } else {
      atom = ch === '^' || ch === '$' ? 'none' : 'plain'; // an anchor repeats nothing (both refuse it)
    }
  }
  return groups.length ? 'a ( not closed' : null;
}

/** What the escape at `p[i]` (a backslash) says that the subset does not take, or null: \d \w \s (and their negations) and escaped punctuation. */
function escapeProblem(p: string, i: number): string | null {
  const c = p[i + 1];
  if (c === undefined) return 'a \\ at the end';
  if (/[dDwWsS]/.test(c) || /[!-/:-@[-`{-~]/.test(c)) return null;
  return `\\${c} at ${i} (of escapes, only \\d \\w \\s, their negations and escaped punctuation are read)`;
}

/** Python's re.fullmatch(p, name) as a test, for `p` in the subset (pythonPatternProblem null). */
const fullMatch = (p: string): RegExp => new RegExp(`^(?:${p})$`);

/**
 * peft's rule for `target_modules` (a string not "all-linear", or a list) with `layers` (the
 * layers_to_transform given, or undefined) found by `layersPattern` (undefined: any); or a problem
 * naming the field and what is wrong.
 */
export function peftTargetRule(targetModules: string | string[], layers: number[] | undefined, layersPattern: string[] | undefined): TargetRule | string {
  if (typeof targetModules === 'string') {
    const problem = pythonPatternProblem(targetModules);
    if (problem) return `target_modules ${show(targetModules)} is a pattern this reader does not translate from Python's re: ${problem} (allowed: ${SUBSET})`;
    const re = fullMatch(targetModules);
    return { said: `target_modules ${show(targetModules)}`, selects: (m) => re.test(m) };
  }
  const patterns = (layersPattern?.length ? layersPattern : ['[^.]*']).map((p) => {
    // peft pastes the pattern into its own, whose group 1 is the block index: a group of the pattern's would take its place
    const problem = pythonPatternProblem(p) ?? (/(^|[^\\])\((?!\?)/.test(p) ? 'a group (...), which would be the group peft reads the block index from (write (?:...))' : null);
    return problem ? `layers_pattern ${show(p)} is a pattern this reader does not translate from Python's re: ${problem} (allowed: ${SUBSET})` : new RegExp(`^(?:.*\\.${p}\\.(\\d+)\\.)`);
  });
  const bad = patterns.find((p) => typeof p === 'string');
  if (bad) return bad;
  const inBlock = (m: string) => {
    if (!layers) return true;
    const found = (patterns as RegExp[]).map((re) => re.exec(m)).find((x) => x);
    return found !== undefined && layers.includes(Number(found![1]));
  };
  const said = `target_modules ${show(targetModules)}${layers ? ` with layers_to_transform ${show(layers)}${layersPattern?.length ? ` in layers_pattern ${show(layersPattern)}` : ''}` : ''}`;
  // an entry naming the module in full is taken whatever layers_to_transform says (peft's order)
  return { said, selects: (m) => targetModules.includes(m) || (targetModules.some((t) => m.endsWith(`.${t}`)) && inBlock(m)) };
}

/**
 * Our targets for the modules `rule` selects on a GPT-2 of `nLayer` blocks whose modules are named
 * under `prefix` ('transformer.' for GPT2LMHeadModel, '' for GPT2Model); or a problem: a module
 * other than the blocks' Linears, a Linear of some blocks and not others, none at all.
 */
export function ruleTargets(rule: TargetRule, nLayer: number, prefix: string): LoRATarget[] | string {
  const model = prefix ? ['transformer', 'lm_head', ...['wte', 'wpe', 'drop', 'h', 'ln_f'].map((m) => prefix + m)] : ['wte', 'wpe', 'drop', 'h', 'ln_f'];
  const blocks = Array.from({ length: nLayer }, (_, l) => `${prefix}h.${l}`);
  const other = [...model, ...blocks.flatMap((b) => BLOCK_OTHERS.map((m) => b + m))].find(rule.selects);
  if (other !== undefined) return `${rule.said} selects ${other}, which LoRA cannot adapt here (allowed: the blocks' ${BLOCK_LINEARS.join(', ')})`;
  const chosen: string[] = [];
  for (const layer of BLOCK_LINEARS) {
    const which = blocks.filter((b) => rule.selects(`${b}.${layer}`));
    if (which.length && which.length < nLayer) return `${rule.said} selects ${layer} in ${which.join(', ')} of ${nLayer} blocks only: an adapter on some blocks cannot be honoured here (one setting adapts every block's)`;
    if (which.length) chosen.push(layer);
  }
  if (!chosen.length) return `${rule.said} selects none of GPT-2's modules (allowed: the blocks' ${BLOCK_LINEARS.join(', ')})`;
  const has = (layer: string) => chosen.includes(layer);
  const projections: LoRATarget[] = has('attn.c_proj') && has('mlp.c_proj') ? ['c_proj'] : has('attn.c_proj') ? ['attn.c_proj'] : has('mlp.c_proj') ? ['mlp.c_proj'] : [];
  return [...(has('attn.c_attn') ? ['c_attn' as const] : []), ...projections, ...(has('mlp.c_fc') ? ['c_fc' as const] : [])];
}

// peft's rule for which modules a LoraConfig adapts (src/gpt/hf/peft-targets.ts), against Python's own
// re applying that rule (test/fixtures/peft/make_target_modules_fixture.py: target_modules as a
// pattern, full names, layers_to_transform and layers_pattern, on GPT2LMHeadModel's and GPT2Model's
// module names); what it selects as our targets; what is refused, naming the field.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { peftTargetRule, pythonPatternProblem, ruleTargets } from '../src/gpt/hf/peft-targets.js';

interface Case {
  config: { target_modules: string | string[]; layers_to_transform?: number | number[]; layers_pattern?: string | string[] };
  prefix: string;
  selected: string[];
}
const fixture = JSON.parse(readFileSync(new URL('./fixtures/peft/target-modules.json', import.meta.url), 'utf8')) as { names: Record<string, string[]>; cases: Case[] };

const ruleOf = ({ target_modules, layers_to_transform: l, layers_pattern: p }: Case['config']) => {
  const rule = peftTargetRule(target_modules, l === undefined ? undefined : typeof l === 'number' ? [l] : l, p === undefined ? undefined : typeof p === 'string' ? [p] : p);
  if (typeof rule === 'string') throw new Error(rule);
  return rule;
};

describe("peft's target_modules rule", () => {
  it.each(fixture.cases.map((c) => [`${JSON.stringify(c.config)} on ${c.prefix || 'GPT2Model '}names`, c] as const))('%s selects what Python re selects', (_, c) => {
    const rule = ruleOf(c.config);
    expect(fixture.names[c.prefix]!.filter(rule.selects)).toEqual(c.selected);
  });

  it('maps what it selects to our targets, or says what cannot be honoured', () => {
    const targets = (t: string | string[], nLayer = 2, prefix = 'transformer.', layers?: number[]) => ruleTargets(ruleOf({ target_modules: t, ...(layers && { layers_to_transform: layers }) }), nLayer, prefix);
    expect(targets('transformer\\.h\\.\\d+\\.attn\\.c_attn')).toEqual(['c_attn']);
    expect(targets('.*\\.(c_attn|mlp\\.c_fc)', 2, '')).toEqual(['c_attn', 'c_fc']);
    expect(targets('.*\\.c_proj$')).toEqual(['c_proj']);
    expect(targets('.*attn\\.c_proj')).toEqual(['attn.c_proj']);
    expect(targets(['transformer.h.0.mlp.c_proj', 'h.1.mlp.c_proj'])).toEqual(['mlp.c_proj']);
    expect(targets(['c_attn'], 2, 'transformer.', [0, 1])).toEqual(['c_attn']);
    // a subset of the blocks: refused naming them and the field
    expect(targets(['c_attn'], 2, 'transformer.', [0])).toBe('target_modules ["c_attn"] with layers_to_transform [0] selects attn.c_attn in transformer.h.0 of 2 blocks only: an adapter on some blocks cannot be honoured here (one setting adapts every block\'s)');
    expect(targets('.*h\\.[01]\\.attn\\.c_attn', 3)).toMatch(/^target_modules ".*" selects attn\.c_attn in transformer\.h\.0, transformer\.h\.1 of 3 blocks only/);
    // a module LoRA cannot adapt here
    expect(targets('.*attn.*')).toBe('target_modules ".*attn.*" selects transformer.h.0.attn, which LoRA cannot adapt here (allowed: the blocks\' attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj)');
    expect(targets('lm_head|.*c_attn')).toMatch(/selects lm_head, which LoRA cannot adapt here/);
    expect(targets('.*wte')).toMatch(/selects transformer\.wte, which/);
    // nothing: peft itself raises that no target module was found
    expect(targets('c_attn')).toBe('target_modules "c_attn" selects none of GPT-2\'s modules (allowed: the blocks\' attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj)');
    expect(targets(['q_proj', 'v_proj'])).toMatch(/^target_modules \["q_proj","v_proj"\] selects none of GPT-2's modules/);
  });

  it.each([
    ['(?P<x>c_attn)', /\(\?P at 0/],
    ['(?i).*C_ATTN', /\(\?i at 0/],
    ['.*(?=c_attn)c_attn', /\(\?= at 2/],
    ['\\Atransformer.*', /\\A at 0/],
    ['.*c_attn\\Z', /\\Z at 8/],
    ['.*\\bc_attn', /\\b at 2/],
    ['(c)\\1_attn', /\\1 at 3/],
    ['.*c_at{,2}n', /a \{ at 6 that is not a quantifier/],
    ['.*c_attn*+', /a quantifier after a quantifier at 9/],
    ['[]a].*', /a class opening with \] at 0/],
    ['.*c_attn)', /an unopened \) at 8/],
    ['(.*c_attn', /a \( not closed/],
    ['*c_attn', /a quantifier \* at 0 with nothing to repeat/],
    ['.*c_attn}', /a bare \} at 8/],
    ['.*c_a{3,1}', /whose maximum is under its minimum/],
    ['.*c_attn$*', /a quantifier \* at 9 with nothing to repeat/],
    // both engines backtrack: what could take years on one name
    ['(.*)*x', /a quantifier \* at 4 on a group holding a quantifier or \|/],
    ['(?:h|\\d)+\\.x', /a quantifier \+ at 8 on a group holding a quantifier or \|/],
    ['((a)b*)+', /a quantifier \+ at 7 on a group holding a quantifier or \|/],
    ['.*.*.*.*.*.*.*c_attn', /more than 6 quantifiers/],
  ])('refuses %s, which Python and JavaScript read apart (or not at all)', (p, why) => {
    expect(pythonPatternProblem(p)).toMatch(why);
    expect(peftTargetRule(p, undefined, undefined)).toMatch(/^target_modules ".*" is a pattern this reader does not translate from Python's re: .* \(allowed: literal characters.*, at most 6 of them, none on a group holding a quantifier or \|\)$/);
  });

  it('refuses a layers_pattern with a group of its own (it would be the group peft reads the block index from)', () => {
    expect(peftTargetRule(['c_attn'], [0], ['(h)'])).toMatch(/^layers_pattern "\(h\)" is a pattern this reader does not translate from Python's re: a group \(\.\.\.\)/);
    expect(typeof peftTargetRule(['c_attn'], [0], ['(?:h|layers)'])).toBe('object');
  });
});

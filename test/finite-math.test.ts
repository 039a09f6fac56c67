// WGSL lets a driver assume finite floats (NVIDIA's compiler does: a NaN compared, an Inf used
// as a limit gave wrong answers on a real GPU), so the rule of issue #13: no kernel computes with
// NaN or Inf on purpose, and non-finite values are told by their bits (src/kernels/wgsl/finite.ts,
// row.ts rowNonFiniteWgsl, elementwise.ts ORDERED_WGSL). This reads the sources that hold WGSL
// (src/kernels, src/ops, src/optim; comments and quoted messages left out) for what would break it:
//   x != x or x == x: a NaN test a driver may fold to a constant;
//   a float literal of 1e30 or more: a sentinel that a sum or product may overflow to Inf, or an
//   Inf stand-in compared against; only the named, documented ones are allowed (below).
// And the host side: a float uniform that is not a finite float32 is refused where it is written.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { F32_MAX, Kernel } from '../src/kernels/kernel.js';

const SRC = fileURLToPath(new URL('../src', import.meta.url));
const DIRS = ['kernels', 'ops', 'optim'];

/**
 * The named huge constants, each defined once: F32_MAX (host side: clipping limits), LOWEST_F32
 * (where a row max of finite values starts, never subtracted from) and NO_SCORE (attention's
 * masked score, -1e30: subtracted from real scores only, far from overflow).
 */
const ALLOWED = /^export const (F32_MAX|LOWEST_F32|NO_SCORE) = /;

/** Each .ts file under src/{kernels,ops,optim}, its lines with // comments, comment-block lines and '...' / "..." strings blanked. */
function sources(): { file: string; lines: string[] }[] {
  return DIRS.flatMap((dir) =>
    (readdirSync(join(SRC, dir), { recursive: true }) as string[])
      .filter((f) => f.endsWith('.ts'))
      .map((f) => ({
        file: `src/${dir}/${f}`,
        lines: readFileSync(join(SRC, dir, f), 'utf8').split('\n').map((line) =>
          /^\s*(\/\*|\*)/.test(line) ? '' : line.replace(/'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"/g, "''").replace(/(^|\s)\/\/.*$/, '$1'),
        ),
      })),
  );
}

/** `file:line: text` for every line where `pattern` matches and `allowed` does not. */
function offending(pattern: RegExp, allowed = /$^/): string[] {
  return sources().flatMap(({ file, lines }) => lines.flatMap((line, i) => (pattern.test(line) && !allowed.test(line) ? [`${file}:${i + 1}: ${line.trim()}`] : [])));
}

const SELF_COMPARE = /(?<![\w.=!<>])([A-Za-z_][\w.]*(?:\[[^\]]*\])?)\s*(?:!=|==)(?!=)\s*\1(?![\w.[])/;
const HUGE_LITERAL = /(?<![\w.])\d+(?:\.\d*)?e\+?(?:[3-9]\d|\d{3,})(?![\w.])/i;

describe('kernel sources assume no IEEE non-finite semantics (issue #13)', () => {
  it('hold no x != x or x == x NaN test', () => {
    expect(offending(SELF_COMPARE)).toEqual([]);
  });

  it('hold no float literal of 1e30 or more but the named sentinels', () => {
    expect(offending(HUGE_LITERAL, ALLOWED)).toEqual([]);
  });

  it('the patterns find what they are for (so a pass means something)', () => {
    for (const bad of ['if (x != x) {', 'let nan = v[i] == v[i];', 'm = max(m, -3.4e38);', 'let big = 1e30 * s;', 'return select(a, 1E+39, c);']) {
      expect(SELF_COMPARE.test(bad) || HUGE_LITERAL.test(bad), bad).toBe(true);
    }
    for (const fine of ['if (x != y) {', 'a !== a', 'x == xs', 'let e = 1e-30;', 'let k = 2e29;', 'v[i] == v[j]', 'p.x == x']) {
      expect(SELF_COMPARE.test(fine) || HUGE_LITERAL.test(fine), fine).toBe(false);
    }
  });
});

describe('kernel uniforms', () => {
  it('refuse a float that is not a finite float32 (Infinity, NaN, past 3.4e38), naming the kernel and uniform; take the largest', () => {
    const kernel = new Kernel({ name: 'test_uniforms', write: { out: 'f32' }, params: { n: 'u32', limit: 'f32' }, body: '@compute @workgroup_size(1) fn main() {}' });
    const view = new DataView(new ArrayBuffer(256));
    for (const bad of [Infinity, -Infinity, NaN, 1e39, -3.5e38]) {
      expect(() => kernel.writeParams(view, 0, { n: 1, limit: bad })).toThrow(`test_uniforms: uniform 'limit' must be a finite float32 (kernels may assume finite math: pass 'no limit' as a flag), got ${bad}`);
    }
    for (const fine of [F32_MAX, -F32_MAX, 3.4028235e38, 0, -0, 1e-45]) {
      kernel.writeParams(view, 0, { n: 1, limit: fine });
      expect(view.getFloat32(4, true), `${fine}`).toBe(Math.fround(fine));
    }
  });
});

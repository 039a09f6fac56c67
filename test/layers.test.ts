// The architecture, checked: src/ has no import cycle; each folder imports only from layers below
// it (type imports too); code above the ops layer reaches ops only through src/ops/index.ts, the
// public face that gives tensors their methods; and the README's architecture section names every
// folder and kernel file and states the layer order as checked here.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = join(root, 'src');

/** Layers by rank: a folder may import from folders of lower rank (and its own). */
const LAYERS: Record<string, number> = {
  device: 0,
  kernels: 1,
  tensor: 2,
  autograd: 3,
  ops: 4,
  nn: 5, optim: 5, io: 5, check: 5, plot: 5,
  gpt: 6,
  node: 7,
  cli: 8, web: 8,
};
/** How the README states it: the chain, then where the side layers sit. */
const CHAIN = 'device ← kernels ← tensor ← autograd ← ops ← {nn, optim, io, check, plot} ← gpt ← node ← {cli, web}';

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

/** Relative imports and re-exports of a file (static ones; type-only included), resolved to .ts files. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'(\.\.?\/[^']+)'|^\s*import\s+'(\.\.?\/[^']+)'/gms)].map((m) => m[1] ?? m[2]!);
  return specs.map((s) => resolve(dirname(file), s.replace(/\.js$/, '.ts')));
}

const files = sourceFiles(src);
const graph = new Map(files.map((f) => [f, importsOf(f)]));
const layerOf = (file: string) => relative(src, file).split('/')[0]!.replace(/\.ts$/, '');
const rel = (file: string) => relative(root, file);

describe('architecture', () => {
  it('every import resolves to a source file', () => {
    const missing = [...graph].flatMap(([f, deps]) => deps.filter((d) => !graph.has(d)).map((d) => `${rel(f)} -> ${rel(d)}`));
    expect(missing).toEqual([]);
  });

  it('src/ has no import cycle', () => {
    const state = new Map<string, 'visiting' | 'done'>();
    const cycles: string[] = [];
    const visit = (f: string, path: string[]) => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'visiting') {
        cycles.push([...path.slice(path.indexOf(f)), f].map(rel).join(' -> '));
        return;
      }
      state.set(f, 'visiting');
      for (const d of graph.get(f) ?? []) visit(d, [...path, f]);
      state.set(f, 'done');
    };
    for (const f of files) visit(f, []);
    expect(cycles).toEqual([]);
  });

  it(`layers point one way: ${CHAIN}`, () => {
    const folders = new Set(files.map(layerOf).filter((l) => l !== 'index'));
    expect([...folders].filter((l) => !(l in LAYERS)), 'folders without a layer').toEqual([]);
    const upward = [...graph].flatMap(([f, deps]) => {
      const from = layerOf(f);
      if (from === 'index') return []; // the package root exports every layer
      return deps.filter((d) => layerOf(d) !== from && !(LAYERS[layerOf(d)]! < LAYERS[from]!)).map((d) => `${rel(f)} -> ${rel(d)}`);
    });
    expect(upward).toEqual([]);
  });

  it('above the ops layer, ops are reached only through src/ops/index.ts (which gives tensors their methods)', () => {
    const face = join(src, 'ops', 'index.ts');
    const around = [...graph].flatMap(([f, deps]) =>
      layerOf(f) === 'ops' ? [] : deps.filter((d) => layerOf(d) === 'ops' && d !== face).map((d) => `${rel(f)} -> ${rel(d)}`),
    );
    expect(around).toEqual([]);
  });

  it("the README's architecture section names every folder and kernel file, and this layer order", () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Architecture'));
    expect(section, 'README has an Architecture section').not.toBe('');
    expect(section).toContain(CHAIN);
    for (const layer of Object.keys(LAYERS)) expect(section, `src/${layer}/`).toContain(`src/${layer}/`);
    const kernels = readdirSync(join(src, 'kernels', 'wgsl')).map((f) => f.replace(/\.ts$/, ''));
    const block = section.slice(section.indexOf('wgsl/'), section.indexOf('src/tensor/'));
    for (const k of kernels) expect(block, `kernels/wgsl/${k}.ts`).toMatch(new RegExp(`\\b${k}\\b`));
  });
});

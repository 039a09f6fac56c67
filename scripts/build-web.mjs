#!/usr/bin/env node
// `npm run build:web`: bundles the engine and the demo page (src/web/) for the browser into
// web-dist/ (main.js + index.html + style.css). The bundle must stay platform-free: a plugin turns
// any Node-only import (node:*, Node built-ins, the 'webgpu' Dawn package) into a build error
// naming the importer, and the metafile is checked for the Node-only source files as well.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const WEB_SRC = join(ROOT, 'src/web');
const STATIC_FILES = ['index.html', 'style.css'];

/** Source files that use Node APIs; reaching one from the page is a layering mistake. */
const NODE_ONLY_SOURCES = [/^src\/cli\//, /^src\/node\//, /^src\/io\/(atomic-file|checkpoint-files|dir-lock|regular-files)\.ts$/];
const NODE_ONLY_PACKAGES = new Set(['webgpu', ...builtinModules]);

/** Fails the build on any import of a Node built-in or of the Dawn package. */
const forbidNodeImports = {
  name: 'forbid-node-imports',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => {
      if (args.kind === 'entry-point') return undefined;
      const bare = args.path.replace(/^node:/, '').split('/')[0];
      if (!args.path.startsWith('node:') && !NODE_ONLY_PACKAGES.has(bare) && !NODE_ONLY_PACKAGES.has(args.path)) return undefined;
      const from = args.importer ? args.importer.replace(`${ROOT}/`, '') : '?';
      return { errors: [{ text: `Node-only import '${args.path}' (from ${from}) cannot go into the browser bundle` }] };
    });
  },
};

/**
 * Builds the page (or another entry point, for tests) into outDir (default web-dist/). Throws (esbuild's error, listing each offending
 * import) when something Node-only would be bundled.
 */
export async function buildWeb({ outDir = join(ROOT, 'web-dist'), entry = join(WEB_SRC, 'main.ts'), minify = true, logLevel = 'warning' } = {}) {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: [entry],
    outfile: join(outDir, 'main.js'),
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    minify,
    sourcemap: true,
    metafile: true,
    logLevel,
    plugins: [forbidNodeImports],
  });
  const inputs = Object.keys(result.metafile.inputs);
  const bad = inputs.filter((f) => NODE_ONLY_SOURCES.some((re) => re.test(f)));
  if (bad.length) throw new Error(`build:web: Node-only sources reached the browser bundle: ${bad.join(', ')}`);
  for (const f of STATIC_FILES) copyFileSync(join(WEB_SRC, f), join(outDir, f));
  const bytes = result.metafile.outputs[Object.keys(result.metafile.outputs).find((k) => k.endsWith('main.js'))].bytes;
  return { outDir, files: ['main.js', 'main.js.map', ...STATIC_FILES], inputs, bytes };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    const { outDir, files, inputs, bytes } = await buildWeb();
    console.log(`build:web: ${inputs.length} modules -> ${outDir} (${files.join(', ')}; main.js ${(bytes / 1024).toFixed(0)} KiB)`);
  } catch (e) {
    // esbuild has already printed its errors
    if (!e.errors) console.error(e.message);
    process.exitCode = 1;
  }
}

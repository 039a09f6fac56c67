// A GPT training step in a browser tab: headless Chromium's WebGPU (SwiftShader, the browser test's
// adapter), GPT-2 124M by default (vocabulary 50,257, block 1024, batch 1). It shows that a model
// of that size trains in a page without a WebGPU validation error, and measures the step and the
// peak GPU memory against the plan. Minutes a step on CPU adapters.
//
//   npm run bench:browser                   GPT-2 124M, 2 steps
//   npm run bench:browser -- --small        2 layers, 128 wide, block 128 (a quick check of the set-up)
//   npm run bench:browser -- --steps 3
// Prints a table and writes bench/results/browser-step.json.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { buildWeb } from '../scripts/build-web.mjs';
import { CHROMIUM, CHROMIUM_ARGS } from '../scripts/chromium.mjs';
import { startServer } from '../src/cli/serve.js';
import type { StepReport, StepRequest } from './browser/gpt-step-page.js';

const args = process.argv.slice(2);
const small = args.includes('--small');
const stepsAt = args.indexOf('--steps');
const steps = stepsAt >= 0 ? Number(args[stepsAt + 1]) : 2;
if (!Number.isInteger(steps) || steps < 1) throw new Error(`--steps expects a positive integer, got '${args[stepsAt + 1]}'`);

const GPT2 = { nLayer: 12, nHead: 12, nEmbd: 768, blockSize: 1024, batchSize: 1, bias: true };
const SMALL = { nLayer: 2, nHead: 2, nEmbd: 128, blockSize: 128, batchSize: 1, bias: true };
const request: StepRequest = { cfg: small ? SMALL : GPT2, vocabSize: 50_257, steps };

const dir = mkdtempSync(join(tmpdir(), 'gpt-browser-step-'));
const web = join(dir, 'web');
await buildWeb({ entry: resolve('bench/browser/gpt-step-page.ts'), outDir: web, minify: false });
writeFileSync(join(web, 'index.html'), '<!doctype html><meta charset="utf-8"><title>GPT step</title><link rel="icon" href="data:,"><script type="module" src="main.js"></script>\n');
const server = await startServer({ root: web, port: 0 });
const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
const consoleErrors: string[] = [];
let report: StepReport;
const t0 = performance.now();
try {
  const page = await browser.newPage();
  page.on('console', (m) => void (m.type() === 'error' || m.type() === 'warning' ? consoleErrors.push(m.text()) : undefined));
  page.on('pageerror', (e) => consoleErrors.push(e.message));
  await page.goto(server.url);
  await page.waitForFunction(() => 'gptSteps' in globalThis);
  page.setDefaultTimeout(0); // a 124M step on a CPU adapter takes minutes
  report = await page.evaluate((r) => (globalThis as unknown as { gptSteps: (r: StepRequest) => Promise<StepReport> }).gptSteps(r), request);
} finally {
  await browser.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
const { cfg } = request;
console.log(`| model | adapter | steps (s) | losses | peak / plan |`);
console.log(`|---|---|---|---|---|`);
console.log(
  `| ${(report.params / 1e6).toFixed(1)}M: L${cfg.nLayer} C${cfg.nEmbd} T${cfg.blockSize} B${cfg.batchSize} V${request.vocabSize} | ` +
    `${report.adapter} (Chromium; maxStorageBufferBindingSize ${mib(report.limits.maxStorageBufferBindingSize)}) | ` +
    `${report.ms.map((ms) => (ms / 1000).toFixed(1)).join(', ')} | ${report.losses.map((l) => l.toFixed(3)).join(', ')} | ` +
    `${mib(report.peakBytes)} / ${mib(report.planBytes)} (${(report.peakBytes / report.planBytes).toFixed(2)}x) |`,
);
if (consoleErrors.length) console.log(`page errors and warnings:\n  ${consoleErrors.join('\n  ')}`);
const out = 'bench/results'; // run from the repository root, like bench/run.ts
mkdirSync(out, { recursive: true });
const when = new Date().toISOString();
writeFileSync(join(out, 'browser-step.json'), JSON.stringify({ when, request, report, consoleErrors, wallSeconds: (performance.now() - t0) / 1000 }, null, 2) + '\n');

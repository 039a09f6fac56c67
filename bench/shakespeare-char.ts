// nanoGPT parity: the Shakespeare-char CPU configuration (n_layer 4, n_head 4, n_embd 128,
// block 64, batch 12, 2000 iters, ...) on ../shared/data/tinyshakespeare.txt. nanoGPT reports a
// val loss of 1.88 for it. Prints progress, the final val loss, wall time and tokens/s, and
// writes bench/results/shakespeare-char.json. Usage: npm run bench:parity [-- --max-iters N]
import { readFileSync, writeFileSync } from 'node:fs';
import { initDevice } from '../src/device/device.js';
import { CharTokenizer } from '../src/gpt/tokenizer/index.js';
import { TRAIN_DEFAULTS, Trainer } from '../src/gpt/trainer.js';

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : undefined;
};
const cfg = { ...TRAIN_DEFAULTS, maxIters: flag('--max-iters') ?? TRAIN_DEFAULTS.maxIters };
// paths are relative to the repository root (npm scripts run there; this file runs bundled elsewhere)
const corpusPath = '../shared/data/tinyshakespeare.txt';
const text = readFileSync(corpusPath, 'utf8');
const tok = CharTokenizer.train(text);
const ids = Int32Array.from(tok.encode(text));
const n = Math.floor(ids.length * 0.9);
const dev = await initDevice();
console.log(`adapter: ${dev.info.description} (${dev.info.backend}); vocab ${tok.vocabSize}, train ${n}, val ${ids.length - n}`);

const trainer = new Trainer(cfg, { train: ids.slice(0, n), val: ids.slice(n), vocabSize: tok.vocabSize });
console.log(`model: ${(trainer.model.numParams() / 1e6).toFixed(2)}M parameters`);
const t0 = performance.now();
let lastVal = NaN;
const evals: { step: number; train: number; val: number }[] = [];
await trainer.run({
  onLog: (l) => console.log(`step ${l.step}: loss ${l.loss.toFixed(4)}, ${l.ms.toFixed(0)} ms/step, ${Math.round(l.tokensPerSec)} tok/s`),
  onEval: (l) => {
    lastVal = l.val!;
    evals.push({ step: l.step, train: l.train!, val: l.val! });
    console.log(`step ${l.step}: train ${l.train!.toFixed(4)}, val ${l.val!.toFixed(4)} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  },
});
const seconds = (performance.now() - t0) / 1000;
const tokensPerSec = (cfg.maxIters * cfg.batchSize * cfg.blockSize) / seconds;
const result = {
  benchmark: 'nanoGPT shakespeare-char (CPU config)',
  adapter: dev.info.description,
  backend: dev.info.backend,
  config: cfg,
  finalValLoss: lastVal,
  wallSeconds: seconds,
  tokensPerSec,
  evals,
  date: new Date().toISOString(),
};
console.log(`final val loss ${lastVal.toFixed(4)} (nanoGPT: 1.88), ${seconds.toFixed(0)} s wall, ${tokensPerSec.toFixed(0)} tokens/s`);
writeFileSync('bench/results/shakespeare-char.json', JSON.stringify(result, null, 2) + '\n');

// Bad options of the public modules, models, trainer, generation, optimizers and tokenizers get a
// one-line error naming the function, the option, what is allowed and what was given: a truthy
// string is not `true`, a misspelt key is not silently ignored, a string is not coerced to a number.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AdamW, CharTokenizer, crossEntropy, decodeCheckpoint, distillLoss, encodeCheckpoint, encodeHF, layerNorm, memoryPlan, modelFromCheckpoint, tensor,
  BpeTokenizer, clipGradNorm, generate, generateBatch, generateBeams, GPT, learningRate, pruneStructured, quantizeModel, sampleLogits, TRAIN_DEFAULTS,
  scope, Trainer, zeros, type GPTConfig, type TrainConfig,
} from '../src/index.js';
import { Block, CausalSelfAttention, Embedding, Generator, LayerNorm, Linear, MLP, ModuleList, pruneGlobal } from '../src/nn/index.js';
import { disposeTrainers, setupDevice } from './helpers.js';

let model: GPT;
beforeAll(async () => {
  await setupDevice();
  model = new GPT(cfg);
});
afterAll(() => model.dispose());

// Wrong values reach the API through `any`, as they would from plain JS.
const bad = (v: unknown) => v as any;
const rng = () => new Generator(1);
const ids2 = Int32Array.of(1, 2); // made a tensor inside each case's scope
const chars = CharTokenizer.train('abcdefghijklmnop');

/** f on a new GPT of config c, disposed after (a refused call must leave it to its owner). */
async function withModel(c: GPTConfig, f: (m: GPT) => unknown): Promise<unknown> {
  const m = new GPT(c);
  try {
    return await f(m);
  } finally {
    m.dispose();
  }
}

const cfg: GPTConfig = { vocabSize: 16, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8, dropout: 0, bias: true };
const ids = Int32Array.from({ length: 400 }, (_, i) => (i * 7) % 16);
const data = { train: ids.slice(0, 300), val: ids.slice(300), vocabSize: 16 };
const train: TrainConfig = { ...TRAIN_DEFAULTS, nLayer: 1, nHead: 2, nEmbd: 8, blockSize: 8, batchSize: 2, dtype: 'float32' };

/** f on a new Trainer of `train`, disposed after with its model. */
async function withTrainer(f: (t: Trainer) => unknown): Promise<unknown> {
  const t = new Trainer(train, data);
  try {
    return await f(t);
  } finally {
    disposeTrainers(t);
  }
}

type Case = [what: string, call: () => unknown, kind: typeof Error, message: RegExp];

const CASES: Case[] = [
  // layers
  ["Linear bias 'yes'", () => new Linear(4, 4, bad({ rng: rng(), bias: 'yes' })), TypeError, /^Linear: argument 'bias' must be a boolean, got string 'yes'$/],
  ['Linear bias 0', () => new Linear(4, 4, bad({ rng: rng(), bias: 0 })), TypeError, /^Linear: argument 'bias' must be a boolean, got number 0$/],
  ["Linear int8 'yes'", () => new Linear(4, 4, bad({ int8: 'yes' })), TypeError, /^Linear: argument 'int8' must be a boolean, got string 'yes'$/],
  ['Linear misspelt Bias', () => new Linear(4, 4, bad({ rng: rng(), Bias: false })), TypeError,
    /^Linear: unknown option 'Bias' \(the options are rng, std, int8, int4, bias\)$/],
  ['Embedding misspelt sd', () => new Embedding(4, 4, bad({ rng: rng(), sd: 1 })), TypeError, /^Embedding: unknown option 'sd' \(the options are rng, std, int8\)$/],
  ['LayerNorm bias 3', () => new LayerNorm(4, bad({ bias: 3 })), TypeError, /^LayerNorm: argument 'bias' must be a boolean, got number 3$/],
  ['LayerNorm misspelt epsilon', () => new LayerNorm(4, bad({ epsilon: 1e-3 })), TypeError, /^LayerNorm: unknown option 'epsilon' \(the options are bias, eps\)$/],
  ['LayerNorm opts null', () => new LayerNorm(4, bad(null)), TypeError, /^LayerNorm: the options must be an object of bias, eps, got null$/],
  ['Block without nLayer', () => new Block(bad({ nEmbd: 8, nHead: 2, dropout: 0, bias: true }), rng()), TypeError,
    /^Block: argument 'cfg\.nLayer' must be an integer >= 1, got undefined$/],
  ['CausalSelfAttention nHead 3 of nEmbd 8', () => new CausalSelfAttention({ nEmbd: 8, nHead: 3, nLayer: 1, dropout: 0, bias: true }, rng()), RangeError,
    /^CausalSelfAttention: the head size \(cfg\.headSize, else cfg\.nEmbd \/ cfg\.nHead\) must be an integer >= 1, got 2\.66+\d*$/],
  ['MLP without bias', () => new MLP(bad({ nEmbd: 8, nHead: 2, nLayer: 1, dropout: 0 }), rng()), TypeError, /^MLP: argument 'cfg\.bias' must be a boolean, got undefined$/],
  // the MLP ran the exact GELU for any activation it did not know, and float32 for any quantization
  ["MLP activation 'relu'", () => new MLP(bad({ nEmbd: 8, nHead: 2, nLayer: 1, dropout: 0, bias: true, activation: 'relu' }), rng()), RangeError,
    /^MLP: argument 'cfg\.activation' must be one of gelu, gelu_tanh \(or absent: gelu\), got string 'relu'$/],
  ["Block quantization 'int2'", () => new Block(bad({ nEmbd: 8, nHead: 2, nLayer: 1, dropout: 0, bias: true, quantization: 'int2' }), rng()), RangeError,
    /^Block: argument 'cfg\.quantization' must be one of int8, int4 \(or absent: float32\), got string 'int2'$/],
  ["Block quantization 'int4' without groupSize", () => new Block(bad({ nEmbd: 8, nHead: 2, nLayer: 1, dropout: 0, bias: true, quantization: 'int4' }), rng()), RangeError,
    /^Block: argument 'cfg\.groupSize' comes with quantization 'int4' and only with it, got groupSize undefined with quantization string 'int4'$/],
  ['MLP mlpWidth 2.5', () => new MLP(bad({ nEmbd: 8, nHead: 2, nLayer: 1, dropout: 0, bias: true, mlpWidth: 2.5 }), rng()), RangeError,
    /^MLP: argument 'cfg\.mlpWidth' must be an integer >= 1 \(or absent: 4 \* cfg\.nEmbd\), got number 2\.5$/],
  // nn.Dropout takes p = 1; the fused attention's dropout does not, and refused it only at the first forward, as causalAttention's
  ['Block dropout 1', () => new Block({ nEmbd: 8, nHead: 2, nLayer: 1, dropout: 1, bias: true }, rng()), RangeError,
    /^Block: argument 'cfg\.dropout' must be a number in \[0, 1\) \(attention's dropout cannot drop every weight\), got number 1$/],
  ['CausalSelfAttention dropout NaN', () => new CausalSelfAttention({ nEmbd: 8, nHead: 2, nLayer: 1, dropout: NaN, bias: true }, rng()), RangeError,
    /^CausalSelfAttention: argument 'cfg\.dropout' must be a number in \[0, 1\) .*, got number NaN$/],
  ['ModuleList of numbers', () => new ModuleList(bad([3])), TypeError, /^ModuleList: argument 'items' must be an array of Modules, got number 3 at \[0\]$/],
  ['ModuleList(3)', () => new ModuleList(bad(3)), TypeError, /^ModuleList: argument 'items' must be an array of Modules, got number 3$/],
  // GPT config
  ['GPT config null', () => new GPT(bad(null)), TypeError, /^GPT config: must be an object .*, got null$/],
  ['GPT misspelt nEmbed', () => new GPT(bad({ ...cfg, nEmbed: 64 })), TypeError, /^GPT config: unknown option 'nEmbed' \(the options are vocabSize, .*\)$/],
  ["GPT bias 'yes'", () => new GPT(bad({ ...cfg, bias: 'yes' })), TypeError, /^GPT config: bias must be true or false, got "yes"$/],
  // left out, bias is nanoGPT's default (true); Python's None (falsy there) is not taken for it
  ['GPT bias null', () => new GPT(bad({ ...cfg, bias: null })), TypeError, /^GPT config: bias must be true or false, got null$/],
  ['GPT dropout null', () => new GPT(bad({ ...cfg, dropout: null })), Error, /^GPT config: dropout must be in \[0, 1\), got null$/],
  ["GPT vocabSize '16'", () => new GPT(bad({ ...cfg, vocabSize: '16' })), Error, /^GPT config: vocabSize must be a positive integer, got "16"$/],
  ['GPT opts misspelt sead', () => new GPT(cfg, bad({ sead: 1 })), TypeError, /^GPT: unknown option 'sead' \(the options are seed\)$/],
  ['GPT.forward misspelt target', () => scope(() => model.forward(tensor(ids2, [1, 2]), bad({ target: ids2 }))), TypeError,
    /^GPT\.forward: unknown option 'target' \(the options are targets, caches, lastOnly, starts, recompute\)$/],
  ["GPT.forward lastOnly 'yes'", () => scope(() => model.forward(tensor(ids2, [1, 2]), bad({ lastOnly: 'yes' }))), TypeError, /^GPT\.forward: argument 'lastOnly' must be a boolean, got string 'yes'$/],
  ['GPT opts null', () => new GPT(cfg, bad(null)), TypeError, /^GPT: the options must be an object of seed, got null$/],
  // Trainer
  ['Trainer model wider than cfg', () => withModel({ ...cfg, nEmbd: 16 }, (m) => new Trainer(train, data, m)), RangeError,
    /^Trainer: the model's nEmbd is 16, cfg\.nEmbd 8; a given model must have the shape the config describes$/],
  ['Trainer model of another vocabulary', () => withModel({ ...cfg, vocabSize: 32 }, (m) => new Trainer(train, data, m)), RangeError,
    /^Trainer: the model's vocabSize is 32, data\.vocabSize 16; /],
  ['Trainer model with a shorter context', () => withModel({ ...cfg, blockSize: 4 }, (m) => new Trainer(train, data, m)), RangeError, /^Trainer: the model's blockSize is 4, cfg\.blockSize 8; /],
  ['Trainer cfg misspelt lr', () => new Trainer(bad({ ...train, lr: 1e-3 }), data), TypeError, /^Trainer: unknown option 'lr'; it is named 'learningRate' here$/],
  // learningRate()'s old names: one schedule naming for both, nanoGPT's
  ['Trainer cfg warmupSteps', () => new Trainer(bad({ ...train, warmupSteps: 10 }), data), TypeError, /^Trainer: unknown option 'warmupSteps'; it is named 'warmupIters' here$/],
  ['Trainer cfg decaySteps', () => new Trainer(bad({ ...train, decaySteps: 10 }), data), TypeError, /^Trainer: unknown option 'decaySteps'; it is named 'lrDecayIters' here$/],
  ['Trainer cfg weightdecay', () => new Trainer(bad({ ...train, weightdecay: 0.1 }), data), TypeError, /^Trainer: unknown option 'weightdecay' /],
  // the cosine schedule would rise instead of decaying; a learning rate of 0 would train nothing
  ['Trainer cfg minLr above learningRate', () => new Trainer({ ...train, learningRate: 1e-4, minLr: 1e-3 }, data), RangeError,
    /^Trainer: cfg\.minLr \(0\.001\) must not exceed cfg\.learningRate \(0\.0001\)$/],
  ['Trainer cfg learningRate 0', () => new Trainer({ ...train, learningRate: 0, minLr: 0 }, data), RangeError, /^Trainer: cfg\.learningRate must be a finite number > 0, got 0$/],
  ['Trainer opts misspelt', () => new Trainer(train, data, undefined, undefined, bad({ cast_cache: false })), TypeError,
    /^Trainer: unknown option 'cast_cache' \(the options are scaler, castCache, moments\)$/],
  ["Trainer castCache 'no'", () => new Trainer(train, data, undefined, undefined, bad({ castCache: 'no' })), TypeError,
    /^Trainer: argument 'castCache' must be a boolean, got string 'no'$/],
  ['Trainer data.train a Float32Array', () => new Trainer(train, { ...data, train: bad(new Float32Array(300)) }), TypeError,
    /^Trainer: argument 'data\.train' must be an Int32Array of token ids or a TokenSource \(length, subarray\), got an object \(Float32Array\)$/],
  ['Trainer data.val an object without subarray', () => new Trainer(train, { ...data, val: bad({ length: 300 }) }), TypeError,
    /^Trainer: argument 'data\.val' must be an Int32Array of token ids or a TokenSource \(length, subarray\), got an object \(Object\)$/],
  ['Trainer data null', () => new Trainer(train, bad(null)), TypeError, /^Trainer: data: the options must be an object of train, val, vocabSize, got null$/],
  ['Trainer distill misspelt alfa', () => new Trainer(train, data, undefined, bad({ teacher: model, temperature: 2, alpha: 0.5, alfa: 1 })), TypeError,
    /^Trainer: distill: unknown option 'alfa' \(the options are teacher, temperature, alpha\)$/],
  ['Trainer distill teacher {}', () => new Trainer(train, data, undefined, bad({ teacher: {}, temperature: 2, alpha: 0.5 })), TypeError,
    /^Trainer: argument 'distill\.teacher' must be a GPT, got an object \(Object\)$/],
  ['Trainer.run misspelt onLogg', () => withTrainer((t) => t.run(bad({ onLogg: () => undefined }))), TypeError,
    /^Trainer\.run: unknown option 'onLogg' \(the options are onLog, onEval, onEvalBatch, onProfile, profileStep\)$/],
  // a state that is no run's would reach AdamW's bias correction and the generators (a NaN step, BigInt('abc')'s own message)
  ['Trainer.restore step 1.5', () => withTrainer((t) => t.restore(bad({ step: 1.5, dataRng: '1', modelRng: '2' }))), RangeError,
    /^Trainer\.restore: argument 'state\.step' must be an integer >= 0, got 1\.5$/],
  ["Trainer.restore dataRng 'abc'", () => withTrainer((t) => t.restore(bad({ step: 3, dataRng: 'abc', modelRng: '2' }))), RangeError,
    /^Trainer\.restore: argument 'state\.dataRng' must be a generator state \(decimal digits, below 2\^64\), got "abc"$/],
  ['Trainer.restore dataRng past 64 bits', () => withTrainer((t) => t.restore(bad({ step: 3, dataRng: '18446744073709551616', modelRng: '2' }))), RangeError,
    /^Trainer\.restore: argument 'state\.dataRng' must be a generator state \(decimal digits, below 2\^64\), got "18446744073709551616"$/],
  ['Trainer.restore scaler without a scale', () => withTrainer((t) => t.restore(bad({ step: 3, dataRng: '1', modelRng: '2', scaler: { cleanSteps: 0, skippedSteps: 0 } }))), RangeError,
    /^Trainer\.restore: argument 'state\.scaler\.scale' must be a number in \[2\^-24, 2\^24\], got undefined$/],
  ['Trainer.restore more steps skipped than taken', () => withTrainer((t) => t.restore(bad({ step: 3, dataRng: '1', modelRng: '2', scaler: { scale: 1, cleanSteps: 0, skippedSteps: 4 } }))), RangeError,
    /^Trainer\.restore: argument 'state\.scaler\.skippedSteps' \(4\) must not exceed argument 'state\.step' \(3\)$/],
  ['Trainer.restore tokens -1', () => withTrainer((t) => t.restore(bad({ step: 3, dataRng: '1', modelRng: '2', tokens: -1 }))), RangeError,
    /^Trainer\.restore: argument 'state\.tokens' must be an integer >= 0, got -1$/],
  ['Trainer.restore null', () => withTrainer((t) => t.restore(bad(null))), RangeError, /^Trainer\.restore: argument 'state' must be an object, got null$/],
  ["Trainer.trainStep('no')", () => withTrainer((t) => t.trainStep(bad('no'))), TypeError, /^Trainer\.trainStep: argument 'readLoss' must be a boolean, got string 'no'$/],
  // generation and sampling
  ['generate with an object for the model', () => generate(bad({}), [1], { maxNewTokens: 1 }).next(), TypeError, /^generate: argument 'model' must be a GPT, got an object \(Object\)$/],
  ['GPT.forward caches 3', () => scope(() => model.forward(tensor(ids2, [1, 2]), bad({ caches: 3 }))), TypeError,
    /^GPT\.forward: argument 'caches' must be an array of KV caches, got number 3$/],
  ["memoryPlan batchSize '2'", () => memoryPlan(cfg, bad('2'), { training: true, bindingLimit: 2 ** 30 }), TypeError,
    /^memoryPlan: argument 'batchSize' must be an integer >= 1, got string '2'$/],
  ['memoryPlan gradAccum 0.5', () => memoryPlan(cfg, 2, { training: true, bindingLimit: 2 ** 30, gradAccum: bad(0.5) }), RangeError,
    /^memoryPlan: argument 'gradAccum' must be an integer >= 1, got number 0\.5$/],
  ['generate misspelt temprature', () => generate(model, [1], bad({ maxNewTokens: 2, temprature: 0.5 })).next(), TypeError,
    /^generate: unknown option 'temprature' \(the options are maxNewTokens, temperature, topK, topP, minP, logitBias, repetitionPenalty, presencePenalty, frequencyPenalty, noRepeatNgramSize, seed, kvCache, stopToken\)$/],
  ['generateBatch misspelt topk', () => generateBatch(model, [[1]], bad({ maxNewTokens: 2, topk: 3 })).next(), TypeError,
    /^generateBatch: unknown option 'topk' /],
  ['generateBeams misspelt num_beams', () => generateBeams(model, [1], bad({ maxNewTokens: 2, num_beams: 3 })), TypeError,
    /^generateBeams: unknown option 'num_beams' \(the options are numBeams, maxNewTokens, lengthPenalty, earlyStopping, numReturnSequences, eosTokenId, noRepeatNgramSize\)$/],
  ['generateBeams without options', () => generateBeams(model, [1], bad(undefined)), TypeError,
    /^generateBeams: the options must be an object of numBeams, maxNewTokens, lengthPenalty, earlyStopping, numReturnSequences, eosTokenId, noRepeatNgramSize, got undefined$/],
  ['generateBeams numBeams past half the vocabulary', () => generateBeams(model, [1], { numBeams: 9, maxNewTokens: 2 }), RangeError,
    /^generateBeams: numBeams must be an integer in \[1, 8\] \(2·numBeams candidates from one beam of vocabulary 16\), got number 9$/],
  ['generateBeams maxNewTokens 0', () => generateBeams(model, [1], { numBeams: 2, maxNewTokens: 0 }), RangeError, /^generateBeams: maxNewTokens must be an integer >= 1, got number 0$/],
  ["generateBeams lengthPenalty '1'", () => generateBeams(model, [1], bad({ numBeams: 2, maxNewTokens: 2, lengthPenalty: '1' })), RangeError,
    /^generateBeams: lengthPenalty must be a finite number, got string '1'$/],
  ["generateBeams earlyStopping 'true'", () => generateBeams(model, [1], bad({ numBeams: 2, maxNewTokens: 2, earlyStopping: 'true' })), RangeError,
    /^generateBeams: earlyStopping must be true, false or 'never', got string 'true'$/],
  ['generateBeams numReturnSequences past numBeams', () => generateBeams(model, [1], { numBeams: 2, maxNewTokens: 2, numReturnSequences: 3 }), RangeError,
    /^generateBeams: numReturnSequences must be an integer in \[1, numBeams 2\], got number 3$/],
  ['generateBeams eosTokenId past the vocabulary', () => generateBeams(model, [1], { numBeams: 2, maxNewTokens: 2, eosTokenId: 16 }), RangeError,
    /^generateBeams: eosTokenId must be a token id in \[0, 16\), got number 16$/],
  ['generateBeams with a prompt of a token past the vocabulary', () => generateBeams(model, [16], { numBeams: 2, maxNewTokens: 2 }), RangeError,
    /^generateBeams: prompt\[0\] = number 16 is not a token id in \[0, 16\)$/],
  ['sampleLogits misspelt topk', () => scope(() => sampleLogits(zeros([1, 4]), zeros([1]), bad({ topk: 2 }))), TypeError,
    /^sampleLogits: unknown option 'topk' \(the options are temperature, topK, topP, minP\)$/],
  // losses
  ['crossEntropy misspelt ignore_index', () => scope(() => crossEntropy(zeros([2, 4]), zeros([2], 'int32'), bad({ ignore_index: 1 }))), TypeError,
    /^crossEntropy: unknown option 'ignore_index' \(the options are ignoreIndex\)$/],
  ['crossEntropy with -100 for the options', () => scope(() => crossEntropy(zeros([2, 4]), zeros([2], 'int32'), bad(-100))), TypeError,
    /^crossEntropy: the options must be an object of ignoreIndex, got number -100$/],
  ['distillLoss misspelt alfa', () => scope(() => distillLoss(zeros([2, 4]), zeros([2, 4]), zeros([2], 'int32'), bad({ temperature: 2, alpha: 0.5, alfa: 1 }))), TypeError,
    /^distillLoss: unknown option 'alfa' \(the options are temperature, alpha, ignoreIndex\)$/],
  ["distillLoss alpha '0.5'", () => scope(() => distillLoss(zeros([2, 4]), zeros([2, 4]), zeros([2], 'int32'), bad({ temperature: 2, alpha: '0.5' }))), Error,
    /^distillLoss: alpha must be in \[0, 1\], got string '0\.5'$/],
  ["layerNorm eps '1e-5'", () => scope(() => layerNorm(zeros([2, 2]), zeros([2]), null, bad('1e-5'))), Error, /^layerNorm: eps must be a finite number >= 0, got string '1e-5'$/],
  // optim
  ['AdamW.step(1)', () => scope(() => {
    const adam = new AdamW([zeros([1])]);
    try {
      adam.step(bad(1));
    } finally {
      adam.dispose();
    }
  }), TypeError, /^AdamW\.step: argument 'gradScale' must be a Tensor, got number 1$/],
  ['AdamW opts null', () => scope(() => new AdamW([zeros([1])], bad(null))), TypeError, /^AdamW: the options must be an object of lr, betas, eps, weightDecay, got null$/],
  ['learningRate misspelt warmup', () => learningRate(0, bad({ lr: 1, minLr: 0, warmupIters: 0, lrDecayIters: 10, warmup: 5 })), TypeError,
    /^learningRate: unknown option 'warmup' \(the options are lr, minLr, warmupIters, lrDecayIters\)$/],
  // PyTorch's 'optimizer got an empty parameter list': an AdamW of nothing stepped without a word
  ['AdamW of no parameters', () => new AdamW([]), Error, /^AdamW: argument 'params' is an empty list; an optimizer needs at least one parameter$/],
  ['clipGradNorm of one tensor', () => scope(() => clipGradNorm(bad(zeros([2])), 1)), TypeError, /^clipGradNorm: argument 'params' must be an array of Tensors, got a float32\[2\] tensor$/],
  // tokenizers
  ['BpeTokenizer.train misspelt onProgres', () => BpeTokenizer.train('hello world', 260, bad({ onProgres: () => 0 })), TypeError,
    /^BpeTokenizer\.train: unknown option 'onProgres' \(the options are onProgress\)$/],
  // checkpoints
  ['encodeHF of an object', () => encodeHF(bad({})), TypeError, /^encodeHF: argument 'model' must be a GPT, got an object \(Object\)$/],
  ['modelFromCheckpoint misspelt blocksize', async () => modelFromCheckpoint(decodeCheckpoint(await encodeCheckpoint(model, chars)), bad({ blocksize: 4 })), TypeError,
    /^modelFromCheckpoint: unknown option 'blocksize' \(the options are dropout, blockSize, seed\)$/],
  ['encodeCheckpoint misspelt optimiser', () => encodeCheckpoint(model, chars, bad({ optimiser: null })), TypeError, /^encodeCheckpoint: unknown option 'optimiser' /],
  // quantize and prune
  ['quantizeModel of an object', () => quantizeModel(bad({})), TypeError, /^quantizeModel: argument 'model' must be a GPT, got an object \(Object\)$/],
  ["pruneStructured sparsity '0.5'", () => pruneStructured(model, bad({ structure: 'heads', sparsity: '0.5' })), RangeError,
    /^pruneStructured: sparsity must be in \[0, 1\), got string '0\.5'$/],
  ['pruneStructured misspelt sparsty', () => pruneStructured(model, bad({ structure: 'heads', sparsity: 0.5, sparsty: 1 })), TypeError,
    /^pruneStructured: unknown option 'sparsty' \(the options are structure, sparsity\)$/],
  ['pruneStructured without options', () => pruneStructured(model, bad(undefined)), TypeError,
    /^pruneStructured: the options must be an object of structure, sparsity, got undefined$/],
  ["pruneGlobal sparsity '0.5'", () => pruneGlobal(model, bad('0.5')), RangeError, /^pruneGlobal: sparsity must be in \[0, 1\), got string '0\.5'$/],
  ['pruneGlobal of null', () => pruneGlobal(bad(null), 0.5), TypeError, /^pruneGlobal: argument 'model' must be a Module, got null$/],
];

describe('bad options: one-line errors naming the function and the option', () => {
  for (const [what, call, kind, message] of CASES) {
    it(what, async () => {
      const err = await (async () => call())().then(() => null, (e: unknown) => e);
      expect(err, `${what} was accepted`).toBeInstanceOf(kind);
      expect((err as Error).message).toMatch(message);
    });
  }
});

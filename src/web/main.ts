// The demo page: find the WebGPU adapter, load a model (the server's checkpoint, a checkpoint file,
// nanoGPT's ckpt.pt, a Hugging Face GPT-2 model's files, or such a model on the hub by its id),
// stream text from it, train a small GPT in the tab with a live loss chart, and save the result as
// a checkpoint the `gpt` CLI reads. Imports only platform-free modules (checked by
// scripts/build-web.mjs).
// Long work (training, generation) awaits the GPU between steps and yields to the event loop, so
// the page stays responsive; one piece of work runs at a time.
import { runChecks } from '../check/report.js';
import type { DeviceInfo } from '../device/adapter.js';
import { device, initDevice } from '../device/device.js';
import { DeviceLostError } from '../device/lost.js';
import type { HFModelSources } from '../gpt/hf/index.js';
import { HUB_ENDPOINT } from '../gpt/hf/hub.js';
import { autotuneSettled } from '../kernels/autotune.js';
import { headsProblem, loraOf, TRAIN_DEFAULTS, TRAIN_RANGES } from '../gpt/trainer.js';
import { loraConfigProblem, loraRankProblem, type LoRABias } from '../gpt/lora.js';
import { blockLinearShapes, MAX_LAYERS } from '../gpt/model.js';
import { formatBytes } from '../gpt/buffer-fit.js';
import { bytesSource, countingReads, type ByteSource } from '../io/safetensors-source.js';
import { rangeProblem, type Range } from '../io/value-ranges.js';
import { LossChart } from './chart.js';
import type { GptHook, ReadyState } from './hook.js';
import { readUtf8 } from './picked-file.js';
import { openPickedModel } from './picked-model.js';
import { describeRun, ReplaceDeclined, Session, type ModelShape, type ModelSummary, type TrainSettings } from './session.js';
import { readUrl } from './url-source.js';
import { hubEndpoint, hubModelName, openHubModel, readHubModel } from './hub-source.js';

/** Served next to the page by `gpt serve --checkpoint PATH`. */
const CHECKPOINT_URL = 'checkpoint.safetensors';
/** The header of gpt serve's answers that says whether it serves CHECKPOINT_URL ('yes' or 'no'; src/cli/serve.ts's). */
const CHECKPOINT_HEADER = 'Gpt-Checkpoint';

/** The page's `?hub=`: a mirror of the Hugging Face hub (a test's mock) for the model field to read from (hubEndpoint's), or null. */
const HUB_PARAM = new URLSearchParams(location.search).get('hub');

const DEFAULT_TEXT = `The lamp in the workshop burned until late. Every evening the old clockmaker sat at his bench and
listened to the clocks around him, each one ticking a little differently, like voices in a crowded room.
He said that a clock was a patient thing: it counted without tiring, it never hurried, and it never
forgot where it was. His apprentice thought that this was a strange thing to admire in a machine.
"A clock does not know what time it is," she said. "It only knows how to take the next step."
The clockmaker laughed and wound the tallest clock by the window. "And what else is there to know?
Take the next step, and then the next one, and keep count. That is how the sun crosses the sky,
how the river reaches the sea, and how a tired apprentice learns her trade."
In the morning the town woke to the sound of bells. The baker opened his shutters, the children ran
down the hill to school, and the clockmaker, who had not slept, set out a row of tiny gears on a
cloth and began again. He did not know what he was building yet. He only knew the next step.
`.repeat(2);

/** What the page says while a run's first step, or a generation's first token, is on its way: they compile the GPU kernels they run (once per page). */
const FIRST_STEP = 'running the first step (it compiles the GPU kernels)…';
const FIRST_TOKEN = 'generating the first token (it compiles the GPU kernels)…';

/** The most tokens one generation asks for (the field's max): a typo of 1e9 would run until Stop. */
const MAX_NEW_TOKENS = 5000;

// ---- elements ---------------------------------------------------------------------------------
const $ = <T extends HTMLElement = HTMLElement>(id: string) => {
  const e = document.getElementById(id);
  if (!e) throw new Error(`page: element #${id} is missing`);
  return e as T;
};
type Input = HTMLInputElement;
const ui = {
  adapter: $('adapter'),
  loadUrl: $<HTMLButtonElement>('load-url'),
  loadFile: $<Input>('load-file'),
  hubId: $<Input>('hub-id'),
  loadHub: $<HTMLButtonElement>('load-hub'),
  cancelLoad: $<HTMLButtonElement>('cancel-load'),
  save: $<HTMLButtonElement>('save'),
  modelInfo: $('model-info'),
  prompt: $<HTMLTextAreaElement>('prompt'),
  maxTokens: $<Input>('max-tokens'),
  temperature: $<Input>('temperature'),
  topK: $<Input>('top-k'),
  topP: $<Input>('top-p'),
  minP: $<Input>('min-p'),
  repetitionPenalty: $<Input>('repetition-penalty'),
  presencePenalty: $<Input>('presence-penalty'),
  frequencyPenalty: $<Input>('frequency-penalty'),
  seed: $<Input>('seed'),
  generate: $<HTMLButtonElement>('generate'),
  stopGen: $<HTMLButtonElement>('stop-gen'),
  output: $('output'),
  genStats: $('gen-stats'),
  text: $<HTMLTextAreaElement>('text'),
  textFile: $<Input>('text-file'),
  textInfo: $('text-info'),
  nLayer: $<Input>('n-layer'),
  nHead: $<Input>('n-head'),
  nEmbd: $<Input>('n-embd'),
  blockSize: $<Input>('block-size'),
  batchSize: $<Input>('batch-size'),
  lr: $<Input>('lr'),
  steps: $<Input>('steps'),
  evalInterval: $<Input>('eval-interval'),
  recompute: $<Input>('recompute'),
  loraRow: $('lora-row'),
  loraRank: $<Input>('lora-rank'),
  loraAlpha: $<Input>('lora-alpha'),
  loraDropout: $<Input>('lora-dropout'),
  loraTargets: $<Input>('lora-targets'),
  loraBias: $<HTMLSelectElement>('lora-bias'),
  newModel: $<HTMLButtonElement>('new-model'),
  train: $<HTMLButtonElement>('train'),
  stopTrain: $<HTMLButtonElement>('stop-train'),
  trainStats: $('train-stats'),
  trainPlan: $('train-plan'),
  chart: $<HTMLCanvasElement>('chart'),
  error: $('error'),
};

/**
 * New model and a load (checked first: its settings, its files, its id) ask before they replace
 * the model on the page where that would lose training steps not saved, as closing the tab asks.
 */
const session = new Session((step) =>
  window.confirm(`The model on the page has training steps not saved (step ${step}): replacing it loses them. Replace it? (Cancel keeps it: Save checkpoint first)`),
);
const chart = new LossChart(ui.chart);
let gpuReady = false;
let serverCheckpoint = false;
let busy: 'loading' | 'generating' | 'training' | 'saving' | 'checking' | null = null;
let stopRequested = false;
/** The load in progress, for its Cancel button (null: none, or one that cannot be cancelled). */
let loadInProgress: AbortController | null = null;
/** The step a stopped training run began at: Resume goes on to it plus the steps field as it reads then (like the other fields). */
let runStart: number | null = null;
/** The step of the chart's last evaluation (not repeated when a run resumes there). */
let lastEvalStep = -1;

/**
 * Lets the page take input and paint between steps. A message, not a timer: a background tab's
 * timers fire once a second at most (once a minute after five minutes there), which would all but
 * stop a run or a generation left in a tab the user switched away from.
 */
const pageTurn = new MessageChannel();
const turnsWaiting: (() => void)[] = [];
pageTurn.port1.onmessage = () => turnsWaiting.shift()?.();
const yieldToPage = () => new Promise<void>((r) => (turnsWaiting.push(r), pageTurn.port2.postMessage(null)));

/** The input's number, or an error naming the field and its range (the CLI's ranges where they exist). */
function num(input: Input, what: string, range: Range): number {
  const v = input.value.trim() === '' ? NaN : Number(input.value);
  // text a number field shows but cannot convert ('1e400', '1e', '--1') reads as '': not what the user sees
  const problem = rangeProblem(what, v, range, input.validity.badInput ? 'text that is not a number' : `'${input.value}'`);
  if (problem) throw new Error(problem);
  return v;
}

/** A load's end when its Cancel button was pressed: not an error to show (the model line is back as it was). */
class LoadCancelled extends Error {}

function showError(e: unknown): void {
  if (e instanceof LoadCancelled || e instanceof ReplaceDeclined) return; // the user's choice: the model stays
  if (e instanceof DeviceLostError) return; // said once, on the adapter line (gpuLost): the run's or load's error was the same again
  const msg = e instanceof Error ? e.message : String(e);
  console.error(e);
  ui.error.textContent = msg;
  ui.error.hidden = false;
}

/** Whether the page has a model to generate with, save or train on: not one whose training diverged (its weights hold NaN or Inf, and nothing earlier is kept). */
const usableModel = () => session.model !== null && !session.diverged;

function refresh(): void {
  const usable = usableModel();
  const idle = gpuReady && busy === null;
  ui.loadUrl.disabled = !idle || !serverCheckpoint;
  ui.loadUrl.hidden = !serverCheckpoint; // a server without one (gpt serve without --checkpoint) never has one: not a button disabled for good, saying nothing why
  ui.loadFile.disabled = !idle;
  ui.loadHub.disabled = !idle;
  ui.cancelLoad.disabled = loadInProgress === null;
  ui.save.disabled = !idle || !usable;
  ui.generate.disabled = !idle || !usable;
  ui.save.title = ui.generate.title = session.diverged; // said once as the run's error; why they stay off, after it
  ui.stopGen.disabled = busy !== 'generating';
  ui.newModel.disabled = !idle;
  ui.train.disabled = !idle;
  ui.train.textContent = runStart !== null ? 'Resume' : usable ? 'Train' : 'Train a new model'; // a diverged model's run cannot be resumed
  ui.stopTrain.disabled = busy !== 'training';
  guardUnload();
}

/**
 * Asks before the tab is closed or reloaded where that would lose work: training steps not saved,
 * or a save still being written. Listened for only then: an unload listener kept on asks for
 * nothing, and costs the page the browser's back/forward cache.
 */
function guardUnload(): void {
  const guard = gpuReady && (session.hasUnsavedWork() || busy === 'saving'); // a lost device's steps cannot be saved
  if (guard === unloadGuarded) return;
  unloadGuarded = guard;
  if (guard) window.addEventListener('beforeunload', askBeforeUnload);
  else window.removeEventListener('beforeunload', askBeforeUnload);
}
let unloadGuarded = false;
const askBeforeUnload = (e: BeforeUnloadEvent) => {
  e.preventDefault();
  e.returnValue = ''; // browsers before Chrome 119's preventDefault ask only with this set
};

/** A load its Cancel button stops (aborting `signal`): the load frees what it made, and the model before it stays. */
async function withCancelButton<T>(load: (signal: AbortSignal) => Promise<T>): Promise<T> {
  loadInProgress = new AbortController();
  refresh();
  try {
    return await load(loadInProgress.signal);
  } finally {
    loadInProgress = null;
    refresh();
  }
}

/** Runs one piece of work at a time; the buttons are disabled meanwhile. */
async function exclusive<T>(what: NonNullable<typeof busy>, fn: () => Promise<T>): Promise<T> {
  if (busy) throw new Error(`busy ${busy}; try again when it is done`);
  busy = what;
  stopRequested = false;
  ui.error.hidden = true;
  refresh();
  try {
    return await fn();
  } finally {
    busy = null;
    refresh();
  }
}

/** Wraps a button handler: errors go to the page. */
const action = (fn: () => Promise<unknown>) => () => void fn().catch(showError);

// ---- WebGPU -----------------------------------------------------------------------------------
async function startGpu(): Promise<DeviceInfo> {
  if (!window.isSecureContext) {
    throw new Error('WebGPU needs a secure context: open this page at http://127.0.0.1 / http://localhost (as `gpt serve` prints) or over https.');
  }
  if (!('gpu' in navigator) || !navigator.gpu) {
    throw new Error(
      'This browser has no WebGPU (navigator.gpu is undefined). Use a recent Chrome or Edge (113+), Safari 26+ or ' +
        'Firefox 141+ (Windows); on Linux start Chromium with --enable-unsafe-webgpu (add --enable-features=Vulkan for a GPU).',
    );
  }
  try {
    await initDevice();
  } catch (e) {
    throw new Error(
      `WebGPU is there but gave no usable adapter: ${(e as Error).message.replace(/ Run `npx gpt doctor`.*$/, '')} ` +
        'Check chrome://gpu, enable hardware acceleration, or start Chromium with --enable-unsafe-webgpu ' +
        '(software rendering: --use-webgpu-adapter=swiftshader).',
    );
  }
  return device().info;
}

/**
 * The device is gone (a driver reset, the GPU process crashing) and what it held with it: nothing
 * can run or be saved. The adapter line says so and to reload, once: an error shown before it
 * came of the loss (a readback Chromium rejected before device.lost said why) or no longer matters.
 */
function gpuLost(e: DeviceLostError): void {
  gpuReady = false;
  ui.adapter.className = 'status bad';
  ui.adapter.textContent = `${e.summary}: what it held is gone; reload the page to start again (what was saved is kept)`;
  ui.error.hidden = true;
  refresh(); // every button that needs the GPU off, and no asking before leaving
}

function describeAdapter(info: DeviceInfo): string {
  const name = info.description || [info.vendor, info.architecture].filter(Boolean).join(' ') || 'unknown adapter';
  const key = ['shader-f16', 'timestamp-query', 'subgroups'].map((f) => `${f} ${info.features.includes(f) ? 'yes' : 'no'}`);
  const maxBuf = (info.limits.maxStorageBufferBindingSize! / 2 ** 20).toFixed(0);
  // a CPU adapter's buffers are in the host's memory: what bounds the models it takes (a GPU's bound says nothing)
  const { bytes, what } = device().memoryBound;
  const memory = info.isFallbackAdapter ? ` · weights up to ${formatBytes(bytes)}, ${what}` : '';
  return `WebGPU adapter: ${name}${info.isFallbackAdapter ? ' (software fallback)' : ''} · ${key.join(', ')} · max storage binding ${maxBuf} MiB${memory}`;
}

// ---- model ------------------------------------------------------------------------------------
function showModel(s: ModelSummary, note = ''): void {
  const c = s.config;
  const k = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : String(n));
  const adapters = c.lora ? ` · LoRA rank ${c.lora.rank} on ${c.lora.targets.join(', ')}` : '';
  ui.modelInfo.className = 'status ok';
  ui.modelInfo.textContent =
    `${s.source}: ${c.nLayer} layers, ${c.nHead} heads, ${c.nEmbd} embd, block ${c.blockSize} · ${k(s.params)} parameters${adapters} · ` +
    `${s.tokenizer} tokenizer (${s.vocabSize} tokens) · step ${s.step}${note ? ` · ${note}` : ''}`;
  ui.loraRow.hidden = !s.loaded; // LoRA fine-tunes a loaded model, not one New model made
}

/** Loads the checkpoint `file` reads (a tensor at a time) in place of the page's model; `signal` cancels it. */
async function loadCheckpoint(file: ByteSource, source: string, signal?: AbortSignal): Promise<ModelSummary> {
  return shown(await showingProgress(source, [file], ([counted]) => session.load(counted!, source, signal)), file.size);
}

/**
 * `load` of `files` (a model's weights files: one, or its shards), each read shown on the model
 * line as it comes, as bytes read of all the files' (a large or slow load, such as a server's
 * 500 MB over a slow link, shows how far it got, not a page that looks stuck); a failed load puts
 * the line back as it was.
 */
function showingProgress<T>(name: string, files: ByteSource[], load: (counted: ByteSource[]) => Promise<T>): Promise<T> {
  const counted = countingReads(files, (done, total) => showLoading(`loading ${name}: ${formatBytes(done)} of ${formatBytes(total)}…`));
  return restoringModelLine(() => load(counted));
}

const bytesOf = (files: ByteSource[]) => files.reduce((n, f) => n + f.size, 0);

const showLoading = (text: string) => {
  ui.modelInfo.className = 'status';
  ui.modelInfo.textContent = text;
};

/** `work`, the model line put back as it was where it fails (a load's progress shown on it meanwhile). */
async function restoringModelLine<T>(work: () => Promise<T>): Promise<T> {
  const before = ui.modelInfo.cloneNode(true) as HTMLElement;
  try {
    return await work();
  } catch (e) {
    ui.modelInfo.className = before.className;
    ui.modelInfo.replaceChildren(...Array.from(before.childNodes));
    throw e;
  }
}

/** A model just loaded from `bytes` bytes of weights, shown (a run before it is forgotten); `note` goes on its line. */
function shown(s: ModelSummary, bytes: number, note?: string): ModelSummary {
  runStart = null;
  lastEvalStep = -1;
  chart.clear();
  ui.trainStats.textContent = ui.trainPlan.textContent = '';
  // Train goes on with the model's adapters (a LoRA run's checkpoint), or with none
  const lora = s.config.lora;
  ui.loraRank.value = String(lora?.rank ?? 0);
  if (lora) [ui.loraAlpha.value, ui.loraDropout.value, ui.loraTargets.value, ui.loraBias.value] = [String(lora.alpha), String(lora.dropout), lora.targets.join(','), lora.bias ?? 'none'];
  if (s.run) {
    // Train goes on at the rate the run had reached, not the page's default (a decayed run's may be 30x below it)
    if (s.run.learningRate) ui.lr.value = String(Number(s.run.learningRate.toPrecision(4)));
    ui.batchSize.value = String(s.run.batchSize);
  }
  showModel(s, [`${(bytes / 2 ** 20).toFixed(2)} MiB`, s.note, note].filter(Boolean).join(' · '));
  return s;
}

/** Files picked together: one checkpoint, nanoGPT's ckpt.pt with its tokenizer's files, or a Hugging Face GPT-2 model's files, its weights one file or every shard of its index (openPickedModel). */
async function loadFiles(files: File[], signal: AbortSignal): Promise<ModelSummary> {
  const opened = await openPickedModel(files);
  if ('checkpoint' in opened) return loadCheckpoint(opened.checkpoint, opened.name, signal);
  if ('hf' in opened) return loadHF(opened.hf, opened.name, signal);
  const { nanogpt, name } = opened;
  const load = (counted: ByteSource) => session.loadNanoGpt({ ...nanogpt, checkpoint: counted }, name, signal);
  return shown(await showingProgress(name, [nanogpt.checkpoint], ([counted]) => load(counted!)), nanogpt.checkpoint.size);
}

/** A Hugging Face GPT-2 model's files loaded, its weights (one file, or its shards) read a tensor at a time, each read shown; `note` goes on the model line. */
async function loadHF(hf: HFModelSources, source: string, signal: AbortSignal, note?: string): Promise<ModelSummary> {
  const sources = hf.weights.map((w) => w.source);
  const load = (counted: ByteSource[]) => session.loadHF({ ...hf, weights: hf.weights.map((w, i) => ({ ...w, source: counted[i]! })) }, source, signal);
  return shown(await showingProgress(source, sources, load), bytesOf(sources), note);
}

/**
 * The model `value` names on the Hugging Face hub (an id, or its page's URL: hub-source.ts), its
 * small files fetched first (each named on the model line), its weights (one file, or every shard)
 * then read a range per tensor at the commit its revision named; its Cancel button stops it.
 */
const loadFromHub = (value: string): Promise<ModelSummary> =>
  exclusive('loading', () =>
    withCancelButton((signal) =>
      restoringModelLine(async () => {
        const endpoint = hubEndpoint(HUB_PARAM);
        const name = hubModelName(value, endpoint); // a URL's model is named by its id
        const hub = await openHubModel(name, endpoint, { signal, onFile: (file) => showLoading(`loading ${name}: ${file}…`) });
        // a mirror named by the page's URL (a link may carry one) is said: its model is no other's
        const note = `${hub.repo} at commit ${hub.commit.slice(0, 7)}${endpoint === HUB_ENDPOINT ? '' : ` on ${endpoint}`}`;
        return readHubModel(hub, (files) => loadHF(files, name, signal, note), { signal });
      }),
    ),
  );

/** The checkpoint at `url` (gpt serve's), read a range per tensor, started over where it is saved again meanwhile; its Cancel button stops it. */
const loadFromUrl = (url: string): Promise<ModelSummary> =>
  exclusive('loading', () => withCancelButton((signal) => readUrl(url, (source) => loadCheckpoint(source, url.split('/').pop() || url, signal), { signal })));

/**
 * The page's checkpoint as a Blob of one Blob per piece (Session.save's: the head, then a tensor at
 * a time), each made as its piece comes: the browser keeps the bytes (on disk when large), the page
 * holds one tensor's, and no buffer of the whole file is ever made.
 */
async function checkpointBlob(): Promise<Blob> {
  const parts: Blob[] = [];
  for await (const piece of session.save()) parts.push(new Blob([piece as Uint8Array<ArrayBuffer>]));
  return new Blob(parts, { type: 'application/octet-stream' });
}

async function saveDownload(): Promise<void> {
  const blob = await checkpointBlob();
  const step = session.trainer?.step ?? session.summary().step;
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = `gpt-step${step}.safetensors`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

// ---- generation -------------------------------------------------------------------------------
/** Shows a hook call's prompt and sampling options in the controls, as if typed there. */
function showSampling(prompt: string, opts: Parameters<GptHook['generate']>[1]): void {
  ui.prompt.value = prompt;
  ui.maxTokens.value = String(opts.maxNewTokens);
  ui.temperature.value = String(opts.temperature ?? 1);
  ui.topK.value = String(opts.topK ?? 0);
  ui.topP.value = String(opts.topP ?? 1);
  ui.minP.value = String(opts.minP ?? 0);
  ui.repetitionPenalty.value = String(opts.repetitionPenalty ?? 1);
  ui.presencePenalty.value = String(opts.presencePenalty ?? 0);
  ui.frequencyPenalty.value = String(opts.frequencyPenalty ?? 0);
  if (opts.seed !== undefined) ui.seed.value = String(opts.seed);
}

async function runGenerate(prompt: string, opts: Parameters<GptHook['generate']>[1]): Promise<string> {
  ui.output.textContent = '';
  const shownPrompt = document.createElement('span');
  shownPrompt.className = 'prompt';
  shownPrompt.textContent = prompt; // until the prompt is encoded: then what the model continues, as gpt sample shows
  const continuation = document.createTextNode('');
  ui.output.append(shownPrompt, continuation);
  let text = '';
  let tokens = 0;
  ui.genStats.textContent = FIRST_TOKEN; // the last generation's figures, or nothing, until it comes
  const t0 = performance.now();
  for await (const piece of session.generate(prompt, opts)) {
    if (!tokens) shownPrompt.textContent = session.promptText;
    text += piece.text;
    tokens = piece.tokens;
    continuation.data = text;
    ui.output.scrollTop = ui.output.scrollHeight;
    ui.genStats.textContent = `${tokens} tokens · ${((tokens * 1000) / (performance.now() - t0)).toFixed(1)} tokens/s`;
    if (stopRequested) break;
    await yieldToPage();
  }
  const secs = (performance.now() - t0) / 1000;
  const note = session.promptNote ? ` · prompt: ${session.promptNote}` : '';
  ui.genStats.textContent = `${tokens} tokens in ${secs.toFixed(1)} s · ${(tokens / secs).toFixed(1)} tokens/s${stopRequested ? ' (stopped)' : ''}${note}`;
  return text;
}

function samplingFromUi(): Parameters<GptHook['generate']>[1] {
  const topK = num(ui.topK, 'top-k', { int: true, min: 0 });
  const topP = num(ui.topP, 'top-p', { min: 0, max: 1 });
  return {
    maxNewTokens: num(ui.maxTokens, 'tokens', { int: true, min: 1, max: MAX_NEW_TOKENS }),
    temperature: num(ui.temperature, 'temperature', { min: 0 }),
    ...(topK > 0 && { topK }),
    ...(topP < 1 && { topP }),
    minP: num(ui.minP, 'min-p', { min: 0, max: 1 }),
    repetitionPenalty: num(ui.repetitionPenalty, 'repetition penalty', { above: 0 }),
    presencePenalty: num(ui.presencePenalty, 'presence penalty', { min: -2, max: 2 }),
    frequencyPenalty: num(ui.frequencyPenalty, 'frequency penalty', { min: -2, max: 2 }),
    seed: num(ui.seed, 'seed', TRAIN_RANGES.seed),
  };
}

// ---- training ---------------------------------------------------------------------------------
function shapeFromUi(): ModelShape {
  const shape = {
    nLayer: num(ui.nLayer, 'layers', { ...TRAIN_RANGES.nLayer, max: MAX_LAYERS }),
    nHead: num(ui.nHead, 'heads', TRAIN_RANGES.nHead),
    nEmbd: num(ui.nEmbd, 'embd', TRAIN_RANGES.nEmbd),
    blockSize: num(ui.blockSize, 'block', { int: true, min: 2 }),
  };
  const problem = headsProblem(shape, (key) => (key === 'nEmbd' ? 'embd' : 'heads')); // the Trainer would name cfg.nEmbd
  if (problem) throw new Error(`${problem}: change one of them`);
  return shape;
}

const stepsFromUi = () => num(ui.steps, 'steps', { int: true, min: 1 });

/** Settings for the page's runs: a short warmup, then a constant learning rate. */
function settingsFromUi(): TrainSettings {
  const lr = num(ui.lr, 'learning rate', TRAIN_RANGES.learningRate);
  return {
    batchSize: num(ui.batchSize, 'batch', TRAIN_RANGES.batchSize),
    learningRate: lr,
    minLr: lr,
    warmupIters: 10,
    lrDecayIters: 10,
    evalInterval: num(ui.evalInterval, 'eval every', TRAIN_RANGES.evalInterval),
    evalIters: 5,
    recompute: ui.recompute.checked,
  };
}

/**
 * The LoRA fields (rank 0: none, the others unused), refused in one line naming the field; as
 * settings for the model on the page, whose layers bound the rank.
 */
function loraFromUi(): TrainSettings {
  const loraRank = num(ui.loraRank, 'LoRA rank', TRAIN_RANGES.loraRank);
  const { loraAlpha, loraDropout, loraTargets, loraBias } = TRAIN_DEFAULTS;
  if (loraRank === 0) return { loraRank, loraAlpha, loraDropout, loraTargets, loraBias };
  const settings = {
    loraRank,
    loraAlpha: num(ui.loraAlpha, 'LoRA alpha', TRAIN_RANGES.loraAlpha),
    loraDropout: num(ui.loraDropout, 'LoRA dropout', TRAIN_RANGES.loraDropout),
    loraTargets: ui.loraTargets.value.split(',').map((t) => t.trim()).join(','),
    loraBias: ui.loraBias.value as LoRABias, // a select of LORA_BIASES
  };
  const lora = loraOf(settings)!;
  const problem = loraConfigProblem(lora, (key) => `LoRA ${key}`) ?? loraRankProblem(lora, blockLinearShapes(session.model!.config), 'LoRA rank');
  if (problem) throw new Error(problem);
  return settings;
}

/** Settings for training the model on the page: a loaded one's with the LoRA fields. */
const trainSettingsFromUi = (): TrainSettings => ({ ...settingsFromUi(), ...(usableModel() && session.summary().loaded && loraFromUi()) });

/**
 * Trains `steps` steps (or until Stop), drawing each step's loss and evaluating every
 * evalInterval steps. Returns the per-step losses.
 */
async function trainRun(steps: number, text: string, settings: TrainSettings): Promise<number[]> {
  const before = session.summary().step;
  const trainer = session.trainerFor(text, settings);
  if (trainer.step < before) {
    // a new run from step 0 (LoRA settings other than the model's adapters): nothing of the old one to go on to or draw
    runStart = null;
    lastEvalStep = -1;
    chart.clear();
  }
  ui.trainPlan.textContent = describeRun(trainer);
  if (session.textNote) ui.textInfo.textContent = session.textNote;
  else showTextInfo(); // an earlier model's note (characters its tokenizer left out) no longer applies
  const { batchSize, blockSize, gradAccum, evalInterval } = trainer.cfg;
  runStart ??= trainer.step;
  const target = runStart + steps;
  trainer.cfg.maxIters = target;
  const losses: number[] = [];
  let tokensPerSec = 0;
  const show = (extra = '') => {
    ui.trainStats.textContent = `step ${trainer.step}/${target} · loss ${losses.at(-1)?.toFixed(4) ?? '-'} · ` +
      `${tokensPerSec ? Math.round(tokensPerSec).toLocaleString('en-US') : '-'} tokens/s${extra}`;
  };
  const evaluate = async () => {
    if (lastEvalStep === trainer.step) return;
    lastEvalStep = trainer.step;
    show(' · evaluating…');
    const { train, val } = await trainer.evaluate();
    chart.addEval(trainer.step, train, val);
  };
  show();
  while (trainer.step < target && !stopRequested) {
    if (trainer.step % evalInterval === 0) await evaluate();
    // a run's first step waits on its kernels' compiles (half a minute on a software adapter), which 'evaluating…' was left to explain
    show(losses.length ? '' : ` · ${FIRST_STEP}`);
    const t0 = performance.now();
    const loss = await session.trainStep(trainer).catch((e: unknown) => {
      if (session.diverged) {
        runStart = null; // nothing to resume: Train makes a new model (refresh)
        ui.loraRow.hidden = true; // nor a loaded model to fine-tune
        show(' · diverged');
      }
      throw e;
    });
    const rate = (batchSize * blockSize * gradAccum * 1000) / (performance.now() - t0);
    tokensPerSec = tokensPerSec ? 0.8 * tokensPerSec + 0.2 * rate : rate;
    losses.push(loss);
    chart.addStep(trainer.step, loss);
    show();
    showModel(session.summary()); // its step with the run's: the model line said the step the run began at until it ended
    guardUnload();
    await yieldToPage();
  }
  if (trainer.step >= target) {
    runStart = null;
    if (trainer.step % evalInterval === 0) await evaluate();
  }
  show(stopRequested ? ' · stopped' : '');
  showModel(session.summary());
  return losses;
}

function newModel(text: string, shape: ModelShape, settings: TrainSettings): ModelSummary {
  const s = session.newModel(text, shape, settings);
  runStart = null;
  lastEvalStep = -1;
  chart.clear();
  ui.trainPlan.textContent = '';
  showModel(s);
  refresh();
  return s;
}

/** The text's characters and distinct ones, each a code point as the character tokenizer takes them (an emoji is one, not its two UTF-16 units). */
function showTextInfo(): void {
  const distinct = new Set<string>();
  let count = 0;
  for (const ch of ui.text.value) {
    distinct.add(ch);
    count++;
  }
  ui.textInfo.textContent = `${count.toLocaleString('en-US')} characters, ${distinct.size} distinct`;
}

/**
 * Whether the page's server serves a checkpoint next to it. gpt serve says so on its answers (the
 * page's own address asked: always there), so that one without is not asked for it, a 404 the
 * browser's console shows as an error. A server that does not say (another static one) is asked
 * for the checkpoint itself, only a 404 meaning none: one served but failing (damaged since the
 * server started) is loaded, and its error shown.
 */
async function serverHasCheckpoint(): Promise<boolean> {
  const head = (url: string) => fetch(url, { method: 'HEAD', cache: 'no-store' }).catch(() => null);
  const said = (await head(location.pathname))?.headers.get(CHECKPOINT_HEADER);
  if (said === 'yes' || said === 'no') return said === 'yes';
  const answer = await head(CHECKPOINT_URL);
  return answer !== null && answer.status !== 404;
}

// ---- wiring -----------------------------------------------------------------------------------
// each load checks what it can before it asks to replace the model (Session's confirmReplace)
ui.loadUrl.onclick = action(() => loadFromUrl(CHECKPOINT_URL));
ui.loadFile.onchange = action(async () => {
  const files = Array.from(ui.loadFile.files ?? []);
  ui.loadFile.value = '';
  if (files.length) await exclusive('loading', () => withCancelButton((signal) => loadFiles(files, signal)));
});
ui.loadHub.onclick = action(() => loadFromHub(ui.hubId.value.trim()));
ui.hubId.onkeydown = (e) => void (e.key === 'Enter' && !ui.loadHub.disabled && ui.loadHub.click());
ui.cancelLoad.onclick = () => loadInProgress?.abort(new LoadCancelled('load cancelled: the model before it stays'));
ui.save.onclick = action(() => exclusive('saving', saveDownload));
ui.generate.onclick = action(() => exclusive('generating', () => runGenerate(ui.prompt.value, samplingFromUi())));
ui.stopGen.onclick = ui.stopTrain.onclick = () => {
  stopRequested = true;
};
ui.textFile.onchange = action(async () => {
  const file = ui.textFile.files?.[0];
  ui.textFile.value = '';
  if (!file) return;
  ui.text.value = await readUtf8(file);
  showTextInfo();
});
ui.text.oninput = showTextInfo;
// every field is read before anything changes: a bad one must not cost the model on the page
ui.newModel.onclick = action(() =>
  exclusive('training', async () => {
    const [shape, settings, steps] = [shapeFromUi(), settingsFromUi(), stepsFromUi()];
    newModel(ui.text.value, shape, settings); // checks the text and settings, then asks before it replaces a run not saved
    await trainRun(steps, ui.text.value, settings);
  }),
);
ui.train.onclick = action(() =>
  exclusive('training', async () => {
    const [shape, settings, steps] = [usableModel() ? null : shapeFromUi(), trainSettingsFromUi(), stepsFromUi()];
    if (shape) newModel(ui.text.value, shape, settings);
    await trainRun(steps, ui.text.value, settings);
  }),
);

// the fields' bounds as the page checks them (a browser marks a value past them, and refuses none)
ui.nLayer.max = String(MAX_LAYERS);
ui.maxTokens.max = String(MAX_NEW_TOKENS);
ui.text.value = DEFAULT_TEXT;
showTextInfo();
refresh();
chart.requestDraw();

const ready: Promise<ReadyState> = (async (): Promise<ReadyState> => {
  let adapter: DeviceInfo;
  try {
    adapter = await startGpu();
  } catch (e) {
    ui.adapter.className = 'status bad';
    ui.adapter.textContent = (e as Error).message;
    return { ok: false, error: (e as Error).message };
  }
  gpuReady = true;
  ui.adapter.className = 'status ok';
  ui.adapter.textContent = describeAdapter(adapter);
  void device().lost.then(gpuLost);
  let checkpoint: ModelSummary | null = null;
  serverCheckpoint = await serverHasCheckpoint();
  refresh();
  if (serverCheckpoint) checkpoint = await loadFromUrl(CHECKPOINT_URL).catch((e) => (showError(e), null));
  return { ok: true, adapter, checkpoint };
})();

window.__gpt = {
  ready,
  loadCheckpointFromUrl: (url = CHECKPOINT_URL) => loadFromUrl(url),
  loadHubModel: (id) => {
    ui.hubId.value = id;
    return loadFromHub(id);
  },
  loadCheckpointBytes: (bytes) => exclusive('loading', () => loadCheckpoint(bytesSource(Uint8Array.from(bytes)), 'bytes')),
  newModel: (text, shape, settings = settingsFromUi()) => exclusive('training', async () => newModel(text, shape, settings)),
  summary: () => session.summary(),
  logitsFor: (prompt) => exclusive('generating', async () => Array.from(await session.logits(prompt))),
  greedy: (prompt, n) =>
    exclusive('generating', () => {
      showSampling(prompt, { maxNewTokens: n, temperature: 0 });
      return runGenerate(prompt, { maxNewTokens: n, temperature: 0 });
    }),
  generate: (prompt, opts) =>
    exclusive('generating', () => {
      showSampling(prompt, opts);
      return runGenerate(prompt, opts);
    }),
  trainSteps: (n, opts = {}) =>
    exclusive('training', () => {
      if (opts.text !== undefined && opts.text !== ui.text.value) {
        ui.text.value = opts.text;
        showTextInfo();
      }
      runStart = null;
      return trainRun(n, ui.text.value, opts.settings ?? trainSettingsFromUi());
    }),
  evaluate: (opts = {}) =>
    exclusive('training', async () => {
      const trainer = session.trainerFor(opts.text ?? ui.text.value, opts.settings ?? trainSettingsFromUi());
      const losses = await trainer.evaluate();
      chart.addEval(trainer.step, losses.train, losses.val);
      return losses;
    }),
  saveCheckpointBytes: () => exclusive('saving', async () => new Uint8Array(await (await checkpointBlob()).arrayBuffer())),
  memory: () => autotuneSettled().then(() => device().memory()),
  checkOps: (opts = {}) => exclusive('checking', () => runChecks(opts)),
};

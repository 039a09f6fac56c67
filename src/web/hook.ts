// The page's test hook, `window.__gpt`: what an end-to-end test (test/browser.test.ts) drives
// through Playwright. Each call goes through the same code as the page's buttons and updates the
// page, so a screenshot after a test run shows what it did.
import type { CheckRow } from '../check/report.js';
import type { DeviceInfo } from '../device/adapter.js';
import type { MemoryStats } from '../device/device.js';
import type { ModelShape, ModelSummary, TrainSettings } from './session.js';

export type ReadyState = { ok: true; adapter: DeviceInfo; checkpoint: ModelSummary | null } | { ok: false; error: string };

export interface GptHook {
  /** Settles once WebGPU is up and the server's checkpoint (if any) is loaded; never rejects. */
  ready: Promise<ReadyState>;
  loadCheckpointFromUrl(url?: string): Promise<ModelSummary>;
  /** What typing `id` in the Hugging Face model field and pressing Open does. */
  loadHubModel(id: string): Promise<ModelSummary>;
  loadCheckpointBytes(bytes: ArrayLike<number>): Promise<ModelSummary>;
  newModel(text: string, shape: ModelShape, settings?: TrainSettings): Promise<ModelSummary>;
  summary(): ModelSummary;
  /** Logits for the token after `prompt` (dropout off). */
  logitsFor(prompt: string): Promise<number[]>;
  /** The greedy (temperature 0) continuation of `prompt`, n tokens. */
  greedy(prompt: string, n: number): Promise<string>;
  generate(prompt: string, opts: { maxNewTokens: number; temperature?: number; topK?: number; topP?: number; minP?: number; repetitionPenalty?: number; presencePenalty?: number; frequencyPenalty?: number; seed?: number }): Promise<string>;
  /** n optimizer steps on `text` (default: the page's text box); the per-step losses. */
  trainSteps(n: number, opts?: { text?: string; settings?: TrainSettings }): Promise<number[]>;
  /** Mean train/val loss on fixed batches of `text` (default: the page's text box). */
  evaluate(opts?: { text?: string; settings?: TrainSettings }): Promise<{ train: number; val: number }>;
  /** The checkpoint the Save button would download. */
  saveCheckpointBytes(): Promise<Uint8Array>;
  /** The engine's GPU memory accounting (what tensors hold, what its pool keeps) once the autotuner's queued measurements, whose scratch buffers count too, are done. */
  memory(): Promise<MemoryStats>;
  /** `gpt doctor --check` in the page: every op against its float64 reference under every kernel variant this adapter runs. */
  checkOps(opts?: { samples?: number; seed?: number }): Promise<CheckRow[]>;
}

declare global {
  interface Window {
    __gpt: GptHook;
  }
}

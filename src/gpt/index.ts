/// <reference types="@webgpu/types" preserve="true" />
// webgpu-gpt/gpt: the GPT model, its trainer, generation, tokenizers and checkpoints (as bytes; the
// atomic checkpoint directories of `gpt train` are in webgpu-gpt/node).
export { GPT, GPT_CONFIG_DEFAULTS, validateConfig, type GPTConfig, type GPTConfigInput } from './model.js';
export {
  Trainer,
  TrainingDivergedError,
  TRAIN_DEFAULTS,
  TRAIN_DOCS,
  TRAIN_RANGES,
  trainConfigProblem,
  modelConfig,
  DISTILL_DEFAULTS,
  DISTILL_DOCS,
  DISTILL_RANGES,
  type Distillation,
  type DistillSettings,
  type TrainConfig,
  type StepLog,
  type RunHooks,
  type TrainerState,
} from './trainer.js';
export type { TokenSource, TokenSplits } from './batches.js';
export { trainingFlopsPerToken, forwardFlopsPerToken } from './flops.js';
export { generate, generateBatch, LogitsNotFiniteError, type BatchGenerateOptions, type DrawnLogprobs, type GenerateOptions, type LogprobsRequest } from './generate.js';
export { generateBeams, type BeamHypothesis, type BeamSearchOptions } from './beam-search.js';
export { generateSpeculative, type SpeculativeOptions } from './speculative.js';
export { MAX_LOGIT_BIASES, type LogitBias } from './logit-bias.js';
export { quantizeModel } from './quantize.js';
export type { SamplingOptions } from '../ops/index.js';
// the tokenizers and what a user encodes, decodes and saves with; not the CLI's chunking and message helpers
export { CharTokenizer, BpeTokenizer, Gpt2Tokenizer, END_OF_TEXT, gpt2FromVocabFiles, tokenizerFromHuggingFace, toHuggingFaceJSON, tokenizerFromJSON } from './tokenizer/index.js';
export { encodeKnown, encodePrompt, TextStream, type KnownTokens } from './tokenizer/index.js';
export type { Tokenizer, TokenizerJSON, CharTokenizerJSON, BpeTokenizerJSON, Gpt2TokenizerJSON, BpeTrainOptions, MergeProgress } from './tokenizer/index.js';
export {
  encodeCheckpoint,
  decodeCheckpoint,
  modelFromCheckpoint,
  restoreOptimizer,
  CHECKPOINT_FORMAT,
  type Checkpoint,
  type CheckpointMeta,
  type CheckpointExtras,
  type DistillMeta,
} from './checkpoint.js';
export { encodeHF, decodeHF, gptConfigFromHF, hfConfigFromGPT, HF_FILES, type HFModelFiles } from './hf/index.js';
export { attachPeftAdapter, decodePeftAdapter, encodePeftAdapter, peftAdapterProblem, PEFT_FILES, type PeftAdapter, type PeftAdapterFiles } from './hf/peft.js';
export { memoryPlan, checkPlanFits, describePlan, type MemoryPlan } from './memory-plan.js';
export { GPT_LORA_DEFAULTS, LORA_TARGETS, describeTrainable, type LoRAConfig, type LoRATarget } from './lora.js';
export { pruneStructured, STRUCTURES, type Structure, type StructuredPrune } from './prune.js';

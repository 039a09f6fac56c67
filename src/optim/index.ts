/// <reference types="@webgpu/types" preserve="true" />
// webgpu-gpt/optim: AdamW, the warmup + cosine learning-rate schedule, global-norm gradient clipping, dynamic loss scaling.
export { AdamW, type AdamWOptions, type Moment, type MomentShard } from './adamw.js';
export type { AdamWParamGroup, AdamWParamState, AdamWParamStateInput, AdamWStateDict, AdamWStateDictInput } from './adamw-state.js';
export { learningRate, type CosineSchedule } from './schedule.js';
export { clipGradNorm } from './clip.js';
export { GradScaler, type FloorWatch, type GradScalerOptions, type GradScalerState } from './grad-scaler.js';

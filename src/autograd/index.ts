export { backward } from './backward.js';
export { checkpoint, type CheckpointOptions } from './checkpoint.js';
export { enableGrad, isGradEnabled, noGrad } from './mode.js';
export { NOT_DIFFERENTIABLE, type OutputType } from './op.js';

export { backward } from './backward.js';
export { isGradEnabled, noGrad } from './mode.js';
export { NOT_DIFFERENTIABLE, type OutputType } from './op.js';

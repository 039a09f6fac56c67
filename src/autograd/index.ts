export { backward } from './backward.js';
export { isGradEnabled, noGrad } from './mode.js';
export { defineOp, OpContext, type OpDef } from './op.js';
export { gradcheck, type GradcheckOptions, type GradcheckResult } from './gradcheck.js';

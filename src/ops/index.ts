// Every op, one file each (shape rule, forward kernel launch and backward rule together).
// Importing this module also attaches the ops as Tensor methods.
export * from './elementwise.js';
export * from './reduce.js';
export * from './shape.js';
export * from './matmul.js';
export * from './gather.js';
export * from './dropout.js';
export * from './cast.js';
export * from './softmax.js';
export * from './layernorm.js';
export * from './cross-entropy.js';
export * from './attention.js';
export * from './bias-gelu.js';
export * from './finite.js';

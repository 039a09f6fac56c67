// The float64 references of every op and update (and the Philox generator dropout and rand use).
export * from './array.js';
export * from './broadcast.js';
export * from './indexing.js';
export * from './int4.js';
export * from './int8.js';
export * from './math.js';
export * from './matmul.js';
export * from './nn.js';
export * from './optim.js';
export * from './philox.js';
export * from './reduce.js';

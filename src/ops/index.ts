// The ops layer's public face: the Tensor with every op as a method, the op table's functions and
// the creation functions typed for it (api.ts), and gradcheck for ops of your own.
export * from './api.js';
export { gradcheck, type GradcheckInput, type GradcheckOptions, type GradcheckResult } from './gradcheck.js';
// how the LM head's ops split their work on this adapter: the memory plan (src/gpt) counts their buffers
export { chunkRows, windowRows } from './linear-cross-entropy.js';
export { fitsOneLaunch } from './matmul-blocks.js';

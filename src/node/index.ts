/// <reference types="@webgpu/types" preserve="true" />
// webgpu-gpt/node: the Node-only part of the library (files on disk). Kept out of the root entry so
// that a browser bundle of 'webgpu-gpt' never reaches a `node:` module.
export { saveCheckpoint, loadCheckpoint, saveHFModel } from './checkpoint-dir.js';
export { savePeftAdapter, readPeftAdapter } from './peft-adapter-dir.js';
export { saveStateDict, loadStateDict } from './state-dict-file.js';
export { RunLog } from './run-log.js';
export { TokenFile, TokenWriter, tokenDtypeFor, TOKEN_DTYPES, type TokenDtype, type TokenFileSpec } from './token-file.js';

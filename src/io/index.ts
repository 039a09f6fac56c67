/// <reference types="@webgpu/types" preserve="true" />
// webgpu-gpt/io: safetensors, read and written in pure TypeScript (Node and browser alike), and a
// model's state dict as safetensors bytes. Files on disk: webgpu-gpt/node.
export { serializeSafetensors, parseSafetensors, type Safetensors, type SafetensorsTensor, type SafetensorsDtype } from './safetensors.js';
export { stateDictToSafetensors, stateDictFromSafetensors, type StateDictRead, type StateDictSource, type StateDictTensor } from './state-dict.js';

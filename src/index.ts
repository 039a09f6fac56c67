/// <reference types="@webgpu/types" preserve="true" />
// Public API.
export { initDevice, device, DeviceLostError, type Device, type MemoryStats } from './device/device.js';
export type { DeviceInfo, DeviceOptions } from './device/adapter.js';
export { scope, keep } from './tensor/scope.js';
export * from './autograd/index.js';
export * from './ops/index.js';
export * from './nn/index.js';
export * from './optim/index.js';
export * from './io/index.js';
export * from './gpt/index.js';

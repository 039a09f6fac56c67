/// <reference types="@webgpu/types" preserve="true" />
// Public API.
export { initDevice, device, DeviceLostError, type Device, type DeviceInfo, type DeviceOptions, type MemoryStats } from './device/device.js';
export { scope, keep } from './tensor/scope.js';
export * from './autograd/index.js';
export * from './ops/index.js';
export * from './nn/index.js';
export * from './optim/index.js';
export * from './io/index.js';
export * from './gpt/index.js';

// Public API.
export { initDevice, device, type Device, type DeviceInfo, type MemoryStats } from './device/device.js';
export { Tensor, type DType } from './tensor/tensor.js';
export { tensor, full, zeros, ones, zerosLike, onesLike, arange, rand, randn } from './tensor/create.js';
export { scope, keep } from './tensor/scope.js';
export * from './autograd/index.js';
export * from './ops/index.js';

// Autograd's Tensor methods: backward(), detach(), zeroGrad().
import { Tensor } from '../tensor/tensor.js';
import { backward } from './backward.js';

declare module '../tensor/tensor.js' {
  interface Tensor {
    /** Backpropagates from this tensor (a scalar, or pass its gradient). */
    backward(grad?: Tensor): void;
    /** The same data, cut from the graph. */
    detach(): Tensor;
    /** Sets requiresGrad and returns this, for chaining. */
    requiresGrad_(on?: boolean): Tensor;
  }
}

Tensor.prototype.backward = function (grad) { backward(this, grad); };
Tensor.prototype.detach = function () { return this.view(this.shape); };
Tensor.prototype.requiresGrad_ = function (on = true) {
  if (on && this.dtype !== 'float32') throw new Error(`requiresGrad: only float32 tensors can require grad, got ${this.describe()}`);
  this.requiresGrad = on;
  return this;
};

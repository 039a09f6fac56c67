// Dropout as a module: a fresh mask seed per call, drawn from the module's generator, so runs
// reproduce; active only in training mode. Its own file: Linear's LoRA adapter (lora.ts) holds one.
import { checkDropProbability, dropout, type Tensor } from '../ops/index.js';
import type { Generator } from '../tensor/generator.js';
import { describeValue } from '../tensor/check.js';
import { Module } from './module.js';

/** Dropout with a fresh seed per call, drawn from the module's generator (reproducible runs). */
export class Dropout extends Module {
  constructor(readonly p: number, private readonly rng: Generator) {
    super();
    checkDropProbability('Dropout', p); // here, not at the first training forward
    if (typeof rng?.nextSeed !== 'function') throw new TypeError(`Dropout: argument 'rng' must be a Generator, got ${describeValue(rng)}`);
  }

  forward(x: Tensor): Tensor {
    const { p, seed } = this.draw();
    return dropout(x, p, seed); // p 0: identity, gradient passes
  }

  /** Whether a call drops anything now (training, with p > 0). */
  get active(): boolean {
    return this.training && this.p > 0;
  }

  /** This call's drop probability (0 unless training) and mask seed, for an op that drops inside its kernel. */
  draw(): { p: number; seed: number } {
    return this.active ? { p: this.p, seed: this.rng.nextSeed() } : { p: 0, seed: 0 };
  }
}

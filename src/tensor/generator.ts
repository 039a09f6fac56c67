// A small seeded generator for host-side randomness (batch positions, per-call dropout and init
// seeds). Its whole state is one number pair, so checkpoints can save and restore it exactly.
import { checkInteger, describeValue } from './check.js';

/** The draws being watched (checkpoint's forwards, nested): each generator drawn from, with its state before its first draw there. */
const watches: Map<Generator, string>[] = [];

/** Runs the synchronous `fn`; returns its result and every generator it drew from, each at its state before fn's first draw from it. */
export function watchingDraws<R>(fn: () => R): { result: R; drawn: Map<Generator, string> } {
  const drawn = new Map<Generator, string>();
  watches.push(drawn);
  try {
    return { result: fn(), drawn };
  } finally {
    watches.pop();
  }
}

export class Generator {
  private state: bigint;

  /**
   * Seeded `seed + offset`, added exactly: a stream derived from a seed near 2^53 (seed + 1,
   * seed + 2, ...) would otherwise round onto its neighbour's and repeat it.
   */
  constructor(seed: number, offset = 0) {
    // BigInt(1.5) would fail as 'The number 1.5 cannot be converted to a BigInt', naming nothing
    const integer = 'a safe integer (negative ones wrap to 64 bits)';
    checkInteger('Generator', 'seed', seed, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, integer);
    checkInteger('Generator', 'offset', offset, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, integer);
    this.state = BigInt.asUintN(64, BigInt(seed) + BigInt(offset));
  }

  /** splitmix64: the next 64-bit value. */
  private next64(): bigint {
    for (const drawn of watches) if (!drawn.has(this)) drawn.set(this, this.getState());
    this.state = BigInt.asUintN(64, this.state + 0x9e3779b97f4a7c15n);
    let z = this.state;
    z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
    z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
    return z ^ (z >> 31n);
  }

  /** A seed for a GPU random draw (a non-negative safe integer). */
  nextSeed(): number {
    return Number(this.next64() >> 11n);
  }

  /** An integer in [0, n). */
  nextInt(n: number): number {
    // BigInt(1.5) failed as 'The number 1.5 cannot be converted to a BigInt', n = 0 as 'Division by zero'
    checkInteger('Generator.nextInt', 'n', n, 1, Number.MAX_SAFE_INTEGER, 'an integer in [1, 2^53 - 1]');
    return Number(this.next64() % BigInt(n));
  }

  /** Uniform in [0, 1). */
  nextFloat(): number {
    return Number(this.next64() >> 11n) / 2 ** 53;
  }

  getState(): string {
    return this.state.toString();
  }

  /** Restores a state getState() gave: its decimal digits, below 2^64 (a larger number would wrap into another stream). */
  setState(state: string): void {
    const allowed = `Generator.setState: argument 'state' must be a state getState() gave (decimal digits, below 2^64), got ${describeValue(state)}`;
    if (typeof state !== 'string') throw new TypeError(allowed);
    if (!/^\d{1,20}$/.test(state) || BigInt(state) >= 2n ** 64n) throw new RangeError(allowed);
    this.state = BigInt(state);
  }
}

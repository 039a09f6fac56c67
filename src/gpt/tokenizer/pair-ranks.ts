// The merges' ranks by pair, which encoding looks up for every adjacent pair: an open-addressing
// hash table in typed arrays. A Map keyed by a * PAIR_BASE + b keeps each key past 2^31 as a heap
// number, an object per merge (GPT-2's 50,000) for the garbage collector to copy. The hash is
// keyed at random per table: with a fixed one, a vocabulary file can list merges picked to share a
// slot, and linear probing made loading 100k of them take 5 s (200k: 20 s, then 350k tokens encoded
// in 4.6 s, not 0.15 s).
export class PairRanks {
  private readonly firsts: Int32Array; // slot's pair [firsts[s], seconds[s]]; -1: an empty slot
  private readonly seconds: Int32Array;
  private readonly ranks: Int32Array;
  private readonly shift: number; // 32 - log2(slots)
  // multiply-shift's keys: random odd 32-bit numbers (each XORed with a constant, so that a Math.random
  // mocked to return 0 leaves two distinct odd multipliers, not 1 and 1: slot a + b)
  private readonly keyA = ((Math.random() * 2 ** 32) ^ 0x9e3779b1) | 1;
  private readonly keyB = ((Math.random() * 2 ** 32) ^ 0x85ebca6b) | 1;

  /** A table for `capacity` pairs at most. */
  constructor(capacity: number) {
    let bits = 1;
    while (2 ** bits < 2 * capacity) bits++; // at most half full: short probes
    this.shift = 32 - bits;
    this.firsts = new Int32Array(2 ** bits).fill(-1);
    this.seconds = new Int32Array(2 ** bits);
    this.ranks = new Int32Array(2 ** bits);
  }

  // Multiply-shift hashing of the pair (token ids are below 2^31): the top bits of
  // keyA * a + keyB * b mod 2^32 (>>> takes the sum mod 2^32); then the next slots in turn.
  private slot(a: number, b: number): number {
    return (Math.imul(a, this.keyA) + Math.imul(b, this.keyB)) >>> this.shift;
  }

  /** Slots add() has looked at, all calls together (tests: a load probes a slot or two a pair, whatever the pairs). */
  probes = 0;

  /** Gives [a, b] (token ids >= 0) the rank `rank`; false, changing nothing, when it has one already. */
  add(a: number, b: number, rank: number): boolean {
    const mask = this.firsts.length - 1;
    for (let s = this.slot(a, b); ; s = (s + 1) & mask) {
      this.probes++;
      if (this.firsts[s] === -1) {
        this.firsts[s] = a;
        this.seconds[s] = b;
        this.ranks[s] = rank;
        return true;
      }
      if (this.firsts[s] === a && this.seconds[s] === b) return false;
    }
  }

  /** The rank of [a, b], or undefined when no merge joins them. */
  get(a: number, b: number): number | undefined {
    const mask = this.firsts.length - 1;
    for (let s = this.slot(a, b); ; s = (s + 1) & mask) {
      const first = this.firsts[s]!;
      if (first === -1) return undefined;
      if (first === a && this.seconds[s] === b) return this.ranks[s];
    }
  }
}

/**
 * A seeded PRNG (SplitMix64) so "random" allocations are reproducible: the same seed and the same
 * sequence of calls give the same addresses, which keeps podnet's rendered plans deterministic.
 */
import { fnv1a64 } from '@podnet/core';

const MASK64 = (1n << 64n) - 1n;

export type Seed = number | string | bigint;

export class SeededRandom {
  private state: bigint;

  constructor(seed: Seed = 0) {
    this.state = fnv1a64(`podnet-ipam:${String(seed)}`);
  }

  /** The next 64 random bits. */
  next64(): bigint {
    this.state = (this.state + 0x9e3779b97f4a7c15n) & MASK64;
    let z = this.state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
    return z ^ (z >> 31n);
  }

  /** A value in [0, n); `n` must be positive. Modulo bias is below 2^-32 for n < 2^32. */
  below(n: bigint): bigint {
    return n <= 1n ? 0n : this.next64() % n;
  }
}

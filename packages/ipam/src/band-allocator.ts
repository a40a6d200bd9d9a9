/**
 * Offsets [0, size) split into a static band [0, staticSize) and a dynamic band above it, as
 * Kubernetes' ClusterIP (KEP-3070) and NodePort (KEP-3668) allocators do: dynamic allocation scans
 * the upper band from a start point and wraps, and falls back to the lower band only when the upper
 * one is full. Explicit (static) requests may take any free offset.
 */
import { SeededRandom, type Seed } from './prng.js';

export type AllocationStrategy = 'random' | 'sequential';

export interface BandOptions {
  /**
   * `random`: start each scan at a seeded-random offset inside the band (Kubernetes' random scan).
   * `sequential`: start at the bottom of the band (lowest free offset).
   * @default 'random'
   */
  strategy?: AllocationStrategy;
  /** Seed of the PRNG used by the `random` strategy. @default 0 */
  seed?: Seed;
}

/**
 * The static band size: min(max(minimum, size/step), maximum), or 0 when the range is not larger
 * than `minimum` (Kubernetes' calculateRangeOffset).
 */
export function staticBandSize(rangeSize: bigint, minimum: bigint, step: bigint, maximum: bigint): bigint {
  if (rangeSize <= minimum) return 0n;
  const offset = rangeSize / step;
  if (offset < minimum) return minimum;
  return offset > maximum ? maximum : offset;
}

export class BandAllocator {
  private readonly used = new Set<bigint>();
  private usedStatic = 0n;
  private readonly random: SeededRandom | undefined;

  constructor(
    readonly size: bigint,
    readonly staticSize: bigint,
    options: BandOptions = {},
  ) {
    this.random =
      (options.strategy ?? 'random') === 'random' ? new SeededRandom(options.seed ?? 0) : undefined;
  }

  get count(): number {
    return this.used.size;
  }

  has(offset: bigint): boolean {
    return this.used.has(offset);
  }

  /** Marks `offset` used; false when it already was. */
  take(offset: bigint): boolean {
    if (this.used.has(offset)) return false;
    this.used.add(offset);
    if (offset < this.staticSize) this.usedStatic++;
    return true;
  }

  /** Frees `offset`; false when it was not used. */
  release(offset: bigint): boolean {
    if (!this.used.delete(offset)) return false;
    if (offset < this.staticSize) this.usedStatic--;
    return true;
  }

  /** Takes and returns a free offset, upper band first; undefined when both bands are full. */
  next(): bigint | undefined {
    const usedDynamic = BigInt(this.used.size) - this.usedStatic;
    const upper = this.scan(this.staticSize, this.size - this.staticSize, usedDynamic);
    const found = upper ?? this.scan(0n, this.staticSize, this.usedStatic);
    if (found !== undefined) this.take(found);
    return found;
  }

  offsets(): bigint[] {
    return [...this.used].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  // At most used+1 probes: every probe that is not free hits a distinct used offset.
  private scan(base: bigint, length: bigint, used: bigint): bigint | undefined {
    if (length <= 0n || used >= length) return undefined;
    const start = this.random ? this.random.below(length) : 0n;
    for (let i = 0n; i < length; i++) {
      const at = base + ((start + i) % length);
      if (!this.used.has(at)) return at;
    }
    return undefined;
  }
}

/**
 * NodePort allocation as kube-apiserver does it (pkg/registry/core/service/portallocator): the low
 * end of the range is a static band of min(max(16, size/32), 128) ports (KEP-3668) that dynamic
 * allocation uses only once the upper band is full.
 */
import { InvalidArgumentError, PodnetError } from '@podnet/core';
import { integerArg, ipamConflict } from './args.js';
import { BandAllocator, type BandOptions, staticBandSize } from './band-allocator.js';

export interface PortAllocatorOptions extends BandOptions {
  /** First port of the range (kube-apiserver --service-node-port-range). @default 30000 */
  min?: number;
  /** Last port of the range, inclusive. @default 32767 */
  max?: number;
}

export class PortAllocator {
  readonly min: number;
  readonly max: number;
  /** The static band (low end), or undefined when the range is too small to have one. */
  readonly staticBand: { first: number; last: number; size: number } | undefined;
  private readonly bands: BandAllocator;

  constructor(options: PortAllocatorOptions = {}) {
    this.min = integerArg('min', options.min ?? 30000, 1, 65535);
    this.max = integerArg('max', options.max ?? 32767, 1, 65535);
    if (this.max < this.min)
      throw new InvalidArgumentError('max', `port range ${this.min}-${this.max} is empty`);
    const size = BigInt(this.max - this.min + 1);
    const staticSize = staticBandSize(size, 16n, 32n, 128n);
    this.bands = new BandAllocator(size, staticSize, options);
    const n = Number(staticSize);
    this.staticBand = n === 0 ? undefined : { first: this.min, last: this.min + n - 1, size: n };
  }

  /** The range as kube-apiserver prints it: `30000-32767`. */
  get range(): string {
    return `${this.min}-${this.max}`;
  }

  /** Allocates `specific` (spec.ports[].nodePort set) or the next free port, upper band first. */
  allocate(specific?: number): number {
    if (specific !== undefined) {
      if (!this.contains(specific)) {
        throw ipamConflict(
          `provided port (${String(specific)}) is not in the valid range. The range of valid ports is ${this.range}`,
        );
      }
      if (!this.bands.take(BigInt(specific - this.min)))
        throw ipamConflict(`${specific}: provided port is already allocated`);
      return specific;
    }
    const offset = this.bands.next();
    if (offset === undefined) {
      throw new PodnetError(
        'PODNET_IPAM_EXHAUSTED',
        `failed to allocate a nodePort from ${this.range}: range is full`,
        {
          retryable: true,
        },
      );
    }
    return this.min + Number(offset);
  }

  /** Frees `port`; releasing a free or out-of-range port is a no-op. Returns whether it was allocated. */
  release(port: number): boolean {
    return this.contains(port) && this.bands.release(BigInt(port - this.min));
  }

  isAllocated(port: number): boolean {
    return this.contains(port) && this.bands.has(BigInt(port - this.min));
  }

  contains(port: number): boolean {
    return Number.isInteger(port) && port >= this.min && port <= this.max;
  }

  inStaticBand(port: number): boolean {
    return this.staticBand !== undefined && this.contains(port) && port <= this.staticBand.last;
  }

  get used(): number {
    return this.bands.count;
  }

  allocated(): number[] {
    return this.bands.offsets().map((o) => this.min + Number(o));
  }
}

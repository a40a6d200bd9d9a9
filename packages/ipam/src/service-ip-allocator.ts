/**
 * Service ClusterIP allocation as kube-apiserver does it (pkg/registry/core/service/ipallocator):
 * the network address is never handed out, nor the IPv4 broadcast address; the low end of the range
 * is a static band of min(max(16, size/16), 256) addresses (KEP-3070) that dynamic allocation uses
 * only once the upper band is full, so Services with a fixed spec.clusterIP rarely collide.
 */
import {
  type Cidr,
  InvalidArgumentError,
  IpamExhaustedError,
  type IpFamily,
  bigIntToIp,
  cidrSize,
} from '@podnet/core';
import { cidrArg, ipArg, ipamConflict } from './args.js';
import { BandAllocator, type BandOptions, staticBandSize } from './band-allocator.js';

export interface ServiceIpAllocatorOptions extends BandOptions {}

export class ServiceIpAllocator {
  /** The service CIDR, canonical. */
  readonly cidr: string;
  readonly family: IpFamily;
  /** First and last allocatable addresses. */
  readonly first: string;
  readonly last: string;
  /** The static band (low end), or undefined when the range is too small to have one. */
  readonly staticBand: { first: string; last: string; size: number } | undefined;
  private readonly range: Cidr;
  private readonly base: bigint;
  private readonly bands: BandAllocator;

  constructor(serviceCIDR: string, options: ServiceIpAllocatorOptions = {}) {
    this.range = cidrArg('serviceCIDR', serviceCIDR);
    this.family = this.range.family;
    this.cidr = this.range.text;
    if (this.family === 6 && this.range.prefix < 64) {
      throw new InvalidArgumentError(
        'serviceCIDR',
        `shortest allowed prefix length for an IPv6 service CIDR is 64, got ${this.cidr}`,
      );
    }
    const total = cidrSize(this.range);
    const usable = total - (this.family === 4 ? 2n : 1n);
    if (usable < 1n) throw new InvalidArgumentError('serviceCIDR', `${this.cidr} has no allocatable address`);
    this.base = this.range.network + 1n;
    // Kubernetes computes the band from the CIDR size, capped at MaxInt64 for huge IPv6 ranges.
    const cap = (1n << 63n) - 1n;
    const staticSize = staticBandSize(total > cap ? cap : total, 16n, 16n, 256n);
    this.bands = new BandAllocator(usable, staticSize, options);
    this.first = this.ip(0n);
    this.last = this.ip(usable - 1n);
    this.staticBand =
      staticSize === 0n
        ? undefined
        : { first: this.first, last: this.ip(staticSize - 1n), size: Number(staticSize) };
  }

  /**
   * Allocates `specific` (a Service with spec.clusterIP set) or the next free address: a free one
   * from the upper (dynamic) band, else from the static band.
   */
  allocate(specific?: string): string {
    if (specific !== undefined) {
      const offset = this.offsetOf(specific, true);
      if (!this.bands.take(offset))
        throw ipamConflict(`${this.ip(offset)}: provided IP is already allocated`);
      return this.ip(offset);
    }
    const offset = this.bands.next();
    if (offset === undefined) {
      throw new IpamExhaustedError(
        this.cidr,
        this.family,
        `failed to allocate a serviceIP from ${this.cidr}: range is full`,
      );
    }
    return this.ip(offset);
  }

  /** Frees `ip`; releasing a free or out-of-range address is a no-op. Returns whether it was allocated. */
  release(ip: string): boolean {
    const offset = this.offsetOf(ip, false);
    return offset >= 0n && this.bands.release(offset);
  }

  isAllocated(ip: string): boolean {
    const offset = this.offsetOf(ip, false);
    return offset >= 0n && this.bands.has(offset);
  }

  /** True when `ip` is allocatable in this range (not the network or IPv4 broadcast address). */
  contains(ip: string): boolean {
    return this.offsetOf(ip, false) >= 0n;
  }

  /** True when `ip` lies in the static band. */
  inStaticBand(ip: string): boolean {
    const offset = this.offsetOf(ip, false);
    return offset >= 0n && offset < this.bands.staticSize;
  }

  get used(): number {
    return this.bands.count;
  }

  get free(): bigint {
    return this.bands.size - BigInt(this.bands.count);
  }

  /** Allocated addresses in address order. */
  allocated(): string[] {
    return this.bands.offsets().map((o) => this.ip(o));
  }

  private ip(offset: bigint): string {
    return bigIntToIp(this.base + offset, this.family);
  }

  private offsetOf(text: string, strict: boolean): bigint {
    const ip = ipArg('clusterIP', text);
    const offset = ip.family === this.family ? ip.value - this.base : -1n;
    if (offset >= 0n && offset < this.bands.size) return offset;
    if (!strict) return -1n;
    throw ipamConflict(
      `the provided IP (${ip.text}) is not in the valid range. The range of valid IPs is ${this.cidr}`,
    );
  }
}

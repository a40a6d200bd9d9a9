/**
 * Node podCIDR allocation as kube-controller-manager's RangeAllocator does it (nodeipam cidrset):
 * each cluster CIDR is split into subnets of the node mask size; existing node podCIDRs are
 * occupied first, then each new node gets the next free subnet of every cluster CIDR (one per
 * family when dual-stack), scanning from just after the last one handed out and wrapping.
 */
import {
  type Cidr,
  InvalidArgumentError,
  IpamExhaustedError,
  cidrsOverlap,
  hostPrefix,
  subnetAt,
} from '@podnet/core';
import { cidrArg, integerArg, ipamConflict } from './args.js';

export interface NodeCidrAllocatorOptions {
  /** Node subnet prefix length for an IPv4 cluster CIDR (--node-cidr-mask-size-ipv4). @default 24 */
  maskSizeV4?: number;
  /** Node subnet prefix length for an IPv6 cluster CIDR (--node-cidr-mask-size-ipv6). @default 64 */
  maskSizeV6?: number;
  /** Service CIDRs; the parts that overlap a cluster CIDR are occupied up front, as kube-controller-manager does. @default [] */
  serviceCIDRs?: readonly string[];
}

// kube-controller-manager keeps an uncompressed bitmap, so an IPv6 node mask may be at most 16 bits longer.
const MAX_IPV6_DIFF = 16;

class CidrSet {
  readonly max: number;
  private readonly used = new Set<number>();
  private nextCandidate = 0;

  constructor(
    readonly cluster: Cidr,
    readonly mask: number,
  ) {
    this.max = 2 ** (mask - cluster.prefix);
  }

  get count(): number {
    return this.used.size;
  }

  allocateNext(): Cidr | undefined {
    if (this.used.size >= this.max) return undefined;
    let candidate = this.nextCandidate;
    while (this.used.has(candidate)) candidate = (candidate + 1) % this.max;
    this.nextCandidate = (candidate + 1) % this.max;
    this.used.add(candidate);
    return subnetAt(this.cluster, this.mask, candidate);
  }

  /** Occupy (true) or release (false) every node subnet `cidr` touches. */
  mark(cidr: Cidr, occupied: boolean): void {
    const [begin, end] = this.indices(cidr);
    for (let i = begin; i <= end; i++) {
      if (occupied) this.used.add(i);
      else this.used.delete(i);
    }
  }

  has(cidr: Cidr): boolean {
    const [begin, end] = this.indices(cidr);
    for (let i = begin; i <= end; i++) if (!this.used.has(i)) return false;
    return true;
  }

  allocated(): string[] {
    return [...this.used].sort((a, b) => a - b).map((i) => subnetAt(this.cluster, this.mask, i).text);
  }

  private indices(cidr: Cidr): [number, number] {
    if (cidr.prefix <= this.cluster.prefix) return [0, this.max - 1];
    const shift = BigInt(hostPrefix(cidr.family) - this.mask);
    const last = cidr.network + (1n << BigInt(hostPrefix(cidr.family) - cidr.prefix)) - 1n;
    const begin = Number((cidr.network - this.cluster.network) >> shift);
    const end = Number((last - this.cluster.network) >> shift);
    return [begin, end];
  }
}

export class NodeCidrAllocator {
  /** Cluster CIDRs in the order allocate() returns subnets. */
  readonly clusterCIDRs: readonly string[];
  private readonly sets: CidrSet[];

  constructor(clusterCIDRs: string | readonly string[], options: NodeCidrAllocatorOptions = {}) {
    const list = typeof clusterCIDRs === 'string' ? [clusterCIDRs] : [...clusterCIDRs];
    if (list.length === 0 || list.length > 2) {
      throw new InvalidArgumentError(
        'clusterCIDRs',
        `expected one CIDR or two (dual-stack), got ${list.length}`,
      );
    }
    const cidrs = list.map((c, i) => cidrArg(`clusterCIDRs[${i}]`, c));
    if (cidrs.length === 2 && cidrs[0].family === cidrs[1].family) {
      throw new InvalidArgumentError(
        'clusterCIDRs',
        'two cluster CIDRs must be one IPv4 and one IPv6 (dual-stack)',
      );
    }
    const v4 = integerArg('maskSizeV4', options.maskSizeV4 ?? 24, 0, 32);
    const v6 = integerArg('maskSizeV6', options.maskSizeV6 ?? 64, 0, 128);
    this.sets = cidrs.map((c) => {
      const mask = c.family === 4 ? v4 : v6;
      const name = c.family === 4 ? 'maskSizeV4' : 'maskSizeV6';
      if (mask < c.prefix) {
        throw new InvalidArgumentError(name, `node mask /${mask} is shorter than the cluster CIDR ${c.text}`);
      }
      if (c.family === 6 && mask - c.prefix > MAX_IPV6_DIFF) {
        throw new InvalidArgumentError(
          name,
          `node mask /${mask} is more than ${MAX_IPV6_DIFF} bits longer than the cluster CIDR ${c.text}`,
        );
      }
      return new CidrSet(c, mask);
    });
    this.clusterCIDRs = cidrs.map((c) => c.text);
    (options.serviceCIDRs ?? []).forEach((text, i) => {
      const svc = cidrArg(`serviceCIDRs[${i}]`, text);
      for (const set of this.sets) if (cidrsOverlap(set.cluster, svc)) set.mark(svc, true);
    });
  }

  /** Marks an existing podCIDR (or any CIDR inside a cluster CIDR) as used. Idempotent. */
  occupy(cidr: string): void {
    const c = cidrArg('podCIDR', cidr);
    this.setFor(c).mark(c, true);
  }

  /**
   * The next free subnet of every cluster CIDR (one per family when dual-stack), in the order of
   * `clusterCIDRs`. When one family is exhausted nothing is taken from the other.
   */
  allocate(): string[] {
    const out: Cidr[] = [];
    for (const set of this.sets) {
      const next = set.allocateNext();
      if (!next) {
        for (const taken of out) this.setFor(taken).mark(taken, false);
        throw new IpamExhaustedError(
          set.cluster.text,
          set.cluster.family,
          `CIDR allocation failed; there are no remaining CIDRs left to allocate in the accepted range ${set.cluster.text}`,
        );
      }
      out.push(next);
    }
    return out.map((c) => c.text);
  }

  /** Frees a podCIDR so a later node can get it. Releasing a free subnet is a no-op. */
  release(cidr: string): void {
    const c = cidrArg('podCIDR', cidr);
    this.setFor(c).mark(c, false);
  }

  isAllocated(cidr: string): boolean {
    const c = cidrArg('podCIDR', cidr);
    return this.setFor(c).has(c);
  }

  /** Used node subnets per cluster CIDR, in address order. */
  allocated(): string[][] {
    return this.sets.map((s) => s.allocated());
  }

  /** How many node subnets each cluster CIDR holds, and how many are used. */
  capacity(): { cidr: string; total: number; used: number }[] {
    return this.sets.map((s) => ({ cidr: s.cluster.text, total: s.max, used: s.count }));
  }

  private setFor(c: Cidr): CidrSet {
    const set = this.sets.find((s) => s.cluster.family === c.family && cidrsOverlap(s.cluster, c));
    if (!set) {
      throw ipamConflict(`${c.text} is out of the range of cluster CIDRs ${this.clusterCIDRs.join(',')}`);
    }
    return set;
  }
}

import {
  InvalidArgumentError,
  IpamExhaustedError,
  cidrContains,
  cidrsOverlap,
  parseCidr,
} from '@podnet/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NodeCidrAllocator } from './node-cidr-allocator.js';

describe('NodeCidrAllocator', () => {
  it('splits the cluster CIDR into node subnets, dual-stack gives one per family', () => {
    const a = new NodeCidrAllocator(['10.244.0.0/16', 'fd00:10:244::/56'], {
      maskSizeV4: 24,
      maskSizeV6: 64,
    });
    expect(a.allocate()).toEqual(['10.244.0.0/24', 'fd00:10:244::/64']);
    expect(a.allocate()).toEqual(['10.244.1.0/24', 'fd00:10:244:1::/64']);
    expect(a.capacity()).toEqual([
      { cidr: '10.244.0.0/16', total: 256, used: 2 },
      { cidr: 'fd00:10:244::/56', total: 256, used: 2 },
    ]);
  });

  it('occupies existing podCIDRs first and continues after the last one handed out', () => {
    const a = new NodeCidrAllocator('10.244.0.0/16');
    a.occupy('10.244.0.0/24');
    a.occupy('10.244.2.0/24');
    expect(a.allocate()).toEqual(['10.244.1.0/24']);
    expect(a.allocate()).toEqual(['10.244.3.0/24']);
    a.release('10.244.1.0/24');
    // kube-controller-manager's nextCandidate rotates: the freed subnet is not reused at once.
    expect(a.allocate()).toEqual(['10.244.4.0/24']);
    expect(a.isAllocated('10.244.1.0/24')).toBe(false);
    expect(a.allocated()).toEqual([['10.244.0.0/24', '10.244.2.0/24', '10.244.3.0/24', '10.244.4.0/24']]);
  });

  it('reuses released subnets after wrapping, and reports exhaustion as retryable', () => {
    const a = new NodeCidrAllocator('10.0.0.0/22', { maskSizeV4: 24 });
    expect([a.allocate(), a.allocate(), a.allocate(), a.allocate()].flat()).toEqual([
      '10.0.0.0/24',
      '10.0.1.0/24',
      '10.0.2.0/24',
      '10.0.3.0/24',
    ]);
    let err: unknown;
    try {
      a.allocate();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(IpamExhaustedError);
    expect((err as IpamExhaustedError).retryable).toBe(true);
    expect((err as Error).message).toContain('no remaining CIDRs left to allocate');
    a.release('10.0.1.0/24');
    expect(a.allocate()).toEqual(['10.0.1.0/24']);
  });

  it('takes nothing from one family when the other is exhausted', () => {
    const a = new NodeCidrAllocator(['10.0.0.0/23', 'fd00::/64'], { maskSizeV4: 24, maskSizeV6: 65 });
    a.allocate();
    a.allocate();
    a.release('10.0.0.0/24');
    expect(() => a.allocate()).toThrow(IpamExhaustedError);
    expect(a.capacity()[0].used).toBe(1);
  });

  it('occupies the parts of service CIDRs that overlap the cluster CIDR, and whole blocks for wider CIDRs', () => {
    const a = new NodeCidrAllocator('10.0.0.0/16', { serviceCIDRs: ['10.0.0.0/23', '192.168.0.0/16'] });
    expect(a.allocate()).toEqual(['10.0.2.0/24']);
    a.occupy('10.0.5.128/25');
    expect(a.isAllocated('10.0.5.0/24')).toBe(true);
    a.occupy('10.0.8.0/22');
    expect(a.capacity()[0].used).toBe(2 + 1 + 1 + 4);
  });

  it('refuses bad input with the argument named', () => {
    expect(() => new NodeCidrAllocator([])).toThrow(/clusterCIDRs: expected one CIDR or two/);
    expect(() => new NodeCidrAllocator(['10.0.0.0/8', '11.0.0.0/8'])).toThrow(/one IPv4 and one IPv6/);
    expect(() => new NodeCidrAllocator('10.0.0.0/16', { maskSizeV4: 8 })).toThrow(
      /maskSizeV4: node mask \/8 is shorter/,
    );
    expect(() => new NodeCidrAllocator('fd00::/32', { maskSizeV6: 64 })).toThrow(/more than 16 bits longer/);
    expect(() => new NodeCidrAllocator('bogus')).toThrow(/clusterCIDRs\[0\]: invalid CIDR/);
    expect(() => new NodeCidrAllocator('10.0.0.0/16', { maskSizeV4: 33 })).toThrow(InvalidArgumentError);
    const a = new NodeCidrAllocator('10.0.0.0/16');
    expect(() => a.occupy('10.1.0.0/24')).toThrow(/10.1.0.0\/24 is out of the range of cluster CIDRs/);
    expect(() => a.release('fd00::/64')).toThrow(/out of the range of cluster CIDRs 10.0.0.0\/16/);
  });

  it('property: allocated subnets never overlap each other or occupied ones, and stay inside the cluster CIDR', () => {
    type Op =
      | { kind: 'alloc' }
      | { kind: 'release'; pick: number }
      | { kind: 'occupy'; index: number; extra: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 5, arbitrary: fc.constant({ kind: 'alloc' as const }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }) },
      {
        weight: 1,
        arbitrary: fc.record({ kind: fc.constant('occupy' as const), index: fc.nat(63), extra: fc.nat(2) }),
      },
    );
    fc.assert(
      fc.property(fc.integer({ min: 24, max: 26 }), fc.array(op, { maxLength: 120 }), (mask, ops) => {
        const cluster = '10.8.0.0/22';
        const a = new NodeCidrAllocator([cluster, 'fd00:8::/60'], {
          maskSizeV4: mask,
          maskSizeV6: mask + 40,
        });
        const total = 2 ** (mask - 22);
        const held: string[][] = [];
        for (const o of ops) {
          if (o.kind === 'alloc') {
            const used = a.capacity()[0].used;
            if (used === total || a.capacity()[1].used === total) {
              expect(() => a.allocate()).toThrow(IpamExhaustedError);
              continue;
            }
            const before = new Set(a.allocated()[0]);
            const got = a.allocate();
            // Never a subnet that was already used (allocated or occupied).
            expect(before.has(got[0])).toBe(false);
            expect(got).toHaveLength(2);
            expect(cidrContains(cluster, got[0].split('/')[0])).toBe(true);
            expect(parseCidr(got[0]).prefix).toBe(mask);
            for (const h of held) {
              expect(cidrsOverlap(h[0], got[0])).toBe(false);
              expect(cidrsOverlap(h[1], got[1])).toBe(false);
            }
            held.push(got);
          } else if (o.kind === 'release' && held.length > 0) {
            const [v4, v6] = held.splice(o.pick % held.length, 1)[0];
            a.release(v4);
            a.release(v6);
            expect(a.isAllocated(v4)).toBe(false);
          } else if (o.kind === 'occupy') {
            const subnet = `10.8.${o.index >> 4}.${(o.index & 15) * 16}/${28 - o.extra}`;
            a.occupy(subnet);
            expect(a.isAllocated(subnet)).toBe(true);
          }
        }
        expect(a.capacity()[1].used).toBe(held.length);
      }),
      { numRuns: 200 },
    );
  });
});

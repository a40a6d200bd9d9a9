import { InvalidArgumentError, IpamExhaustedError, PodnetError, compareIps, ipToBigInt } from '@podnet/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ServiceIpAllocator } from './service-ip-allocator.js';

describe('ServiceIpAllocator', () => {
  it.each([
    // [cidr, static band first, last, size] — min(max(16, size/16), 256) at the low end (KEP-3070).
    ['10.96.0.0/12', '10.96.0.1', '10.96.1.0', 256],
    ['10.96.0.0/24', '10.96.0.1', '10.96.0.16', 16],
    ['10.96.0.0/20', '10.96.0.1', '10.96.1.0', 256],
    ['10.96.0.0/21', '10.96.0.1', '10.96.0.128', 128],
    ['10.96.0.0/27', '10.96.0.1', '10.96.0.16', 16],
    ['fd00:10:96::/112', 'fd00:10:96::1', 'fd00:10:96::100', 256],
    ['fd00::/64', 'fd00::1', 'fd00::100', 256],
  ])('%s has the static band %s-%s', (cidr, first, last, size) => {
    expect(new ServiceIpAllocator(cidr).staticBand).toEqual({ first, last, size });
  });

  it('has no static band for a range of 16 addresses or fewer', () => {
    const a = new ServiceIpAllocator('10.96.0.0/28');
    expect(a.staticBand).toBeUndefined();
    expect([a.first, a.last]).toEqual(['10.96.0.1', '10.96.0.14']);
    const all = Array.from({ length: 14 }, () => a.allocate());
    expect(new Set(all).size).toBe(14);
    expect(() => a.allocate()).toThrow(IpamExhaustedError);
  });

  it('excludes the network address, and the broadcast for IPv4 only', () => {
    const v4 = new ServiceIpAllocator('10.0.0.0/30');
    expect([v4.first, v4.last]).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(v4.contains('10.0.0.0')).toBe(false);
    expect(v4.contains('10.0.0.3')).toBe(false);
    const v6 = new ServiceIpAllocator('fd00::/126');
    expect([v6.first, v6.last]).toEqual(['fd00::1', 'fd00::3']);
    expect(() => v4.allocate('10.0.0.3')).toThrow(
      /not in the valid range. The range of valid IPs is 10.0.0.0\/30/,
    );
  });

  it('allocates a specific IP (spec.clusterIP) once, in either band', () => {
    const a = new ServiceIpAllocator('10.96.0.0/12');
    expect(a.allocate('10.96.0.10')).toBe('10.96.0.10');
    expect(a.inStaticBand('10.96.0.10')).toBe(true);
    expect(a.isAllocated('10.96.0.10')).toBe(true);
    let err: unknown;
    try {
      a.allocate('10.96.0.10');
    } catch (e) {
      err = e;
    }
    expect(PodnetError.is(err) && err.code).toBe('PODNET_IPAM_CONFLICT');
    expect(a.allocate('10.100.0.1')).toBe('10.100.0.1');
    expect(a.release('10.96.0.10')).toBe(true);
    expect(a.release('10.96.0.10')).toBe(false);
    expect(a.release('192.168.0.1')).toBe(false);
    expect(a.allocate('10.96.0.10')).toBe('10.96.0.10');
    for (const outside of ['192.168.0.1', 'fd00::1', '10.111.255.255']) {
      let e: unknown;
      try {
        a.allocate(outside);
      } catch (x) {
        e = x;
      }
      expect(PodnetError.is(e) && e.code).toBe('PODNET_IPAM_CONFLICT');
    }
    expect(() => a.allocate('not-an-ip')).toThrow(/clusterIP: invalid IP address/);
    expect(() => a.allocate('not-an-ip')).toThrow(InvalidArgumentError);
  });

  it('is deterministic for a seed, differs across seeds, and sequential mode counts up from the dynamic band', () => {
    const run = (seed: number) => {
      const a = new ServiceIpAllocator('10.96.0.0/12', { seed });
      return Array.from({ length: 20 }, () => a.allocate());
    };
    expect(run(1)).toEqual(run(1));
    expect(run(1)).not.toEqual(run(2));
    const seq = new ServiceIpAllocator('10.96.0.0/24', { strategy: 'sequential' });
    expect([seq.allocate(), seq.allocate(), seq.allocate()]).toEqual([
      '10.96.0.17',
      '10.96.0.18',
      '10.96.0.19',
    ]);
  });

  it('refuses bad ranges with the argument named', () => {
    expect(() => new ServiceIpAllocator('fd00::/48')).toThrow(
      /shortest allowed prefix length for an IPv6 service CIDR is 64/,
    );
    expect(() => new ServiceIpAllocator('10.0.0.0/32')).toThrow(
      /serviceCIDR: 10.0.0.0\/32 has no allocatable address/,
    );
    expect(() => new ServiceIpAllocator('10.0.0.0')).toThrow(/serviceCIDR: invalid CIDR/);
  });

  it('property: dynamic allocation stays in the upper band until it is full, never repeats, never leaves the range', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('10.96.0.0/26', '10.96.0.0/27', '10.0.0.0/28', 'fd00::/122'),
        fc.integer(),
        fc.constantFrom('random' as const, 'sequential' as const),
        fc.array(fc.oneof(fc.constant(-1), fc.nat(70)), { maxLength: 120 }),
        (cidr, seed, strategy, ops) => {
          const a = new ServiceIpAllocator(cidr, { seed, strategy });
          const usable = Number(ipToBigInt(a.last) - ipToBigInt(a.first)) + 1;
          const held = new Set<string>();
          const band = a.staticBand?.size ?? 0;
          for (const o of ops) {
            if (o >= 0) {
              // Release the o-th held address (if any), to exercise reuse.
              const victim = [...held].sort(compareIps)[o % Math.max(1, held.size)];
              if (victim) {
                expect(a.release(victim)).toBe(true);
                held.delete(victim);
              }
              continue;
            }
            const upperUsed = [...held].filter((ip) => !a.inStaticBand(ip)).length;
            if (held.size === usable) {
              expect(() => a.allocate()).toThrow(IpamExhaustedError);
              continue;
            }
            const ip = a.allocate();
            expect(held.has(ip)).toBe(false);
            expect(a.contains(ip)).toBe(true);
            // Upper band first: a static-band address only once the upper band is full.
            expect(a.inStaticBand(ip)).toBe(upperUsed === usable - band);
            held.add(ip);
          }
          expect(a.allocated()).toEqual([...held].sort(compareIps));
        },
      ),
      { numRuns: 200 },
    );
  });
});

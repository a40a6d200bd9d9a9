import { InvalidArgumentError, PodnetError } from '@podnet/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PortAllocator } from './port-allocator.js';

describe('PortAllocator', () => {
  it('defaults to 30000-32767 with a static band of min(max(16, size/32), 128) ports (KEP-3668)', () => {
    const p = new PortAllocator();
    expect(p.range).toBe('30000-32767');
    expect(p.staticBand).toEqual({ first: 30000, last: 30085, size: 86 });
    expect(new PortAllocator({ min: 1, max: 100 }).staticBand).toEqual({ first: 1, last: 16, size: 16 });
    expect(new PortAllocator({ min: 1, max: 16 }).staticBand).toBeUndefined();
    expect(new PortAllocator({ min: 20000, max: 29999 }).staticBand?.size).toBe(128);
  });

  it('allocates a requested port once and refuses ports outside the range', () => {
    const p = new PortAllocator();
    expect(p.allocate(30080)).toBe(30080);
    expect(p.isAllocated(30080)).toBe(true);
    let err: unknown;
    try {
      p.allocate(30080);
    } catch (e) {
      err = e;
    }
    expect(PodnetError.is(err) && err.code).toBe('PODNET_IPAM_CONFLICT');
    expect(() => p.allocate(80)).toThrow(
      /provided port \(80\) is not in the valid range. The range of valid ports is 30000-32767/,
    );
    expect(p.release(30080)).toBe(true);
    expect(p.release(80)).toBe(false);
  });

  it('refuses bad ranges', () => {
    expect(() => new PortAllocator({ min: 40000, max: 30000 })).toThrow(InvalidArgumentError);
    expect(() => new PortAllocator({ min: 0 })).toThrow(/min: must be an integer 1-65535/);
    expect(() => new PortAllocator({ max: 1.5 })).toThrow(InvalidArgumentError);
  });

  it('is deterministic per seed; sequential mode starts at the top band', () => {
    const run = (seed: string) => {
      const p = new PortAllocator({ seed });
      return Array.from({ length: 10 }, () => p.allocate());
    };
    expect(run('a')).toEqual(run('a'));
    expect(run('a')).not.toEqual(run('b'));
    const s = new PortAllocator({ strategy: 'sequential' });
    expect([s.allocate(), s.allocate()]).toEqual([30086, 30087]);
  });

  it('property: no port twice, upper band first, exhaustion only when full', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 120 }),
        fc.integer(),
        fc.array(fc.boolean(), { maxLength: 200 }),
        (size, seed, ops) => {
          const p = new PortAllocator({ min: 40000, max: 40000 + size - 1, seed });
          const held: number[] = [];
          const band = p.staticBand?.size ?? 0;
          for (const allocate of ops) {
            if (!allocate && held.length > 0) {
              expect(p.release(held.shift() as number)).toBe(true);
              continue;
            }
            if (held.length === size) {
              expect(() => p.allocate()).toThrow(/range is full/);
              continue;
            }
            const upperUsed = held.filter((x) => !p.inStaticBand(x)).length;
            const port = p.allocate();
            expect(held).not.toContain(port);
            expect(p.contains(port)).toBe(true);
            expect(p.inStaticBand(port)).toBe(upperUsed === size - band);
            held.push(port);
          }
          expect(p.used).toBe(held.length);
        },
      ),
      { numRuns: 200 },
    );
  });
});

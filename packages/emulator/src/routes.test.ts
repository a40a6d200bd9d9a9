import { ipv4ToInt } from '@podnet/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { maskV4 } from './addr.js';
import { type RouteEntry, RouteTable } from './routes.js';

function route(network: number, prefix: number, metric: number): RouteEntry {
  const key = (network & maskV4(prefix)) >>> 0;
  const dst = `${key >>> 24}.${(key >>> 16) & 255}.${(key >>> 8) & 255}.${key & 255}/${prefix}`;
  return {
    family: 4,
    prefix,
    key,
    dst,
    type: 'unicast',
    onlink: false,
    scope: 'link',
    metric,
    table: 'main',
    kernel: false,
    text: `${dst} metric ${metric}`,
  };
}

describe('RouteTable', () => {
  it('finds the longest matching prefix, lowest metric first (checked against a linear scan)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.nat(0xffffffff), fc.integer({ min: 0, max: 32 }), fc.integer({ min: 0, max: 3 })),
          { maxLength: 40 },
        ),
        fc.array(fc.nat(0xffffffff), { minLength: 1, maxLength: 20 }),
        (routes, probes) => {
          const t = new RouteTable(4);
          const added: RouteEntry[] = [];
          for (const [n, p, m] of routes) {
            const e = route(n, p, m);
            if (t.add(e)) added.push(e);
          }
          expect(t.size).toBe(added.length);
          for (const ip of probes) {
            const best = added
              .filter((e) => (ip & maskV4(e.prefix)) >>> 0 === e.key)
              .sort((a, b) => b.prefix - a.prefix || a.metric - b.metric)[0];
            const text = `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
            expect(ipv4ToInt(text)).toBe(ip);
            expect(t.lookup(text)).toBe(best);
          }
        },
      ),
    );
  });

  it('refuses a second route with the same prefix and metric, as the kernel does', () => {
    const t = new RouteTable(4);
    expect(t.add(route(0x0af40000, 16, 0))).toBe(true);
    expect(t.add(route(0x0af40000, 16, 0))).toBe(false);
    expect(t.add(route(0x0af40000, 16, 100))).toBe(true);
    expect(t.entries().map((e) => e.text)).toEqual(['10.244.0.0/16 metric 0', '10.244.0.0/16 metric 100']);
  });
});

import { IpamExhaustedError, cidrContains, ipFamily } from '@podnet/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hostLocal } from './host-local.js';

type Op =
  | { kind: 'add'; id: number; ifname: number }
  | { kind: 'del'; id: number; ifname: number }
  | { kind: 'gc'; keep: number[] };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({ kind: fc.constant('add' as const), id: fc.nat(24), ifname: fc.nat(1) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('del' as const), id: fc.nat(24), ifname: fc.nat(1) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('gc' as const), keep: fc.array(fc.nat(24), { maxLength: 10 }) }),
  },
);

// Two small range sets: IPv4 across two pools (11 usable + 5 usable), IPv6 in one /124 (14 usable).
const ranges = [
  [
    { subnet: '10.0.0.0/28', rangeStart: '10.0.0.3' },
    { subnet: '10.0.1.0/29', gateway: '10.0.1.3' },
  ],
  [{ subnet: 'fd00::/124' }],
];
const v4Capacity = 12 + 5;
const v6Capacity = 14;

describe('hostLocal properties', () => {
  it('never hands out an address twice, serves one address per family, and frees on release', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 60 }), async (ops) => {
        const ipam = hostLocal({ ranges });
        // The model: attachment → its addresses.
        const model = new Map<string, string[]>();
        for (const o of ops) {
          const key = `c${'id' in o ? o.id : 0}/eth${'ifname' in o ? o.ifname : 0}`;
          if (o.kind === 'add') {
            const holders = [...model.values()].flat();
            const v4Used = holders.filter((a) => ipFamily(a.split('/')[0]) === 4).length;
            try {
              const got = await ipam.allocate({ containerId: `c${o.id}`, ifname: `eth${o.ifname}` });
              expect(model.has(key)).toBe(false);
              expect(got.map((a) => a.family)).toEqual([4, 6]);
              for (const a of got) {
                expect(holders).not.toContain(a.address);
                const ip = a.address.split('/')[0];
                const inside = ['10.0.0.0/28', '10.0.1.0/29', 'fd00::/124'].some((c) => cidrContains(c, ip));
                expect(inside).toBe(true);
                expect([
                  '10.0.0.0',
                  '10.0.0.15',
                  '10.0.0.1',
                  '10.0.1.0',
                  '10.0.1.7',
                  '10.0.1.3',
                  'fd00::',
                  'fd00::1',
                ]).not.toContain(ip);
              }
              model.set(
                key,
                got.map((a) => a.address),
              );
            } catch (e) {
              // Only a duplicate attachment or a full range set may refuse an ADD.
              if (e instanceof IpamExhaustedError)
                expect(v4Used >= v4Capacity || holders.length - v4Used >= v6Capacity).toBe(true);
              else expect(model.has(key)).toBe(true);
            }
          } else if (o.kind === 'del') {
            await ipam.release(`c${o.id}`, `eth${o.ifname}`);
            model.delete(key);
          } else {
            const live = o.keep.flatMap((id) =>
              [0, 1].map((i) => ({ containerId: `c${id}`, ifname: `eth${i}` })),
            );
            const released = await ipam.gc(live);
            const expected: string[] = [];
            for (const [k, addrs] of model) {
              if (!o.keep.includes(Number(k.slice(1, k.indexOf('/'))))) {
                expected.push(...addrs.map((a) => a.split('/')[0]));
                model.delete(k);
              }
            }
            expect([...released].sort()).toEqual(expected.sort());
          }
          const stored = (await ipam.list()).map((r) => r.ip).sort();
          expect(new Set(stored).size).toBe(stored.length);
          expect(stored).toEqual(
            [...model.values()]
              .flat()
              .map((a) => a.split('/')[0])
              .sort(),
          );
        }
      }),
      { numRuns: 150 },
    );
  });

  it('after releasing everything, every address can be allocated again', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: v6Capacity }), fc.nat(30), async (n, churn) => {
        const ipam = hostLocal({ ranges });
        for (let i = 0; i < churn; i++) {
          await ipam.allocate({ containerId: `x${i}`, ifname: 'eth0' });
          await ipam.release(`x${i}`, 'eth0');
        }
        const first = new Set<string>();
        for (let i = 0; i < n; i++)
          for (const a of await ipam.allocate({ containerId: `a${i}`, ifname: 'eth0' })) first.add(a.address);
        expect(first.size).toBe(2 * n);
        for (let i = 0; i < n; i++) await ipam.release(`a${i}`, 'eth0');
        const second = new Set<string>();
        for (let i = 0; i < v6Capacity; i++) {
          for (const a of await ipam.allocate({ containerId: `b${i}`, ifname: 'eth0' }))
            second.add(a.address);
        }
        expect(second.size).toBe(2 * v6Capacity);
      }),
      { numRuns: 40 },
    );
  });
});

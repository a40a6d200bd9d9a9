import { deterministicMac } from '@podnet/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fastMac, multicastMacOf, solicitedNode } from './addr.js';

describe('address helpers', () => {
  it('fastMac is core deterministicMac, for any seed', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (seed) => fastMac(seed) === deterministicMac(seed)));
    expect(fastMac('node-0/root/eth0')).toBe(deterministicMac('node-0/root/eth0'));
  });

  it('maps multicast addresses to their MACs', () => {
    expect(solicitedNode('fd00:10:244::3')).toEqual({ ip: 'ff02::1:ff00:3', mac: '33:33:ff:00:00:03' });
    expect(multicastMacOf('ff02::1')).toBe('33:33:00:00:00:01');
    expect(multicastMacOf('224.0.0.251')).toBe('01:00:5e:00:00:fb');
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EncodeError } from '../errors.js';
import { ethernet } from './ethernet.js';
import { arb, CAPTURES, fuzz, hex, reencodes } from './test-support.js';
import { VXLAN_FLAG_I, vxlan } from './vxlan.js';

// Outer Ethernet (14) + IPv4 (20) + UDP (8).
const vxlanOf = (frame: Uint8Array) => frame.subarray(42);

describe('vxlan', () => {
  it('round-trips any packet', () => {
    fc.assert(
      fc.property(
        fc.record({ flags: arb.u8, vni: fc.integer({ min: 0, max: 0xffffff }), payload: arb.bytes(1500) }),
        (v) => {
          const bytes = vxlan.encode(v);
          expect(bytes.length).toBe(vxlan.encodingLength(v));
          expect(vxlan.decode(bytes)).toEqual(v);
        },
      ),
    );
  });

  it('decodes the captured flannel VXLAN header and inner frame', () => {
    const v = vxlan.decode(vxlanOf(CAPTURES.vxlanTcpSyn));
    expect(v.flags).toBe(VXLAN_FLAG_I);
    expect(v.vni).toBe(1);
    expect(ethernet.decode(v.payload)).toMatchObject({
      src: '0a:58:0a:f4:00:02',
      dst: '0a:58:0a:f4:01:03',
      ethertype: 0x0800,
    });
    expect(vxlan.encode(v)).toEqual(vxlanOf(CAPTURES.vxlanTcpSyn));
  });

  it('puts the VNI in bytes 4-6 and zeros in the reserved fields', () => {
    expect(vxlan.encode({ flags: VXLAN_FLAG_I, vni: 0xabcdef, payload: new Uint8Array(0) })).toEqual(
      hex('08000000abcdef00'),
    );
    expect(vxlan.decode(hex('08ffffff000001ff')).vni).toBe(1);
    expect(() => vxlan.encode({ flags: 8, vni: 0x1000000, payload: new Uint8Array(0) })).toThrow(EncodeError);
    expect(() => vxlan.decode(hex('08000000000001'))).toThrow(/header needs 8 bytes/);
  });

  it('throws only DecodeError on fuzzed input', () => {
    const seeds = [CAPTURES.vxlanTcpSyn, CAPTURES.vxlanArpRequest].map(vxlanOf);
    const r = fuzz(vxlan.decode, seeds, { seed: 0x21, maxLength: 24, onDecoded: reencodes(vxlan) });
    expect(r.runs).toBeGreaterThanOrEqual(100_000);
    expect(r.decoded).toBeGreaterThan(0);
    expect(r.rejected).toBeGreaterThan(0);
  });
});

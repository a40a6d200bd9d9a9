import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  finishChecksum,
  internetChecksum,
  onesComplementSum,
  pseudoHeader,
  segmentChecksum,
} from './checksum.js';
import { hex } from './test-support.js';

describe('internet checksum (RFC 1071)', () => {
  it('matches the RFC 1071 §3 numerical example', () => {
    const data = hex('0001f203f4f5f6f7');
    expect(onesComplementSum(data)).toBe(0x2ddf0);
    expect(finishChecksum(onesComplementSum(data))).toBe(0x220d);
    expect(internetChecksum(data)).toBe(0x220d);
  });

  it('gives 0xb861 for the classic 192.168.0.1 > 192.168.0.199 UDP header, and 0 with it in place', () => {
    const header = hex('450000730000400040110000c0a80001c0a800c7');
    expect(internetChecksum(header)).toBe(0xb861);
    header.set([0xb8, 0x61], 10);
    expect(internetChecksum(header)).toBe(0);
  });

  it('pads an odd trailing byte with zero', () => {
    expect(internetChecksum(hex('01'))).toBe(0xfeff);
    expect(internetChecksum(hex('0102ff'))).toBe(internetChecksum(hex('0102ff00')));
  });

  it('sums to zero once its own checksum is appended', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (data) => {
        const even = data.length % 2 === 0 ? data : Uint8Array.from([...data, 0]);
        const c = internetChecksum(even);
        expect(internetChecksum(Uint8Array.from([...even, c >> 8, c & 0xff]))).toBe(0);
      }),
    );
  });

  it('chains over pieces split at even positions', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), (data, at) => {
        const split = Math.min(data.length, at) & ~1;
        const chained = onesComplementSum(data, split, data.length, onesComplementSum(data, 0, split));
        expect(finishChecksum(chained)).toBe(internetChecksum(data));
      }),
    );
  });
});

describe('pseudo-header', () => {
  it('lays out IPv4 as src, dst, zero, protocol, length', () => {
    expect(pseudoHeader({ src: '192.168.50.10', dst: '192.168.50.11' }, 17, 20)).toEqual(
      hex('c0a8320ac0a8320b00110014'),
    );
  });

  it('lays out IPv6 as src, dst, 32-bit length, zeros, next header', () => {
    expect(pseudoHeader({ src: 'fd00::10', dst: 'fd00::11' }, 58, 32)).toEqual(
      hex('fd000000000000000000000000000010' + 'fd000000000000000000000000000011' + '00000020' + '0000003a'),
    );
  });

  it('refuses mixed or bad addresses', () => {
    expect(pseudoHeader({ src: '10.0.0.1', dst: 'fd00::1' }, 6, 20)).toBeUndefined();
    expect(pseudoHeader({ src: 'nope', dst: '10.0.0.1' }, 6, 20)).toBeUndefined();
  });

  it('gives the checksum of a captured UDP datagram', () => {
    // 192.168.50.10.43920 > 192.168.50.11.5353 "hello podnet", checksum 0xdba1 on the wire.
    const segment = hex('ab9014e90014dba168656c6c6f20706f646e6574');
    const ph = pseudoHeader({ src: '192.168.50.10', dst: '192.168.50.11' }, 17, segment.length)!;
    expect(segmentChecksum(ph, segment, 6)).toBe(0xdba1);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EncodeError } from '../errors.js';
import { arb, arbPseudo, CAPTURES, fuzz, reencodes, withoutDerived } from './test-support.js';
import { udp, udpChecksum } from './udp.js';

const V4 = { src: '192.168.50.10', dst: '192.168.50.11' };
const V6 = { src: 'fd00::10', dst: 'fd00::11' };
const datagram = fc.record({ sport: arb.u16, dport: arb.u16, payload: arb.bytes(1472) });

describe('udp', () => {
  it('round-trips any datagram with a valid checksum over IPv4 and IPv6', () => {
    fc.assert(
      fc.property(datagram, arbPseudo, (d, ip) => {
        const bytes = udp.encode(d, undefined, 0, ip);
        expect(bytes.length).toBe(udp.encodingLength(d));
        const back = udp.decode(bytes, 0, bytes.length, ip);
        expect(back.checksumValid).toBe(true);
        expect(back.checksum).not.toBe(0);
        expect(back.length).toBe(bytes.length);
        expect(withoutDerived(back)).toEqual(d);
        expect(udpChecksum(ip.src, ip.dst, bytes)).toBe(back.checksum);
      }),
    );
  });

  it('decodes captured datagrams over IPv4 and IPv6 and encodes them back byte for byte', () => {
    const cases = [
      [
        CAPTURES.udp4.subarray(34),
        V4,
        { sport: 43920, dport: 5353, length: 20, checksum: 0xdba1 },
        'hello podnet',
      ],
      [
        CAPTURES.udp6.subarray(54),
        V6,
        { sport: 42851, dport: 5353, length: 23, checksum: 0x7496 },
        'hello podnet v6',
      ],
      [
        CAPTURES.vxlanTcpSyn.subarray(34),
        V4,
        { sport: 36379, dport: 8472, length: 90, checksum: 0x451e },
        undefined,
      ],
    ] as const;
    for (const [segment, ip, expected, text] of cases) {
      const d = udp.decode(segment, 0, segment.length, ip);
      expect(d).toMatchObject({ ...expected, checksumValid: true });
      if (text !== undefined) expect(new TextDecoder().decode(d.payload)).toBe(text);
      expect(udp.encode({ sport: d.sport, dport: d.dport, payload: d.payload }, undefined, 0, ip)).toEqual(
        segment,
      );
      expect(udpChecksum(ip.src, ip.dst, segment)).toBe(expected.checksum);
    }
  });

  it('treats a zero checksum as none over IPv4 only', () => {
    const d = { sport: 1, dport: 2, payload: new Uint8Array([1, 2, 3]) };
    const bytes = udp.encode(d);
    expect(bytes[6] | bytes[7]).toBe(0);
    expect(udp.decode(bytes).checksumValid).toBeUndefined();
    expect(udp.decode(bytes, 0, bytes.length, V4).checksumValid).toBe(true);
    expect(udp.decode(bytes, 0, bytes.length, V6).checksumValid).toBe(false);
  });

  it('writes 0xffff when the computed checksum is zero', () => {
    // Pick the payload word so that the sum complements to zero.
    const d = { sport: 0, dport: 0, payload: new Uint8Array(2) };
    const probe = udpChecksum(V4.src, V4.dst, udp.encode(d));
    const bytes = udp.encode({ ...d, payload: new Uint8Array([probe >> 8, probe & 0xff]) }, undefined, 0, V4);
    expect(bytes[6] * 256 + bytes[7]).toBe(0xffff);
    expect(udp.decode(bytes, 0, bytes.length, V4).checksumValid).toBe(true);
  });

  it('reads up to its length field and refuses lengths beyond the buffer or below 8', () => {
    const segment = CAPTURES.udp4.subarray(34);
    expect(udp.decode(Uint8Array.from([...segment, 0, 0]), 0, undefined, V4).payload.length).toBe(12);
    expect(() => udp.decode(segment.subarray(0, 19))).toThrow(/length 20/);
    const short = segment.slice();
    short[5] = 7;
    expect(() => udp.decode(short)).toThrow(/below 8/);
  });

  it('refuses bad values with EncodeError', () => {
    expect(() => udp.encode({ sport: 65536, dport: 1, payload: new Uint8Array(0) })).toThrow(/sport/);
    expect(() =>
      udp.encode({ sport: 1, dport: 1, payload: new Uint8Array(0) }, undefined, 0, {
        src: '10.0.0.1',
        dst: 'fd00::1',
      }),
    ).toThrow(EncodeError);
    expect(() => udp.encode({ sport: 1, dport: 1, payload: new Uint8Array(65528) })).toThrow(EncodeError);
  });

  it('throws only DecodeError on fuzzed input', () => {
    const seeds = [
      CAPTURES.udp4.subarray(34),
      CAPTURES.vxlanTcpData.subarray(34),
      CAPTURES.udp6.subarray(54),
    ];
    let turn = 0;
    const ips = [V4, V6, undefined];
    const decode = (buf: Uint8Array, offset?: number, end?: number) =>
      udp.decode(buf, offset, end, ips[turn++ % 3]);
    const r = fuzz(decode, seeds, { seed: 0x11, onDecoded: reencodes(udp, V4) });
    expect(r.runs).toBeGreaterThanOrEqual(100_000);
    expect(r.decoded).toBeGreaterThan(0);
    expect(r.rejected).toBeGreaterThan(0);
  });
});

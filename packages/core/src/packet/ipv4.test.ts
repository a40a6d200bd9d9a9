import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError, EncodeError } from '../errors.js';
import { internetChecksum } from './checksum.js';
import { type Ipv4Packet, ipv4 } from './ipv4.js';
import { arb, CAPTURES, fuzz, hex, reencodes, withoutDerived } from './test-support.js';

const packet: fc.Arbitrary<Ipv4Packet> = fc.record({
  tos: arb.u8,
  id: arb.u16,
  flags: fc.record({ df: fc.boolean(), mf: fc.boolean() }),
  fragmentOffset: fc.integer({ min: 0, max: 8191 }).map((n) => n * 8),
  ttl: arb.u8,
  protocol: arb.u8,
  src: arb.ipv4,
  dst: arb.ipv4,
  options: arb.options,
  payload: arb.bytes(1500),
});

const ipOf = (frame: Uint8Array) => frame.subarray(14);

// A header from the RFC 1071 discussions and countless tutorials: checksum 0xb861.
const CLASSIC = hex('45000073000040004011b861c0a80001c0a800c7');

describe('ipv4', () => {
  it('round-trips any packet with a valid computed checksum', () => {
    fc.assert(
      fc.property(packet, (p) => {
        const bytes = ipv4.encode(p);
        expect(bytes.length).toBe(ipv4.encodingLength(p));
        const d = ipv4.decode(bytes);
        expect(d.checksumValid).toBe(true);
        expect(withoutDerived(d)).toEqual(p);
      }),
    );
  });

  it('decodes the classic header and recomputes its checksum', () => {
    const buf = Uint8Array.from([...CLASSIC, ...new Uint8Array(0x73 - 20)]);
    const d = ipv4.decode(buf);
    expect(d).toMatchObject({
      id: 0,
      flags: { df: true, mf: false },
      ttl: 64,
      protocol: 17,
      src: '192.168.0.1',
      dst: '192.168.0.199',
    });
    expect(d.checksum).toBe(0xb861);
    expect(d.checksumValid).toBe(true);
    expect(ipv4.encode({ ...d, checksum: undefined }).subarray(0, 20)).toEqual(CLASSIC);
  });

  it('decodes captured packets and encodes them back byte for byte', () => {
    const echo = ipv4.decode(ipOf(CAPTURES.icmpEchoRequest));
    expect(echo).toMatchObject({
      tos: 0,
      id: 0x393c,
      flags: { df: true, mf: false },
      fragmentOffset: 0,
      ttl: 64,
      protocol: 1,
      src: '192.168.50.10',
      dst: '192.168.50.11',
      checksum: 0x1c29,
      checksumValid: true,
    });
    expect(echo.payload.length).toBe(30);
    for (const frame of [
      CAPTURES.icmpEchoRequest,
      CAPTURES.icmpPortUnreachable,
      CAPTURES.vxlanTcpSyn,
      CAPTURES.fragNeeded,
    ]) {
      const d = ipv4.decode(ipOf(frame));
      expect(d.checksumValid).toBe(true);
      expect(ipv4.encode({ ...d, checksum: undefined })).toEqual(ipOf(frame));
    }
    expect(ipv4.decode(ipOf(CAPTURES.fragNeeded)).tos).toBe(0xc0);
  });

  it('writes a given checksum as is and reports it invalid', () => {
    const d = ipv4.decode(ipOf(CAPTURES.icmpEchoRequest));
    const bad = ipv4.decode(ipv4.encode({ ...d, checksum: 0xbeef }));
    expect(bad.checksum).toBe(0xbeef);
    expect(bad.checksumValid).toBe(false);
  });

  it('carries options and sets the header length', () => {
    const routerAlert = hex('94040000');
    const p: Ipv4Packet = {
      tos: 0,
      id: 1,
      flags: { df: false, mf: false },
      fragmentOffset: 0,
      ttl: 1,
      protocol: 2,
      src: '10.0.0.1',
      dst: '224.0.0.22',
      options: routerAlert,
      payload: hex('2200fa0000000001'),
    };
    const bytes = ipv4.encode(p);
    expect(bytes[0]).toBe(0x46);
    expect(internetChecksum(bytes, 0, 24)).toBe(0);
    expect(ipv4.decode(bytes).options).toEqual(routerAlert);
  });

  it('stops at total length (drops Ethernet padding) and checks it against the buffer', () => {
    const ip = ipOf(CAPTURES.udp4);
    const padded = Uint8Array.from([...ip, 0, 0, 0, 0, 0, 0]);
    expect(ipv4.decode(padded).payload).toEqual(ip.subarray(20));
    expect(() => ipv4.decode(ip.subarray(0, ip.length - 1))).toThrow(/total length 40/);
  });

  it('refuses malformed headers with DecodeError', () => {
    const ip = ipOf(CAPTURES.udp4).slice();
    const broken = (at: number, value: number) => {
      const b = ip.slice();
      b[at] = value;
      return b;
    };
    expect(() => ipv4.decode(broken(0, 0x65))).toThrow(/version is 6/);
    expect(() => ipv4.decode(broken(0, 0x44))).toThrow(/header length 16/);
    expect(() => ipv4.decode(broken(0, 0x4f))).toThrow(DecodeError);
    expect(() => ipv4.decode(broken(3, 0x10))).toThrow(/below header length/);
    expect(() => ipv4.decode(ip, 30, 20)).toThrow(DecodeError);
  });

  it('refuses bad values with EncodeError', () => {
    const d = ipv4.decode(ipOf(CAPTURES.udp4));
    expect(() => ipv4.encode({ ...d, fragmentOffset: 12 })).toThrow(/multiple of 8/);
    expect(() => ipv4.encode({ ...d, options: new Uint8Array(3) })).toThrow(/multiple of 4/);
    expect(() => ipv4.encode({ ...d, options: new Uint8Array(44) })).toThrow(EncodeError);
    expect(() => ipv4.encode({ ...d, ttl: 256 })).toThrow(/ttl/);
    expect(() => ipv4.encode({ ...d, src: '10.0.0' })).toThrow(/src/);
    expect(() => ipv4.encode({ ...d, payload: new Uint8Array(65516) })).toThrow(EncodeError);
  });

  it('throws only DecodeError on fuzzed input', () => {
    const seeds = [CAPTURES.icmpEchoRequest, CAPTURES.udp4, CAPTURES.vxlanTcpData, CAPTURES.fragNeeded].map(
      ipOf,
    );
    seeds.push(
      ipv4.encode({
        ...ipv4.decode(seeds[0]),
        options: hex('94040000010101000000000000000000'),
        checksum: undefined,
      }),
    );
    const r = fuzz(ipv4.decode, seeds, { seed: 0x44, onDecoded: reencodes(ipv4) });
    expect(r.runs).toBeGreaterThanOrEqual(100_000);
    expect(r.decoded).toBeGreaterThan(0);
    expect(r.rejected).toBeGreaterThan(0);
  });
});

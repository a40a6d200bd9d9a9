import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError, EncodeError } from '../errors.js';
import { type Ipv6Packet, ipv6 } from './ipv6.js';
import { arb, CAPTURES, fuzz, reencodes } from './test-support.js';

const packet: fc.Arbitrary<Ipv6Packet> = fc.record({
  trafficClass: arb.u8,
  flowLabel: fc.integer({ min: 0, max: 0xfffff }),
  nextHeader: arb.u8,
  hopLimit: arb.u8,
  src: arb.ipv6,
  dst: arb.ipv6,
  payload: arb.bytes(1500),
});

const ipOf = (frame: Uint8Array) => frame.subarray(14);

describe('ipv6', () => {
  it('round-trips any packet', () => {
    fc.assert(
      fc.property(packet, (p) => {
        const bytes = ipv6.encode(p);
        expect(bytes.length).toBe(ipv6.encodingLength(p));
        expect(ipv6.decode(bytes)).toEqual(p);
      }),
    );
  });

  it('decodes captured packets and encodes them back byte for byte', () => {
    const echo = ipv6.decode(ipOf(CAPTURES.icmpv6EchoRequest));
    expect(echo).toMatchObject({
      trafficClass: 0,
      flowLabel: 0x70910,
      nextHeader: 58,
      hopLimit: 64,
      src: 'fd00::10',
      dst: 'fd00::11',
    });
    expect(echo.payload.length).toBe(20);
    const ns = ipv6.decode(ipOf(CAPTURES.neighborSolicitation));
    expect(ns).toMatchObject({ hopLimit: 255, dst: 'ff02::1:ff00:11' });
    for (const frame of [
      CAPTURES.icmpv6EchoRequest,
      CAPTURES.neighborSolicitation,
      CAPTURES.udp6,
      CAPTURES.tcp6Syn,
      CAPTURES.packetTooBig,
    ]) {
      expect(ipv6.encode(ipv6.decode(ipOf(frame)))).toEqual(ipOf(frame));
    }
  });

  it('splits traffic class and flow label across the first bytes', () => {
    const p = { ...ipv6.decode(ipOf(CAPTURES.udp6)), trafficClass: 0xb8, flowLabel: 0xabcde };
    const bytes = ipv6.encode(p);
    expect(Array.from(bytes.subarray(0, 4))).toEqual([0x6b, 0x8a, 0xbc, 0xde]);
  });

  it('checks the payload length against the buffer and drops bytes after it', () => {
    const ip = ipOf(CAPTURES.udp6);
    expect(() => ipv6.decode(ip.subarray(0, ip.length - 1))).toThrow(/payload length 23/);
    expect(ipv6.decode(Uint8Array.from([...ip, 9, 9])).payload).toEqual(ip.subarray(40));
    const v4 = ip.slice();
    v4[0] = 0x45;
    expect(() => ipv6.decode(v4)).toThrow(DecodeError);
  });

  it('refuses bad values with EncodeError', () => {
    const p = ipv6.decode(ipOf(CAPTURES.udp6));
    expect(() => ipv6.encode({ ...p, flowLabel: 0x100000 })).toThrow(/flowLabel/);
    expect(() => ipv6.encode({ ...p, src: 'fd00::1::2' })).toThrow(EncodeError);
    expect(() => ipv6.encode({ ...p, dst: '10.0.0.1' })).toThrow(/dst/);
    expect(() => ipv6.encode({ ...p, payload: new Uint8Array(65536) })).toThrow(EncodeError);
  });

  it('throws only DecodeError on fuzzed input', () => {
    const seeds = [
      CAPTURES.icmpv6EchoRequest,
      CAPTURES.neighborAdvertisement,
      CAPTURES.udp6,
      CAPTURES.tcp6Syn,
    ].map(ipOf);
    const r = fuzz(ipv6.decode, seeds, { seed: 0x66, onDecoded: reencodes(ipv6) });
    expect(r.runs).toBeGreaterThanOrEqual(100_000);
    expect(r.decoded).toBeGreaterThan(0);
    expect(r.rejected).toBeGreaterThan(0);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EncodeError } from '../errors.js';
import { type Icmpv4Message, icmpv4 } from './icmpv4.js';
import { arb, CAPTURES, fuzz, hex, reencodes, withoutDerived } from './test-support.js';

// ICMP starts after Ethernet (14) and an option-less IPv4 header (20).
const icmpOf = (frame: Uint8Array) => frame.subarray(34);

const message: fc.Arbitrary<Icmpv4Message> = fc.oneof(
  fc.record({
    type: fc.constantFrom(0, 8),
    code: arb.u8,
    id: arb.u16,
    seq: arb.u16,
    payload: arb.bytes(1472),
  }),
  fc.record({ type: fc.constant(3), code: fc.constant(4), nextHopMtu: arb.u16, payload: arb.bytes(576) }),
  fc
    .record({
      type: arb.u8,
      code: arb.u8,
      rest: fc.uint8Array({ minLength: 4, maxLength: 4 }),
      payload: arb.bytes(576),
    })
    .filter((m) => m.type !== 0 && m.type !== 8 && !(m.type === 3 && m.code === 4)),
);

describe('icmpv4', () => {
  it('round-trips every kind of message with a valid checksum', () => {
    fc.assert(
      fc.property(message, (m) => {
        const bytes = icmpv4.encode(m);
        expect(bytes.length).toBe(icmpv4.encodingLength(m));
        const d = icmpv4.decode(bytes);
        expect(d.checksumValid).toBe(true);
        expect(withoutDerived(d)).toEqual(m);
      }),
    );
  });

  it('decodes a captured echo request and reply', () => {
    const request = icmpv4.decode(icmpOf(CAPTURES.icmpEchoRequest));
    expect(request).toMatchObject({
      type: 8,
      code: 0,
      id: 0x1234,
      seq: 1,
      checksum: 0xa862,
      checksumValid: true,
    });
    expect(new TextDecoder().decode(request.payload)).toBe('podnet-ping-0123456789');
    const reply = icmpv4.decode(icmpOf(CAPTURES.icmpEchoReply));
    expect(reply).toMatchObject({ type: 0, id: 0x1234, seq: 1, checksum: 0xb062, checksumValid: true });
    expect(icmpv4.encode({ ...request, checksum: undefined })).toEqual(icmpOf(CAPTURES.icmpEchoRequest));
  });

  it('decodes captured errors: port unreachable and fragmentation needed', () => {
    const unreachable = icmpv4.decode(icmpOf(CAPTURES.icmpPortUnreachable));
    expect(unreachable).toMatchObject({ type: 3, code: 3, rest: hex('00000000'), checksumValid: true });
    expect(unreachable.payload).toEqual(CAPTURES.udp4.subarray(14));
    const fragNeeded = icmpv4.decode(icmpOf(CAPTURES.fragNeeded));
    expect(fragNeeded).toMatchObject({
      type: 3,
      code: 4,
      nextHopMtu: 1280,
      checksum: 0x81c7,
      checksumValid: true,
    });
    expect(fragNeeded.payload.length).toBe(548);
    for (const frame of [CAPTURES.icmpPortUnreachable, CAPTURES.fragNeeded]) {
      expect(icmpv4.encode({ ...icmpv4.decode(icmpOf(frame)), checksum: undefined })).toEqual(icmpOf(frame));
    }
  });

  it('reports a bad checksum', () => {
    const bytes = icmpOf(CAPTURES.icmpEchoRequest).slice();
    bytes[10] ^= 1;
    expect(icmpv4.decode(bytes).checksumValid).toBe(false);
  });

  it('refuses bad values with EncodeError', () => {
    const m = { type: 8, code: 0, id: 1, seq: 1, payload: new Uint8Array(0) };
    expect(() => icmpv4.encode({ ...m, seq: 70000 })).toThrow(/seq/);
    expect(() =>
      icmpv4.encode({ type: 5, code: 0, rest: new Uint8Array(3), payload: new Uint8Array(0) }),
    ).toThrow(EncodeError);
    expect(() => icmpv4.encode({ ...m, type: 256 })).toThrow(/type/);
  });

  it('throws only DecodeError on fuzzed input', () => {
    const seeds = [
      CAPTURES.icmpEchoRequest,
      CAPTURES.icmpEchoReply,
      CAPTURES.icmpPortUnreachable,
      CAPTURES.fragNeeded,
    ].map(icmpOf);
    const r = fuzz(icmpv4.decode, seeds, { seed: 0x14, onDecoded: reencodes(icmpv4) });
    expect(r.runs).toBeGreaterThanOrEqual(100_000);
    expect(r.decoded).toBeGreaterThan(0);
    expect(r.rejected).toBeGreaterThan(0);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EncodeError } from '../errors.js';
import { ETHERTYPE_ARP, ethernet } from './ethernet.js';
import { arb, CAPTURES, fuzz, reencodes } from './test-support.js';

const frame = fc.record({ dst: arb.mac, src: arb.mac, ethertype: arb.u16, payload: arb.bytes(1500) });

describe('ethernet', () => {
  it('round-trips any frame', () => {
    fc.assert(
      fc.property(frame, (f) => {
        const bytes = ethernet.encode(f);
        expect(bytes.length).toBe(ethernet.encodingLength(f));
        expect(ethernet.decode(bytes)).toEqual(f);
      }),
    );
  });

  it('encodes into a buffer at an offset and decodes a range', () => {
    fc.assert(
      fc.property(frame, fc.nat(32), fc.nat(32), (f, before, after) => {
        const buf = new Uint8Array(before + ethernet.encodingLength(f) + after);
        expect(ethernet.encode(f, buf, before)).toBe(buf);
        expect(ethernet.decode(buf, before, buf.length - after)).toEqual(f);
      }),
    );
  });

  it('decodes a captured ARP request frame', () => {
    const f = ethernet.decode(CAPTURES.arpRequest);
    expect(f).toMatchObject({ dst: 'ff:ff:ff:ff:ff:ff', src: '02:00:00:00:00:0a', ethertype: ETHERTYPE_ARP });
    expect(f.payload.length).toBe(28);
    expect(ethernet.encode(f)).toEqual(CAPTURES.arpRequest);
  });

  it('refuses bad values with EncodeError', () => {
    const ok = {
      dst: '02:00:00:00:00:0b',
      src: '02:00:00:00:00:0a',
      ethertype: 0x0800,
      payload: new Uint8Array(4),
    };
    expect(() => ethernet.encode({ ...ok, dst: '02:00:00:00:00' })).toThrow(EncodeError);
    expect(() => ethernet.encode({ ...ok, ethertype: 0x10000 })).toThrow(EncodeError);
    expect(() => ethernet.encode(ok, new Uint8Array(17))).toThrow(/buffer too small/);
  });

  it('throws only DecodeError on fuzzed input', () => {
    const r = fuzz(ethernet.decode, Object.values(CAPTURES), { seed: 0xe7, onDecoded: reencodes(ethernet) });
    expect(r.runs).toBeGreaterThanOrEqual(100_000);
    expect(r.decoded).toBeGreaterThan(0);
    expect(r.rejected).toBeGreaterThan(0);
  });
});

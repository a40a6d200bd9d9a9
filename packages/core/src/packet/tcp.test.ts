import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError, EncodeError } from '../errors.js';
import { mssOption, readMss, type TcpSegment, tcp } from './tcp.js';
import { arb, arbPseudo, CAPTURES, fuzz, hex, reencodes, withoutDerived } from './test-support.js';

const INNER = { src: '10.244.0.2', dst: '10.244.1.3' };
const V6 = { src: 'fd00::10', dst: 'fd00::11' };
// Outer Ethernet/IPv4/UDP/VXLAN (50) + inner Ethernet/IPv4 (34).
const innerTcp = (frame: Uint8Array) => frame.subarray(84);

const flags = fc.record({
  fin: fc.boolean(),
  syn: fc.boolean(),
  rst: fc.boolean(),
  psh: fc.boolean(),
  ack: fc.boolean(),
  urg: fc.boolean(),
  ece: fc.boolean(),
  cwr: fc.boolean(),
});
const segment: fc.Arbitrary<TcpSegment> = fc.record({
  sport: arb.u16,
  dport: arb.u16,
  seq: arb.u32,
  ack: arb.u32,
  flags,
  window: arb.u16,
  urgentPointer: arb.u16,
  options: arb.options,
  payload: arb.bytes(1460),
});

describe('tcp', () => {
  it('round-trips any segment with a valid checksum over IPv4 and IPv6', () => {
    fc.assert(
      fc.property(segment, arbPseudo, (s, ip) => {
        const bytes = tcp.encode(s, undefined, 0, ip);
        expect(bytes.length).toBe(tcp.encodingLength(s));
        const d = tcp.decode(bytes, 0, bytes.length, ip);
        expect(d.checksumValid).toBe(true);
        expect(d.dataOffset).toBe(5 + s.options.length / 4);
        expect(withoutDerived(d)).toEqual(s);
      }),
    );
  });

  it('decodes the captured SYN inside VXLAN', () => {
    const syn = tcp.decode(innerTcp(CAPTURES.vxlanTcpSyn), 0, undefined, INNER);
    expect(syn).toMatchObject({
      sport: 42116,
      dport: 8080,
      seq: 3373283786,
      ack: 0,
      dataOffset: 10,
      flags: {
        syn: true,
        ack: false,
        fin: false,
        rst: false,
        psh: false,
        urg: false,
        ece: false,
        cwr: false,
      },
      window: 64860,
      urgentPointer: 0,
      checksum: 0xb668,
      checksumValid: true,
    });
    expect(syn.options).toEqual(hex('020405820402080a2063962a000000000103030a'));
    expect(readMss(syn.options)).toBe(1410);
    expect(syn.payload.length).toBe(0);
  });

  it('encodes captured segments back byte for byte', () => {
    const cases = [
      [innerTcp(CAPTURES.vxlanTcpSyn), INNER],
      [innerTcp(CAPTURES.vxlanTcpSynAck), { src: INNER.dst, dst: INNER.src }],
      [innerTcp(CAPTURES.vxlanTcpData), INNER],
      [CAPTURES.tcp6Syn.subarray(54), V6],
    ] as const;
    for (const [bytes, ip] of cases) {
      const d = tcp.decode(bytes, 0, undefined, ip);
      expect(d.checksumValid).toBe(true);
      expect(tcp.encode({ ...d, checksum: undefined }, undefined, 0, ip)).toEqual(bytes);
    }
    const data = tcp.decode(innerTcp(CAPTURES.vxlanTcpData), 0, undefined, INNER);
    expect(data.flags).toMatchObject({ psh: true, ack: true });
    expect(new TextDecoder().decode(data.payload)).toBe('GET / HTTP/1.0\r\n\r\n');
    expect(readMss(tcp.decode(CAPTURES.tcp6Syn.subarray(54)).options)).toBe(1440);
  });

  it('reports a bad checksum and a wrong pseudo-header', () => {
    const bytes = innerTcp(CAPTURES.vxlanTcpSyn);
    expect(tcp.decode(bytes, 0, undefined, { src: '10.244.0.9', dst: INNER.dst }).checksumValid).toBe(false);
    expect(tcp.decode(bytes)).not.toHaveProperty('checksumValid');
  });

  it('builds and reads the MSS option', () => {
    expect(mssOption(1460)).toEqual(hex('020405b4'));
    expect(readMss(Uint8Array.from([1, 1, ...mssOption(1360)]))).toBe(1360);
    expect(readMss(hex('01010402'))).toBeUndefined();
    expect(readMss(hex('0000020405b4'))).toBeUndefined();
    expect(() => readMss(hex('0204'))).toThrow(DecodeError);
    expect(() => readMss(hex('0801'))).toThrow(/below 2/);
    expect(() => readMss(hex('02030000'))).toThrow(/not 4/);
  });

  it('refuses bad values with EncodeError', () => {
    const s = tcp.decode(innerTcp(CAPTURES.vxlanTcpSyn));
    expect(() => tcp.encode({ ...s, checksum: undefined })).toThrow(/pseudo-header/);
    expect(() => tcp.encode({ ...s, options: new Uint8Array(2) }, undefined, 0, INNER)).toThrow(
      /multiple of 4/,
    );
    expect(() => tcp.encode({ ...s, seq: 2 ** 32 }, undefined, 0, INNER)).toThrow(/seq/);
    expect(() => tcp.encode(s, new Uint8Array(10))).toThrow(EncodeError);
  });

  it('refuses data offsets below 5 or past the buffer', () => {
    const bytes = innerTcp(CAPTURES.vxlanTcpSyn).slice();
    bytes[12] = 0x40;
    expect(() => tcp.decode(bytes)).toThrow(/below 5/);
    bytes[12] = 0xf0;
    expect(() => tcp.decode(bytes)).toThrow(DecodeError);
  });

  it('throws only DecodeError on fuzzed input, MSS reader included', () => {
    const seeds = [
      innerTcp(CAPTURES.vxlanTcpSyn),
      innerTcp(CAPTURES.vxlanTcpData),
      CAPTURES.tcp6Syn.subarray(54),
    ];
    let turn = 0;
    const ips = [INNER, V6, undefined];
    const decode = (buf: Uint8Array, offset?: number, end?: number) => {
      const d = tcp.decode(buf, offset, end, ips[turn++ % 3]);
      readMss(d.options);
      return d;
    };
    const r = fuzz(decode, seeds, { seed: 0x06, onDecoded: reencodes(tcp, INNER) });
    expect(r.runs).toBeGreaterThanOrEqual(100_000);
    expect(r.decoded).toBeGreaterThan(0);
    expect(r.rejected).toBeGreaterThan(0);
  });
});

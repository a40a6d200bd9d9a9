import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError, EncodeError } from '../errors.js';
import {
  ICMPV6_NEIGHBOR_ADVERTISEMENT,
  ICMPV6_NEIGHBOR_SOLICITATION,
  ICMPV6_PACKET_TOO_BIG,
  type Icmpv6Decoded,
  icmpv6,
  neighborAdvertisement,
  neighborSolicitation,
  packetTooBig,
  parseNeighborAdvertisement,
  parseNeighborSolicitation,
  parsePacketTooBig,
} from './icmpv6.js';
import { arb, CAPTURES, fuzz, hex, reencodes, withoutDerived } from './test-support.js';

// ICMPv6 starts after Ethernet (14) and the IPv6 header (40).
const icmpOf = (frame: Uint8Array) => frame.subarray(54);
const A = { src: 'fd00::10', dst: 'fd00::11' };
const B = { src: 'fd00::11', dst: 'fd00::10' };
const pair = fc.record({ src: arb.ipv6, dst: arb.ipv6 });

describe('icmpv6', () => {
  it('round-trips any message with a valid pseudo-header checksum', () => {
    fc.assert(
      fc.property(fc.record({ type: arb.u8, code: arb.u8, body: arb.bytes(1500) }), pair, (m, ip) => {
        const bytes = icmpv6.encode(m, undefined, 0, ip);
        expect(bytes.length).toBe(icmpv6.encodingLength(m));
        const d = icmpv6.decode(bytes, 0, bytes.length, ip);
        expect(d.checksumValid).toBe(true);
        expect(withoutDerived(d)).toEqual(m);
      }),
    );
  });

  it('decodes captured echo, neighbor discovery and errors with valid checksums', () => {
    const cases: [Uint8Array, { src: string; dst: string }, Partial<Icmpv6Decoded>][] = [
      [CAPTURES.icmpv6EchoRequest, A, { type: 128, code: 0, checksum: 0x09ff }],
      [
        CAPTURES.neighborSolicitation,
        { src: 'fd00::10', dst: 'ff02::1:ff00:11' },
        { type: 135, checksum: 0x7d61 },
      ],
      [CAPTURES.neighborAdvertisement, B, { type: 136, checksum: 0x9c63 }],
      [CAPTURES.icmpv6PortUnreachable, B, { type: 1, code: 4, checksum: 0xb87e }],
      [CAPTURES.packetTooBig, B, { type: 2, code: 0, checksum: 0x9edf }],
    ];
    for (const [frame, ip, expected] of cases) {
      const d = icmpv6.decode(icmpOf(frame), 0, undefined, ip);
      expect(d).toMatchObject({ ...expected, checksumValid: true });
      expect(icmpv6.encode({ type: d.type, code: d.code, body: d.body }, undefined, 0, ip)).toEqual(
        icmpOf(frame),
      );
      expect(icmpv6.decode(icmpOf(frame), 0, undefined, { src: 'fd00::99', dst: ip.dst }).checksumValid).toBe(
        false,
      );
    }
  });

  it('reads and builds the captured neighbor solicitation', () => {
    const ip = { src: 'fd00::10', dst: 'ff02::1:ff00:11' };
    const d = icmpv6.decode(icmpOf(CAPTURES.neighborSolicitation), 0, undefined, ip);
    const ns = parseNeighborSolicitation(d);
    expect(ns).toEqual({ target: 'fd00::11', sourceLinkLayer: '02:00:00:00:00:0a' });
    expect(icmpv6.encode(neighborSolicitation(ns), undefined, 0, ip)).toEqual(
      icmpOf(CAPTURES.neighborSolicitation),
    );
    expect(parseNeighborSolicitation(neighborSolicitation({ target: 'fe80::1' }))).toEqual({
      target: 'fe80::1',
    });
  });

  it('reads and builds the captured neighbor advertisement', () => {
    const d = icmpv6.decode(icmpOf(CAPTURES.neighborAdvertisement), 0, undefined, B);
    const na = parseNeighborAdvertisement(d);
    expect(na).toEqual({
      target: 'fd00::11',
      router: true,
      solicited: true,
      override: true,
      targetLinkLayer: '02:00:00:00:00:0b',
    });
    expect(icmpv6.encode(neighborAdvertisement(na), undefined, 0, B)).toEqual(
      icmpOf(CAPTURES.neighborAdvertisement),
    );
  });

  it('builds the captured packet too big, cutting the quoted packet to fit 1280 bytes', () => {
    const d = icmpv6.decode(icmpOf(CAPTURES.packetTooBig), 0, undefined, B);
    const ptb = parsePacketTooBig(d);
    expect(ptb.mtu).toBe(1280);
    expect(ptb.packet.length).toBe(1232);
    const message = packetTooBig({ mtu: 1280, packet: CAPTURES.udp6Big.subarray(14) });
    expect(icmpv6.encode(message, undefined, 0, B)).toEqual(icmpOf(CAPTURES.packetTooBig));
  });

  it('round-trips the neighbor discovery helpers', () => {
    fc.assert(
      fc.property(
        fc.record(
          { target: arb.ipv6, sourceLinkLayer: fc.option(arb.mac, { nil: undefined }) },
          { requiredKeys: ['target'] },
        ),
        fc.record(
          {
            target: arb.ipv6,
            router: fc.boolean(),
            solicited: fc.boolean(),
            override: fc.boolean(),
            targetLinkLayer: arb.mac,
          },
          { requiredKeys: ['target', 'router', 'solicited', 'override'] },
        ),
        fc.record({ mtu: arb.u32, packet: arb.bytes(1232) }),
        (ns, na, ptb) => {
          expect(parseNeighborSolicitation(neighborSolicitation(ns))).toEqual(ns);
          expect(parseNeighborAdvertisement(neighborAdvertisement(na))).toEqual(na);
          expect(parsePacketTooBig(packetTooBig(ptb))).toEqual(ptb);
        },
      ),
    );
  });

  it('skips unknown options and refuses zero-length ones', () => {
    const nonce = hex('0e01010203040506');
    const body = Uint8Array.from([
      ...neighborSolicitation({ target: 'fd00::1', sourceLinkLayer: '02:00:00:00:00:01' }).body,
      ...nonce,
    ]);
    const withNonceFirst = Uint8Array.from([...body.subarray(0, 20), ...nonce, ...body.subarray(20, 28)]);
    expect(
      parseNeighborSolicitation({ type: ICMPV6_NEIGHBOR_SOLICITATION, code: 0, body: withNonceFirst })
        .sourceLinkLayer,
    ).toBe('02:00:00:00:00:01');
    const zero = Uint8Array.from([...body.subarray(0, 20), 1, 0, 0, 0, 0, 0, 0, 0]);
    expect(() =>
      parseNeighborSolicitation({ type: ICMPV6_NEIGHBOR_SOLICITATION, code: 0, body: zero }),
    ).toThrow(/length is 0/);
    expect(() => parseNeighborAdvertisement({ type: ICMPV6_PACKET_TOO_BIG, code: 0, body })).toThrow(
      DecodeError,
    );
    expect(() =>
      parseNeighborAdvertisement({ type: ICMPV6_NEIGHBOR_ADVERTISEMENT, code: 0, body: new Uint8Array(19) }),
    ).toThrow(DecodeError);
  });

  it('needs the pseudo-header or an explicit checksum to encode, and reports no validity without it', () => {
    const m = { type: 128, code: 0, body: new Uint8Array(4) };
    expect(() => icmpv6.encode(m)).toThrow(EncodeError);
    expect(() => icmpv6.encode(m, undefined, 0, { src: '10.0.0.1', dst: '10.0.0.2' })).toThrow(/IPv6/);
    const bytes = icmpv6.encode({ ...m, checksum: 0x1234 });
    expect(icmpv6.decode(bytes)).toEqual({ ...m, checksum: 0x1234 });
    expect(icmpv6.decode(bytes)).not.toHaveProperty('checksumValid');
  });

  it('throws only DecodeError on fuzzed input, helpers included', () => {
    const seeds = [
      CAPTURES.icmpv6EchoRequest,
      CAPTURES.neighborSolicitation,
      CAPTURES.neighborAdvertisement,
      CAPTURES.packetTooBig.subarray(0, 200),
    ].map(icmpOf);
    let turn = 0;
    const decode = (buf: Uint8Array, offset?: number, end?: number) => {
      const d = icmpv6.decode(buf, offset, end, turn++ % 2 === 0 ? A : undefined);
      if (d.type === ICMPV6_NEIGHBOR_SOLICITATION) parseNeighborSolicitation(d);
      if (d.type === ICMPV6_NEIGHBOR_ADVERTISEMENT) parseNeighborAdvertisement(d);
      if (d.type === ICMPV6_PACKET_TOO_BIG) parsePacketTooBig(d);
      return d;
    };
    const r = fuzz(decode, seeds, { seed: 0x3a, onDecoded: reencodes(icmpv6, A) });
    expect(r.runs).toBeGreaterThanOrEqual(100_000);
    expect(r.decoded).toBeGreaterThan(0);
    expect(r.rejected).toBeGreaterThan(0);
  });
});

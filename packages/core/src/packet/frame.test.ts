import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError, EncodeError } from '../errors.js';
import { buildFrame, type DecodedFrame, decodeFrame, type FrameSpec } from './frame.js';
import { mssOption } from './tcp.js';
import { arb, CAPTURES, fuzz, isDecodeErrorAt } from './test-support.js';

const MAC_A = '02:00:00:00:00:0a';
const MAC_B = '02:00:00:00:00:0b';

/** Every checksum in the frame, outer to inner, as [layer, valid]. */
function checksums(f: DecodedFrame): [string, boolean | undefined][] {
  const out: [string, boolean | undefined][] = [];
  for (const layer of ['ipv4', 'icmpv4', 'icmpv6', 'udp', 'tcp'] as const) {
    const l = f[layer];
    if (l !== undefined) out.push([layer, l.checksumValid]);
  }
  return f.inner === undefined
    ? out
    : [...out, ...checksums(f.inner).map(([l, v]): [string, boolean | undefined] => [`inner.${l}`, v])];
}

describe('decodeFrame', () => {
  it('decodes every captured frame with every checksum valid, and buildFrame rebuilds it byte for byte', () => {
    for (const [name, bytes] of Object.entries(CAPTURES)) {
      const f = decodeFrame(bytes);
      for (const [layer, valid] of checksums(f)) expect(valid, `${name} ${layer}`).toBe(true);
      expect(buildFrame(f), name).toEqual(bytes);
    }
  });

  it('decodes the flannel VXLAN SYN down to the inner TCP header', () => {
    const f = decodeFrame(CAPTURES.vxlanTcpSyn);
    expect(f.ethernet).toMatchObject({ src: MAC_A, dst: MAC_B, ethertype: 0x0800 });
    expect(f.ipv4).toMatchObject({ src: '192.168.50.10', dst: '192.168.50.11', protocol: 17 });
    expect(f.udp).toMatchObject({ dport: 8472, length: 90 });
    expect(f.vxlan).toMatchObject({ flags: 0x08, vni: 1 });
    expect(f.inner?.ethernet).toMatchObject({ src: '0a:58:0a:f4:00:02', dst: '0a:58:0a:f4:01:03' });
    expect(f.inner?.ipv4).toMatchObject({ src: '10.244.0.2', dst: '10.244.1.3', flags: { df: true } });
    expect(f.inner?.tcp).toMatchObject({
      sport: 42116,
      dport: 8080,
      flags: { syn: true },
      checksumValid: true,
    });
    expect(decodeFrame(CAPTURES.vxlanArpRequest).inner?.arp).toMatchObject({ op: 1, targetIp: '10.244.1.3' });
  });

  it('decodes ARP, ICMP, ICMPv6, UDP and TCP over IPv6', () => {
    expect(decodeFrame(CAPTURES.arpReply).arp).toMatchObject({ op: 2, senderMac: MAC_B });
    expect(decodeFrame(CAPTURES.icmpEchoRequest).icmpv4).toMatchObject({ type: 8, id: 0x1234, seq: 1 });
    expect(decodeFrame(CAPTURES.neighborAdvertisement).icmpv6).toMatchObject({
      type: 136,
      checksumValid: true,
    });
    expect(decodeFrame(CAPTURES.udp6).udp).toMatchObject({ sport: 42851, dport: 5353, checksumValid: true });
    expect(decodeFrame(CAPTURES.tcp6Syn).tcp).toMatchObject({
      dport: 8080,
      flags: { syn: true },
      checksumValid: true,
    });
    expect(decodeFrame(CAPTURES.fragNeeded).icmpv4).toMatchObject({ type: 3, code: 4, nextHopMtu: 1280 });
  });

  it('does not decode L4 in IPv4 fragments', () => {
    const spec: FrameSpec = {
      ethernet: { src: MAC_A, dst: MAC_B },
      ipv4: {
        src: '10.0.0.1',
        dst: '10.0.0.2',
        protocol: 17,
        flags: { mf: true },
        payload: new Uint8Array(16),
      },
    };
    const first = decodeFrame(buildFrame(spec));
    expect(first.ipv4?.flags.mf).toBe(true);
    expect(first.udp).toBeUndefined();
    const later = decodeFrame(
      buildFrame({ ...spec, ipv4: { ...spec.ipv4!, flags: {}, fragmentOffset: 1480 } }),
    );
    expect(later.udp).toBeUndefined();
  });

  it('decodes VXLAN on the configured ports only', () => {
    const spec: FrameSpec = {
      ethernet: { src: MAC_A, dst: MAC_B },
      ipv4: { src: '192.168.50.10', dst: '192.168.50.11' },
      udp: { sport: 1, dport: 4790 },
      vxlan: { vni: 7 },
      inner: { ethernet: { src: MAC_B, dst: MAC_A, ethertype: 0x88b5 } },
    };
    const bytes = buildFrame(spec);
    expect(decodeFrame(bytes).vxlan).toBeUndefined();
    expect(decodeFrame(bytes, { vxlanPorts: [4790] }).inner?.ethernet.ethertype).toBe(0x88b5);
    expect(decodeFrame(buildFrame({ ...spec, udp: { sport: 1, dport: 4789 } })).vxlan?.vni).toBe(7);
  });

  it('stops unwrapping VXLAN after 8 levels', () => {
    let spec: FrameSpec = { ethernet: { src: MAC_A, dst: MAC_B, ethertype: 0x88b5 } };
    for (let i = 0; i < 10; i++) {
      spec = {
        ethernet: { src: MAC_A, dst: MAC_B },
        ipv4: { src: '10.0.0.1', dst: '10.0.0.2' },
        udp: { sport: 1, dport: 4789 },
        vxlan: { vni: i },
        inner: spec,
      };
    }
    let f: DecodedFrame | undefined = decodeFrame(buildFrame(spec));
    let depth = 0;
    while (f?.inner !== undefined) {
      f = f.inner;
      depth++;
    }
    expect(depth).toBe(8);
    expect(f?.udp?.dport).toBe(4789);
    expect(f?.vxlan).toBeUndefined();
  });

  it('reports errors at their byte offset in the whole frame', () => {
    const truncated = CAPTURES.vxlanTcpSyn.slice();
    truncated[50 + 14 + 20 + 12] = 0x40;
    try {
      decodeFrame(truncated);
      expect.unreachable();
    } catch (e) {
      expect(isDecodeErrorAt('tcp')(e)).toBe(true);
      expect((e as DecodeError).offset).toBe(96);
    }
    expect(() => decodeFrame(CAPTURES.udp4.subarray(0, 40))).toThrow(DecodeError);
  });

  it('throws only DecodeError on fuzzed frames', () => {
    const r = fuzz(
      (b, offset = 0, end = b.length) => decodeFrame(b.subarray(offset, end)),
      Object.values(CAPTURES),
      {
        seed: 0xf1,
        maxLength: 128,
        onDecoded: (f: DecodedFrame) => decodeFrame(buildFrame(f)),
      },
    );
    expect(r.runs).toBeGreaterThanOrEqual(100_000);
    expect(r.decoded).toBeGreaterThan(0);
    expect(r.rejected).toBeGreaterThan(0);
  });
});

const flags = fc.record(
  { syn: fc.boolean(), ack: fc.boolean(), fin: fc.boolean(), rst: fc.boolean(), psh: fc.boolean() },
  { requiredKeys: [] },
);
const tcpSpec = fc.record(
  {
    sport: arb.u16,
    dport: arb.u16,
    seq: arb.u32,
    ack: arb.u32,
    flags,
    window: arb.u16,
    options: arb.options,
    payload: arb.bytes(64),
  },
  { requiredKeys: ['sport', 'dport'] },
);
const udpSpec = fc.record({
  sport: arb.u16,
  dport: arb.u16.filter((p) => p !== 4789 && p !== 8472),
  payload: arb.bytes(64),
});
const l2 = fc.record({ src: arb.mac, dst: arb.mac });
const v4 = fc.record(
  { src: arb.ipv4, dst: arb.ipv4, ttl: arb.u8, id: arb.u16, tos: arb.u8 },
  { requiredKeys: ['src', 'dst'] },
);
const v6 = fc.record(
  { src: arb.ipv6, dst: arb.ipv6, hopLimit: arb.u8, flowLabel: fc.integer({ min: 0, max: 0xfffff }) },
  { requiredKeys: ['src', 'dst'] },
);
const icmpv4Spec = fc.record({
  type: fc.constantFrom(0, 8),
  code: fc.constant(0),
  id: arb.u16,
  seq: arb.u16,
  payload: arb.bytes(56),
});
const icmpv6Spec = fc.record({ type: arb.u8, code: arb.u8, body: arb.bytes(56) });

const simple: fc.Arbitrary<FrameSpec> = fc.oneof(
  fc.record({ ethernet: l2, ipv4: v4, tcp: tcpSpec }),
  fc.record({ ethernet: l2, ipv4: v4, udp: udpSpec }),
  fc.record({ ethernet: l2, ipv4: v4, icmpv4: icmpv4Spec }),
  fc.record({ ethernet: l2, ipv6: v6, tcp: tcpSpec }),
  fc.record({ ethernet: l2, ipv6: v6, udp: udpSpec }),
  fc.record({ ethernet: l2, ipv6: v6, icmpv6: icmpv6Spec }),
  fc.record({
    ethernet: l2,
    arp: fc.record({
      op: fc.constantFrom(1, 2),
      senderMac: arb.mac,
      senderIp: arb.ipv4,
      targetMac: arb.mac,
      targetIp: arb.ipv4,
    }),
  }),
);
const overlay: fc.Arbitrary<FrameSpec> = fc.record({
  ethernet: l2,
  ipv4: v4,
  udp: fc.record({ sport: arb.u16, dport: fc.constantFrom(4789, 8472) }),
  vxlan: fc.record({ vni: fc.integer({ min: 0, max: 0xffffff }) }),
  inner: simple,
});

describe('buildFrame', () => {
  it('builds frames that decode to what was described, with every checksum valid', () => {
    fc.assert(
      fc.property(fc.oneof(simple, overlay), (spec) => {
        const f = decodeFrame(buildFrame(spec));
        expect(f).toMatchObject(spec);
        for (const [layer, valid] of checksums(f)) expect(valid, layer).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('fills defaults: TTL 64, window 65535, VXLAN I flag, MSS from options', () => {
    const f = decodeFrame(
      buildFrame({
        ethernet: { src: MAC_A, dst: MAC_B },
        ipv4: { src: '10.244.0.2', dst: '10.244.1.3' },
        tcp: { sport: 40000, dport: 8080, flags: { syn: true }, options: mssOption(1410) },
      }),
    );
    expect(f.ipv4).toMatchObject({ ttl: 64, id: 0, tos: 0, flags: { df: false, mf: false }, protocol: 6 });
    expect(f.tcp).toMatchObject({ seq: 0, window: 65535, dataOffset: 6, flags: { syn: true, ack: false } });
  });

  it('refuses inconsistent descriptions with EncodeError', () => {
    const ethernet = { src: MAC_A, dst: MAC_B };
    const ipv4 = { src: '10.0.0.1', dst: '10.0.0.2' };
    const ipv6 = { src: 'fd00::1', dst: 'fd00::2' };
    const bad: FrameSpec[] = [
      { ethernet },
      { ethernet, ipv4, ipv6 },
      { ethernet, tcp: { sport: 1, dport: 2 } },
      { ethernet, ipv4, tcp: { sport: 1, dport: 2 }, udp: { sport: 1, dport: 2 } },
      { ethernet, ipv4, vxlan: { vni: 1 } },
      { ethernet, ipv4, udp: { sport: 1, dport: 2 }, inner: { ethernet, ipv4 } },
      { ethernet, ipv6, icmpv4: { type: 8, code: 0 } },
      { ethernet, ipv4, icmpv6: { type: 128, code: 0 } },
      { ethernet: { ...ethernet, src: 'nope' }, ipv4 },
      { ethernet, ipv4: { ...ipv4, dst: 'fd00::1' }, udp: { sport: 1, dport: 2 } },
    ];
    for (const spec of bad) expect(() => buildFrame(spec), JSON.stringify(spec)).toThrow(EncodeError);
  });

  it('accepts a decoded frame as a description', () => {
    const spec: FrameSpec = decodeFrame(CAPTURES.vxlanTcpData);
    expect(buildFrame(spec)).toEqual(CAPTURES.vxlanTcpData);
  });
});

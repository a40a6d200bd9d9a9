/**
 * Real wire bytes for the emulator's packets, with the @podnet/core codecs: what a pcap shows and
 * what a TUN reader gets, and the way back for what an app writes into a TUN.
 */
import {
  buildFrame,
  DecodeError,
  type DecodedFrame,
  decodeFrame,
  type FrameSpec,
  internetChecksum,
  neighborAdvertisement,
  neighborSolicitation,
  packetTooBig,
  parseNeighborAdvertisement,
  parseNeighborSolicitation,
} from '@podnet/core';
import {
  type Frame,
  type IcmpHeader,
  type IpPacket,
  packet,
  PROTO_ICMP,
  PROTO_ICMPV6,
  PROTO_TCP,
  PROTO_UDP,
  quotedLength,
  type Tag,
  TCP_ACK,
  TCP_FIN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  ZERO_MAC,
} from './packet.js';

const zeros = (n: number) => new Uint8Array(n);

/** The Ethernet frame's bytes (IPv4/IPv6 with TCP/UDP/ICMP, VXLAN and its inner frame, or ARP). */
export function encodeFrame(f: Frame): Uint8Array {
  return buildFrame(frameSpec(f));
}

/** The IP packet's bytes (no link header), as a TUN reader gets them. */
export function encodeIpPacket(p: IpPacket): Uint8Array {
  return buildFrame({ ethernet: { src: ZERO_MAC, dst: ZERO_MAC }, ...ipSpec(p) }).slice(14);
}

/**
 * The frames a device really sends for `f`: one per IPv4 fragment when the packet (or the inner
 * packet a VXLAN datagram carries) is fragmented, else `f` whole. `raw` = IP bytes, no link header.
 */
export function encodeWire(f: Frame, raw = false): Uint8Array[] {
  const p = f.ip;
  if (!p) return [encodeFrame(f)];
  if (p.frag) return splitIpv4(raw ? encodeIpPacket(p) : encodeFrame(f), raw ? 0 : 14, p.frag);
  const l4 = p.l4;
  if (l4.kind !== 'udp' || !l4.vxlan?.frame.ip?.frag) return [raw ? encodeIpPacket(p) : encodeFrame(f)];
  // One VXLAN datagram per inner fragment, each a whole (unfragmented) outer packet.
  const vni = l4.vxlan.vni;
  return encodeWire(l4.vxlan.frame).map((inner, i) => {
    const payload = new Uint8Array(8 + inner.length);
    payload[0] = 0x08;
    payload[4] = (vni >> 16) & 255;
    payload[5] = (vni >> 8) & 255;
    payload[6] = vni & 255;
    payload.set(inner, 8);
    const outer = packet({
      ...p,
      id: (p.id + i) & 0xffff,
      l4: { ...l4, vxlan: undefined, payload, dataLength: payload.length },
    });
    return raw ? encodeIpPacket(outer) : encodeFrame({ ...f, ip: outer });
  });
}

/** ip_fragment on bytes: the IPv4 packet at `off` cut into fragments of the given total lengths. */
function splitIpv4(bytes: Uint8Array, off: number, sizes: readonly number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = off + 20;
  for (let i = 0; i < sizes.length; i++) {
    const data = sizes[i]! - 20;
    const b = new Uint8Array(off + sizes[i]!);
    b.set(bytes.subarray(0, off + 20), 0);
    b.set(bytes.subarray(at, at + data), off + 20);
    const fragOff = (at - off - 20) / 8;
    const flags = i < sizes.length - 1 ? 0x2000 : 0;
    b[off + 2] = sizes[i]! >> 8;
    b[off + 3] = sizes[i]! & 255;
    b[off + 6] = (flags | fragOff) >> 8;
    b[off + 7] = (flags | fragOff) & 255;
    b[off + 10] = 0;
    b[off + 11] = 0;
    const sum = internetChecksum(b, off, off + 20);
    b[off + 10] = sum >> 8;
    b[off + 11] = sum & 255;
    out.push(b);
    at += data;
  }
  return out;
}

function frameSpec(f: Frame): FrameSpec {
  if (f.arp) return { ethernet: { src: f.src, dst: f.dst }, arp: { ...f.arp } };
  return { ethernet: { src: f.src, dst: f.dst }, ...ipSpec(f.ip!) };
}

function ipSpec(p: IpPacket): Omit<FrameSpec, 'ethernet'> {
  const spec: Omit<FrameSpec, 'ethernet'> =
    p.family === 4
      ? { ipv4: { src: p.src, dst: p.dst, ttl: p.ttl, id: p.id, flags: { df: p.df }, protocol: p.proto } }
      : { ipv6: { src: p.src, dst: p.dst, hopLimit: p.ttl, nextHeader: p.proto } };
  const l4 = p.l4;
  if (l4.kind === 'tcp') {
    spec.tcp = {
      sport: l4.sport,
      dport: l4.dport,
      seq: l4.seq >>> 0,
      ack: l4.ack >>> 0,
      flags: {
        syn: (l4.flags & TCP_SYN) !== 0,
        ack: (l4.flags & TCP_ACK) !== 0,
        rst: (l4.flags & TCP_RST) !== 0,
        fin: (l4.flags & TCP_FIN) !== 0,
        psh: (l4.flags & TCP_PSH) !== 0,
      },
      payload: l4.payload ?? zeros(l4.dataLength),
    };
  } else if (l4.kind === 'udp') {
    if (l4.vxlan) {
      spec.udp = { sport: l4.sport, dport: l4.dport };
      spec.vxlan = { vni: l4.vxlan.vni };
      spec.inner = frameSpec(l4.vxlan.frame);
    } else {
      spec.udp = { sport: l4.sport, dport: l4.dport, payload: l4.payload ?? zeros(l4.dataLength) };
    }
  } else if (p.family === 4) {
    spec.icmpv4 = icmp4Spec(l4);
  } else {
    spec.icmpv6 = icmp6Spec(l4);
  }
  return spec;
}

function quotedBytes(l4: IcmpHeader, family: 4 | 6): Uint8Array {
  const q = l4.quoted!;
  return encodeIpPacket(q).slice(0, quotedLength(q, family));
}

function icmp4Spec(l4: IcmpHeader): NonNullable<FrameSpec['icmpv4']> {
  if (l4.quoted) {
    return {
      type: l4.type,
      code: l4.code,
      ...(l4.mtu !== undefined ? { nextHopMtu: l4.mtu } : {}),
      payload: quotedBytes(l4, 4),
    };
  }
  return { type: l4.type, code: l4.code, id: l4.id ?? 0, seq: l4.seq ?? 0, payload: zeros(l4.dataLength) };
}

function icmp6Spec(l4: IcmpHeader): NonNullable<FrameSpec['icmpv6']> {
  if (l4.ndTarget !== undefined) {
    const m =
      l4.type === 135
        ? neighborSolicitation({ target: l4.ndTarget, sourceLinkLayer: l4.ndLladdr })
        : neighborAdvertisement({
            target: l4.ndTarget,
            router: l4.ndFlags?.router ?? false,
            solicited: l4.ndFlags?.solicited ?? false,
            override: l4.ndFlags?.override ?? false,
            targetLinkLayer: l4.ndLladdr,
          });
    return { type: m.type, code: m.code, body: m.body };
  }
  if (l4.quoted) {
    if (l4.type === 2) {
      const m = packetTooBig({ mtu: l4.mtu ?? 1280, packet: quotedBytes(l4, 6) });
      return { type: m.type, code: m.code, body: m.body };
    }
    const q = quotedBytes(l4, 6);
    const body = new Uint8Array(4 + q.length);
    body.set(q, 4);
    return { type: l4.type, code: l4.code, body };
  }
  const body = new Uint8Array(4 + l4.dataLength);
  body[0] = ((l4.id ?? 0) >> 8) & 255;
  body[1] = (l4.id ?? 0) & 255;
  body[2] = ((l4.seq ?? 0) >> 8) & 255;
  body[3] = (l4.seq ?? 0) & 255;
  return { type: l4.type, code: l4.code, body };
}

// ---------------------------------------------------------------------------------------------
// decode

/** An IP packet from bytes (what an app writes into a TUN). Throws DecodeError. */
export function decodeIpPacket(bytes: Uint8Array, tag: Tag): IpPacket {
  if (!(bytes instanceof Uint8Array) || bytes.length < 1) throw new DecodeError('ip', 0, 'empty packet');
  const version = bytes[0] >> 4;
  if (version !== 4 && version !== 6) throw new DecodeError('ip', 0, `version ${version} is neither 4 nor 6`);
  const framed = new Uint8Array(14 + bytes.length);
  framed[12] = version === 4 ? 0x08 : 0x86;
  framed[13] = version === 4 ? 0x00 : 0xdd;
  framed.set(bytes, 14);
  const d = decodeFrame(framed);
  const p = fromDecoded(d, tag);
  if (!p) throw new DecodeError('ip', 0, 'not a TCP, UDP or ICMP packet');
  return p;
}

/** An Ethernet frame from bytes (a VXLAN payload that arrived as raw bytes); undefined when it does not decode. */
export function decodeEthernet(bytes: Uint8Array, tag: Tag): Frame | undefined {
  try {
    return frameFromDecoded(decodeFrame(bytes), tag);
  } catch (e) {
    if (DecodeError.is(e)) return undefined;
    throw e;
  }
}

function frameFromDecoded(d: DecodedFrame, tag: Tag): Frame | undefined {
  const f: Frame = { src: d.ethernet.src, dst: d.ethernet.dst, tag };
  if (d.arp) {
    if (d.arp.op !== 1 && d.arp.op !== 2) return undefined;
    f.arp = { ...d.arp, op: d.arp.op };
    return f;
  }
  const ip = fromDecoded(d, tag);
  if (!ip) return undefined;
  f.ip = ip;
  return f;
}

function fromDecoded(d: DecodedFrame, tag: Tag): IpPacket | undefined {
  const v4 = d.ipv4;
  const v6 = d.ipv6;
  if (!v4 && !v6) return undefined;
  const base = v4
    ? {
        family: 4 as const,
        src: v4.src,
        dst: v4.dst,
        proto: v4.protocol,
        ttl: v4.ttl,
        id: v4.id,
        df: v4.flags.df,
      }
    : {
        family: 6 as const,
        src: v6!.src,
        dst: v6!.dst,
        proto: v6!.nextHeader,
        ttl: v6!.hopLimit,
        id: 0,
        df: false,
      };
  const family = base.family;
  let l4: IpPacket['l4'] | undefined;
  if (d.tcp) {
    const t = d.tcp;
    const flags =
      (t.flags.syn ? TCP_SYN : 0) |
      (t.flags.ack ? TCP_ACK : 0) |
      (t.flags.rst ? TCP_RST : 0) |
      (t.flags.fin ? TCP_FIN : 0) |
      (t.flags.psh ? TCP_PSH : 0);
    l4 = {
      kind: 'tcp',
      sport: t.sport,
      dport: t.dport,
      flags,
      seq: t.seq,
      ack: t.ack,
      dataLength: t.payload.length,
      payload: t.payload,
    };
  } else if (d.udp) {
    const u = d.udp;
    const inner = d.vxlan && d.inner ? frameFromDecoded(d.inner, tag) : undefined;
    l4 = inner
      ? {
          kind: 'udp',
          sport: u.sport,
          dport: u.dport,
          dataLength: u.payload.length,
          vxlan: { vni: d.vxlan!.vni, frame: inner },
        }
      : { kind: 'udp', sport: u.sport, dport: u.dport, dataLength: u.payload.length, payload: u.payload };
  } else if (d.icmpv4) {
    const m = d.icmpv4;
    const err = m.type === 3 || m.type === 11;
    l4 = err
      ? {
          kind: 'icmp',
          type: m.type,
          code: m.code,
          mtu: m.nextHopMtu,
          quoted: parseQuoted(m.payload, 4, tag),
          dataLength: 0,
        }
      : { kind: 'icmp', type: m.type, code: m.code, id: m.id, seq: m.seq, dataLength: m.payload.length };
  } else if (d.icmpv6) {
    const m = d.icmpv6;
    const b = m.body;
    if (m.type === 135) {
      const ns = parseNeighborSolicitation(m);
      l4 = {
        kind: 'icmp',
        type: 135,
        code: 0,
        dataLength: 0,
        ndTarget: ns.target,
        ndLladdr: ns.sourceLinkLayer,
      };
    } else if (m.type === 136) {
      const na = parseNeighborAdvertisement(m);
      l4 = {
        kind: 'icmp',
        type: 136,
        code: 0,
        dataLength: 0,
        ndTarget: na.target,
        ndLladdr: na.targetLinkLayer,
        ndFlags: { router: na.router, solicited: na.solicited, override: na.override },
      };
    } else if (m.type >= 1 && m.type <= 3) {
      const mtu =
        m.type === 2 && b.length >= 4 ? ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0 : undefined;
      l4 = {
        kind: 'icmp',
        type: m.type,
        code: m.code,
        mtu,
        quoted: parseQuoted(b.subarray(4), 6, tag),
        dataLength: 0,
      };
    } else {
      const id = b.length >= 2 ? (b[0] << 8) | b[1] : 0;
      const seq = b.length >= 4 ? (b[2] << 8) | b[3] : 0;
      l4 = { kind: 'icmp', type: m.type, code: m.code, id, seq, dataLength: Math.max(0, b.length - 4) };
    }
  }
  if (!l4) return undefined;
  if (l4.kind === 'icmp' && family === 4 && base.proto !== PROTO_ICMP) return undefined;
  if (l4.kind === 'icmp' && family === 6 && base.proto !== PROTO_ICMPV6) return undefined;
  if (l4.kind === 'tcp' && base.proto !== PROTO_TCP) return undefined;
  if (l4.kind === 'udp' && base.proto !== PROTO_UDP) return undefined;
  return packet({ ...base, l4, mark: 0, tag });
}

/** The headers of a quoted (possibly truncated) packet inside an ICMP error. */
function parseQuoted(b: Uint8Array, family: 4 | 6, tag: Tag): IpPacket | undefined {
  const hl = family === 4 ? (b[0] & 15) * 4 : 40;
  if (b.length < hl + 8) return undefined;
  const text = (o: number) => (family === 4 ? `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}` : v6(b, o));
  const src = text(family === 4 ? 12 : 8);
  const dst = text(family === 4 ? 16 : 24);
  const proto = family === 4 ? b[9] : b[6];
  const u16 = (o: number) => (b[o] << 8) | b[o + 1];
  let l4: IpPacket['l4'];
  if (proto === PROTO_TCP)
    l4 = { kind: 'tcp', sport: u16(hl), dport: u16(hl + 2), flags: 0, seq: 0, ack: 0, dataLength: 0 };
  else if (proto === PROTO_UDP) l4 = { kind: 'udp', sport: u16(hl), dport: u16(hl + 2), dataLength: 0 };
  else l4 = { kind: 'icmp', type: b[hl], code: b[hl + 1], id: u16(hl + 4), seq: u16(hl + 6), dataLength: 0 };
  return packet({
    family,
    src,
    dst,
    proto,
    ttl: family === 4 ? b[8] : b[7],
    id: 0,
    df: false,
    l4,
    mark: 0,
    tag,
  });
}

function v6(b: Uint8Array, o: number): string {
  const words: string[] = [];
  for (let i = 0; i < 8; i++) words.push(((b[o + 2 * i] << 8) | b[o + 2 * i + 1]).toString(16));
  // Compress the longest zero run (RFC 5952).
  let best = -1;
  let len = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === '0') j++;
    if (j - i > len) {
      best = i;
      len = j - i;
    }
    i = j;
  }
  if (best < 0) return words.join(':');
  return `${words.slice(0, best).join(':')}::${words.slice(best + len).join(':')}`;
}

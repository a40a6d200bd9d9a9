import { EncodeError } from '../errors.js';
import { type ArpPacket, arp } from './arp.js';
import type { PseudoHeader } from './codec.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, type EthernetFrame, ethernet } from './ethernet.js';
import { type Icmpv4Decoded, type Icmpv4Message, icmpv4 } from './icmpv4.js';
import { type Icmpv6Decoded, type Icmpv6Message, icmpv6 } from './icmpv6.js';
import {
  IP_PROTOCOL_ICMP,
  IP_PROTOCOL_ICMPV6,
  IP_PROTOCOL_TCP,
  IP_PROTOCOL_UDP,
  type Ipv4Decoded,
  type Ipv4Flags,
  type Ipv4Packet,
  ipv4,
} from './ipv4.js';
import { type Ipv6Packet, ipv6 } from './ipv6.js';
import { type TcpDecoded, type TcpFlags, type TcpSegment, tcp } from './tcp.js';
import { type UdpDecoded, udp } from './udp.js';
import { VXLAN_FLAG_I, VXLAN_LINUX_PORT, VXLAN_PORT, type VxlanPacket, vxlan } from './vxlan.js';

/**
 * A frame decoded layer by layer. Each layer's `payload` is the raw bytes above it; the next layer
 * is decoded when podnet knows it. L4 is not decoded for IPv4 fragments.
 */
export interface DecodedFrame {
  ethernet: EthernetFrame;
  arp?: ArpPacket;
  ipv4?: Ipv4Decoded;
  ipv6?: Ipv6Packet;
  icmpv4?: Icmpv4Decoded;
  icmpv6?: Icmpv6Decoded;
  udp?: UdpDecoded;
  tcp?: TcpDecoded;
  vxlan?: VxlanPacket;
  /** The Ethernet frame carried by `vxlan`. */
  inner?: DecodedFrame;
}

export interface DecodeFrameOptions {
  /**
   * UDP destination ports whose payload is decoded as VXLAN.
   * @default [4789, 8472]
   */
  vxlanPorts?: readonly number[];
}

/**
 * What `buildFrame` makes: one layer per field, the same shape as `DecodedFrame` (so a decoded frame
 * can be rebuilt). Lengths, checksums, ethertype and IP protocol are filled from the layers present;
 * a layer's `payload` is used only when no layer above it is given. Defaults: TTL/hop limit 64, TCP
 * window 65535, VXLAN flags I, IPv6 next header 59 (none) without a layer above, every other number 0.
 */
export interface FrameSpec {
  /** `ethertype` is used only with a raw `payload`. */
  ethernet: { src: string; dst: string; ethertype?: number; payload?: Uint8Array };
  arp?: ArpPacket;
  ipv4?: Partial<Omit<Ipv4Packet, 'flags' | 'checksum'>> & {
    src: string;
    dst: string;
    flags?: Partial<Ipv4Flags>;
  };
  ipv6?: Partial<Ipv6Packet> & { src: string; dst: string };
  icmpv4?: Omit<Icmpv4Message, 'payload' | 'checksum'> & { payload?: Uint8Array };
  icmpv6?: Omit<Icmpv6Message, 'body' | 'checksum'> & { body?: Uint8Array };
  udp?: { sport: number; dport: number; payload?: Uint8Array };
  tcp?: Partial<Omit<TcpSegment, 'flags' | 'checksum'>> & {
    sport: number;
    dport: number;
    flags?: Partial<TcpFlags>;
  };
  /** Needs `udp`; carries `inner` when given, else `payload`. */
  vxlan?: { vni: number; flags?: number; payload?: Uint8Array };
  inner?: FrameSpec;
}

const MAX_DEPTH = 8;
const EMPTY = new Uint8Array(0);

/** Decodes Ethernet, then ARP/IPv4/IPv6, then ICMP/UDP/TCP, then VXLAN and its inner frame (up to 8 deep). Throws only `DecodeError`. */
export function decodeFrame(bytes: Uint8Array, options: DecodeFrameOptions = {}): DecodedFrame {
  return decodeAt(bytes, 0, bytes?.length, options.vxlanPorts ?? [VXLAN_PORT, VXLAN_LINUX_PORT], 0);
}

function decodeAt(
  root: Uint8Array,
  start: number,
  end: number,
  ports: readonly number[],
  depth: number,
): DecodedFrame {
  const at = (view: Uint8Array) => view.byteOffset - root.byteOffset;
  const frame: DecodedFrame = { ethernet: ethernet.decode(root, start, end) };
  const p = frame.ethernet.payload;
  let l4: { protocol: number; payload: Uint8Array; ip: PseudoHeader; v6: boolean } | undefined;
  if (frame.ethernet.ethertype === ETHERTYPE_ARP) {
    frame.arp = arp.decode(root, at(p), at(p) + p.length);
  } else if (frame.ethernet.ethertype === ETHERTYPE_IPV4) {
    const ip = (frame.ipv4 = ipv4.decode(root, at(p), at(p) + p.length));
    if (ip.fragmentOffset === 0 && !ip.flags.mf)
      l4 = { protocol: ip.protocol, payload: ip.payload, ip, v6: false };
  } else if (frame.ethernet.ethertype === ETHERTYPE_IPV6) {
    const ip = (frame.ipv6 = ipv6.decode(root, at(p), at(p) + p.length));
    l4 = { protocol: ip.nextHeader, payload: ip.payload, ip, v6: true };
  }
  if (l4 === undefined) return frame;
  const s = at(l4.payload);
  const e = s + l4.payload.length;
  const ip = { src: l4.ip.src, dst: l4.ip.dst };
  if (l4.protocol === IP_PROTOCOL_TCP) frame.tcp = tcp.decode(root, s, e, ip);
  else if (l4.protocol === IP_PROTOCOL_UDP) frame.udp = udp.decode(root, s, e, ip);
  else if (l4.protocol === IP_PROTOCOL_ICMP && !l4.v6) frame.icmpv4 = icmpv4.decode(root, s, e);
  else if (l4.protocol === IP_PROTOCOL_ICMPV6 && l4.v6) frame.icmpv6 = icmpv6.decode(root, s, e, ip);
  if (frame.udp !== undefined && ports.includes(frame.udp.dport) && depth < MAX_DEPTH) {
    const u = frame.udp.payload;
    const v = (frame.vxlan = vxlan.decode(root, at(u), at(u) + u.length));
    frame.inner = decodeAt(root, at(v.payload), at(v.payload) + v.payload.length, ports, depth + 1);
  }
  return frame;
}

const fail = (message: string) => new EncodeError('frame', message);
const count = (...layers: unknown[]) => layers.filter((l) => l !== undefined).length;

/** Builds the bytes of a frame from its layers. Throws `EncodeError` on a bad or inconsistent description. */
export function buildFrame(spec: FrameSpec): Uint8Array {
  if (count(spec.arp, spec.ipv4, spec.ipv6) > 1) throw fail('give at most one of arp, ipv4, ipv6');
  if (count(spec.icmpv4, spec.icmpv6, spec.udp, spec.tcp) > 1)
    throw fail('give at most one of icmpv4, icmpv6, udp, tcp');
  if (spec.vxlan !== undefined && spec.udp === undefined) throw fail('vxlan needs udp');
  if (spec.inner !== undefined && spec.vxlan === undefined) throw fail('inner needs vxlan');
  const eth = spec.ethernet;
  let ethertype = eth.ethertype;
  let payload = eth.payload ?? EMPTY;
  if (spec.arp !== undefined) {
    ethertype = ETHERTYPE_ARP;
    payload = arp.encode(spec.arp);
  } else if (spec.ipv4 !== undefined) {
    const s = spec.ipv4;
    const l4 = transport(spec, s, false);
    ethertype = ETHERTYPE_IPV4;
    payload = ipv4.encode({
      tos: s.tos ?? 0,
      id: s.id ?? 0,
      flags: { df: s.flags?.df ?? false, mf: s.flags?.mf ?? false },
      fragmentOffset: s.fragmentOffset ?? 0,
      ttl: s.ttl ?? 64,
      protocol: l4?.protocol ?? s.protocol ?? 0,
      src: s.src,
      dst: s.dst,
      options: s.options ?? EMPTY,
      payload: l4?.bytes ?? s.payload ?? EMPTY,
    });
  } else if (spec.ipv6 !== undefined) {
    const s = spec.ipv6;
    const l4 = transport(spec, s, true);
    ethertype = ETHERTYPE_IPV6;
    payload = ipv6.encode({
      trafficClass: s.trafficClass ?? 0,
      flowLabel: s.flowLabel ?? 0,
      nextHeader: l4?.protocol ?? s.nextHeader ?? 59,
      hopLimit: s.hopLimit ?? 64,
      src: s.src,
      dst: s.dst,
      payload: l4?.bytes ?? s.payload ?? EMPTY,
    });
  } else if (count(spec.icmpv4, spec.icmpv6, spec.udp, spec.tcp) > 0) {
    throw fail('icmpv4, icmpv6, udp and tcp need ipv4 or ipv6');
  }
  if (ethertype === undefined) throw fail('ethernet.ethertype is needed with a raw payload');
  return ethernet.encode({ dst: eth.dst, src: eth.src, ethertype, payload });
}

function transport(
  spec: FrameSpec,
  ip: PseudoHeader,
  v6: boolean,
): { protocol: number; bytes: Uint8Array } | undefined {
  const pseudo = { src: ip.src, dst: ip.dst };
  if (spec.tcp !== undefined) {
    const t = spec.tcp;
    const f = t.flags ?? {};
    const flags = {
      fin: f.fin ?? false,
      syn: f.syn ?? false,
      rst: f.rst ?? false,
      psh: f.psh ?? false,
      ack: f.ack ?? false,
      urg: f.urg ?? false,
      ece: f.ece ?? false,
      cwr: f.cwr ?? false,
    };
    const segment: TcpSegment = {
      sport: t.sport,
      dport: t.dport,
      seq: t.seq ?? 0,
      ack: t.ack ?? 0,
      flags,
      window: t.window ?? 65535,
      urgentPointer: t.urgentPointer ?? 0,
      options: t.options ?? EMPTY,
      payload: t.payload ?? EMPTY,
    };
    return { protocol: IP_PROTOCOL_TCP, bytes: tcp.encode(segment, undefined, 0, pseudo) };
  }
  if (spec.udp !== undefined) {
    const v = spec.vxlan;
    const payload =
      v === undefined
        ? (spec.udp.payload ?? EMPTY)
        : vxlan.encode({
            flags: v.flags ?? VXLAN_FLAG_I,
            vni: v.vni,
            payload: spec.inner === undefined ? (v.payload ?? EMPTY) : buildFrame(spec.inner),
          });
    const d = { sport: spec.udp.sport, dport: spec.udp.dport, payload };
    return { protocol: IP_PROTOCOL_UDP, bytes: udp.encode(d, undefined, 0, pseudo) };
  }
  if (spec.icmpv4 !== undefined) {
    if (v6) throw fail('icmpv4 needs ipv4');
    const m = { ...spec.icmpv4, payload: spec.icmpv4.payload ?? EMPTY, checksum: undefined };
    return { protocol: IP_PROTOCOL_ICMP, bytes: icmpv4.encode(m) };
  }
  if (spec.icmpv6 !== undefined) {
    if (!v6) throw fail('icmpv6 needs ipv6');
    const m = { type: spec.icmpv6.type, code: spec.icmpv6.code, body: spec.icmpv6.body ?? EMPTY };
    return { protocol: IP_PROTOCOL_ICMPV6, bytes: icmpv6.encode(m, undefined, 0, pseudo) };
  }
  return undefined;
}

/**
 * The emulator's in-memory packet: parsed headers as plain fields, so a trace never encodes or
 * decodes bytes on the hot path. `frame-bytes.ts` turns one into real wire bytes (pcap, TUN) with
 * the @podnet/core codecs and back.
 */
import type { L4Protocol } from './hooks.js';
import type { PacketSummary } from './run.js';

export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const PROTO_ICMPV6 = 58;
export const PROTO_SCTP = 132;

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

export const BROADCAST_MAC = 'ff:ff:ff:ff:ff:ff';
export const ZERO_MAC = '00:00:00:00:00:00';

/** One direction of one exchange (a trace's connection, or one an app opened). */
export interface Leg {
  readonly id: number;
  readonly orig: Tag;
  readonly reply: Tag;
  /** Packets answering the answer (a RST for a SYN-ACK nobody waits for): recorded, but they decide nothing. */
  readonly late: Tag;
  /** The leg that caused this one (a proxy's next hop), undefined for the traced exchange. */
  readonly parent?: Leg;
  /** Opened while handling the traced exchange's reply: its hops belong to the reply path. */
  readonly replySection: boolean;
  /** TCP: what the client sends once connected, and what the server's handler answered. */
  request?: Uint8Array;
  response?: Uint8Array;
  served?: boolean;
  /** Outcome per direction: the last terminal event wins. */
  origEnd?: TerminalEvent;
  replyEnd?: TerminalEvent;
}

export interface Tag {
  readonly leg: Leg;
  readonly isReply: boolean;
  readonly late?: boolean;
}

export interface TerminalEvent {
  verdict: 'delivered' | 'dropped' | 'rejected' | 'unreachable';
  reason?: string;
  delivered?: { node: string; pod?: string; netns: string; ip: string; port?: number };
}

export interface TcpHeader {
  kind: 'tcp';
  sport: number;
  dport: number;
  flags: number;
  seq: number;
  ack: number;
  /** Payload bytes carried (the segment is padded with zeros when `payload` is absent). */
  dataLength: number;
  payload?: Uint8Array;
}

export interface UdpHeader {
  kind: 'udp';
  sport: number;
  dport: number;
  dataLength: number;
  payload?: Uint8Array;
  /** A VXLAN packet carried in this datagram. */
  vxlan?: { vni: number; frame: Frame };
}

export interface IcmpHeader {
  kind: 'icmp';
  type: number;
  code: number;
  id?: number;
  seq?: number;
  /** Next-hop MTU of "fragmentation needed" / "packet too big". */
  mtu?: number;
  /** The offending packet an error quotes (a snapshot). */
  quoted?: IpPacket;
  /** Echo data bytes. */
  dataLength: number;
  /** Neighbour discovery: target address and link-layer option. */
  ndTarget?: string;
  ndLladdr?: string;
  ndFlags?: { router: boolean; solicited: boolean; override: boolean };
}

export type L4Header = TcpHeader | UdpHeader | IcmpHeader;

export interface IpPacket {
  family: 4 | 6;
  src: string;
  dst: string;
  /** IP protocol number (6, 17, 1, 58). */
  proto: number;
  ttl: number;
  id: number;
  df: boolean;
  l4: L4Header;
  /** skb->mark and skb->_nfct, cleared on a namespace crossing. */
  mark: number;
  ct?: unknown;
  /** Which exchange and direction this packet belongs to. */
  tag: Tag;
  /** The trace summary of the headers as they are now; cleared by whatever changes them. */
  sum?: PacketSummary;
  /**
   * IPv4 fragments this packet travels as (each one's IP total length), set by ip_fragment at an
   * egress device and cleared by reassembly: the packet moves as one unit carrying the sizes.
   */
  frag?: number[];
}

export interface ArpMessage {
  op: 1 | 2;
  senderMac: string;
  senderIp: string;
  targetMac: string;
  targetIp: string;
}

export interface Frame {
  src: string;
  dst: string;
  ip?: IpPacket;
  arp?: ArpMessage;
  /** The exchange an ARP frame serves (IP frames carry it on `ip`). */
  tag: Tag;
}

export function l4Length(l4: L4Header, family: 4 | 6): number {
  switch (l4.kind) {
    case 'tcp':
      return 20 + l4.dataLength;
    case 'udp':
      return 8 + (l4.vxlan ? 8 + frameLength(l4.vxlan.frame) : l4.dataLength);
    case 'icmp': {
      if (l4.quoted) return 8 + quotedLength(l4.quoted, family);
      if (l4.ndTarget !== undefined) return 24 + (l4.ndLladdr ? 8 : 0);
      return 8 + l4.dataLength;
    }
  }
}

/** Bytes of the offending packet an ICMP error carries: IPv4 header + 8 (RFC 792, as Linux sends up to 576 total), IPv6 up to 1280 total. */
export function quotedLength(q: IpPacket, family: 4 | 6): number {
  const max = family === 4 ? 576 - 20 - 8 : 1280 - 40 - 8;
  return Math.min(ipLength(q), max);
}

export function ipLength(p: IpPacket): number {
  return (p.family === 4 ? 20 : 40) + l4Length(p.l4, p.family);
}

/** The largest IP packet on the wire: the biggest fragment of a fragmented packet, else the whole. */
export function wireLength(p: IpPacket): number {
  return p.frag ? Math.max(...p.frag) : ipLength(p);
}

/** Bytes of the (largest) Ethernet frame on the wire. */
export function frameLength(f: Frame): number {
  return 14 + (f.ip ? wireLength(f.ip) : 28);
}

/**
 * ip_fragment: the IPv4 total lengths `sizes` become at `mtu` (20-byte header, every payload but a
 * packet's last a multiple of 8 bytes). Sizes that fit are kept; a fragment is fragmented again.
 */
export function fragmentSizes(sizes: readonly number[], mtu: number): number[] {
  const chunk = (mtu - 20) & ~7;
  const out: number[] = [];
  for (const size of sizes) {
    let rest = size - 20;
    while (rest > chunk) {
      out.push(20 + chunk);
      rest -= chunk;
    }
    out.push(20 + rest);
  }
  return out;
}

export function protoName(p: IpPacket): L4Protocol {
  switch (p.proto) {
    case PROTO_TCP:
      return 'tcp';
    case PROTO_UDP:
      return 'udp';
    case PROTO_ICMPV6:
      return 'icmpv6';
    case PROTO_SCTP:
      return 'sctp';
    default:
      return 'icmp';
  }
}

export function cloneL4(l4: L4Header): L4Header {
  if (l4.kind === 'udp' && l4.vxlan)
    return { ...l4, vxlan: { vni: l4.vxlan.vni, frame: cloneFrame(l4.vxlan.frame) } };
  return { ...l4 };
}

/** Every packet is made here, so all share one object shape (V8 keeps property access monomorphic). */
export function packet(p: Omit<IpPacket, 'sum' | 'ct'> & { ct?: unknown; sum?: PacketSummary }): IpPacket {
  return {
    family: p.family,
    src: p.src,
    dst: p.dst,
    proto: p.proto,
    ttl: p.ttl,
    id: p.id,
    df: p.df,
    l4: p.l4,
    mark: p.mark,
    ct: p.ct,
    tag: p.tag,
    sum: p.sum,
    frag: p.frag ? [...p.frag] : undefined,
  };
}

export function clonePacket(p: IpPacket): IpPacket {
  return packet({ ...p, l4: cloneL4(p.l4) });
}

export function cloneFrame(f: Frame): Frame {
  return {
    src: f.src,
    dst: f.dst,
    ip: f.ip ? clonePacket(f.ip) : undefined,
    arp: f.arp ? { ...f.arp } : undefined,
    tag: f.tag,
  };
}

export function isMulticastMac(mac: string): boolean {
  // The I/G bit: the low bit of the first octet.
  const c = mac.charCodeAt(1);
  const nibble = c <= 57 ? c - 48 : (c | 0x20) - 87;
  return (nibble & 1) === 1;
}

export function tcpFlagText(flags: number): string {
  let s = '';
  if (flags & TCP_SYN) s += 'S';
  if (flags & TCP_FIN) s += 'F';
  if (flags & TCP_RST) s += 'R';
  if (flags & TCP_PSH) s += 'P';
  if (flags & TCP_ACK) s += '.';
  return s || 'none';
}

/**
 * The packet as netfilter sees it: L3/L4 header fields that rules match on and NAT rewrites, plus
 * the metadata the kernel keeps beside the skb (mark, devices). Addresses are canonical text.
 */
import { bigIntToIp, intToIpv4, ipToBigInt, ipv4ToInt, isIp } from '@podnet/core';
import type { PacketCt } from './conntrack.js';

export type IpFamily = 4 | 6;

export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const PROTO_ICMPV6 = 58;
export const PROTO_SCTP = 132;

/** TCP flag bits as in the TCP header. */
export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;

export interface NfPacket {
  family: IpFamily;
  /** IP protocol number (6 tcp, 17 udp, 132 sctp, 1 icmp, 58 icmpv6). */
  proto: number;
  src: string;
  dst: string;
  /** Transport ports; 0 when the protocol has none. */
  sport: number;
  dport: number;
  /** TCP flag bits (TCP_SYN | TCP_ACK ...). A TCP packet without flags is treated as a bare ACK. */
  tcpFlags?: number;
  icmpType?: number;
  icmpCode?: number;
  /** ICMP echo identifier (conntrack keys ICMP echo flows by it). */
  icmpId?: number;
  /** For an ICMP error: the offending packet it quotes (conntrack RELATED). */
  inner?: { proto: number; src: string; dst: string; sport: number; dport: number; icmpType?: number };
  /** Total length in bytes (counters, nfacct). @default 60 */
  length?: number;
  /** skb->mark. */
  mark: number;
  /** Input device (PREROUTING, INPUT, FORWARD). */
  iif?: string;
  /** Output device (FORWARD, OUTPUT, POSTROUTING). */
  oif?: string;
  /** Bridge ports when the packet crossed a bridge (br_netfilter; `-m physdev`). */
  physIn?: string;
  physOut?: string;
  /** Netfilter state attached while the packet stays in one namespace (skb->_nfct). */
  nf?: NfAttachment;
}

/** What a namespace's netfilter keeps on a packet between hooks. */
export interface NfAttachment {
  /** The engine that attached it (another namespace's engine ignores it). */
  owner: object;
  ct: PacketCt;
  /** IPVS already handled this packet (skb->ipvs_property). */
  ipvsDone?: boolean;
}

const PROTO_NAMES: Record<string, number> = {
  icmp: 1,
  igmp: 2,
  ipencap: 4,
  tcp: 6,
  egp: 8,
  udp: 17,
  ipv6: 41,
  gre: 47,
  esp: 50,
  ah: 51,
  icmpv6: 58,
  'ipv6-icmp': 58,
  ospf: 89,
  ipip: 94,
  pim: 103,
  vrrp: 112,
  l2tp: 115,
  sctp: 132,
  mh: 135,
  'ipv6-mh': 135,
  udplite: 136,
};

const PROTO_BY_NUMBER: Record<number, string> = {
  1: 'icmp',
  2: 'igmp',
  6: 'tcp',
  17: 'udp',
  47: 'gre',
  50: 'esp',
  51: 'ah',
  58: 'icmpv6',
  132: 'sctp',
  136: 'udplite',
};

/** Protocol number for a name (`tcp`) or decimal text; undefined when unknown. */
export function protoNumber(text: string): number | undefined {
  const t = text.toLowerCase();
  if (t in PROTO_NAMES) return PROTO_NAMES[t];
  if (/^\d{1,3}$/.test(t)) {
    const n = Number(t);
    return n <= 255 ? n : undefined;
  }
  return undefined;
}

export function protoName(n: number): string {
  return PROTO_BY_NUMBER[n] ?? String(n);
}

export function hasPorts(proto: number): boolean {
  return proto === PROTO_TCP || proto === PROTO_UDP || proto === PROTO_SCTP || proto === 136;
}

/** An address as a comparable value: IPv4 as an unsigned 32-bit number, IPv6 as a bigint. */
export type AddrValue = number | bigint;

const v6cache = new Map<string, bigint>();

export function addrValue(text: string, family: IpFamily): AddrValue {
  if (family === 4) return ipv4ToInt(text);
  let v = v6cache.get(text);
  if (v === undefined) {
    v = isIp(text) && text.includes(':') ? ipToBigInt(text) : -1n;
    if (v6cache.size > 4096) v6cache.clear();
    v6cache.set(text, v);
  }
  return v;
}

export function addrText(v: AddrValue, family: IpFamily): string {
  return family === 4 ? intToIpv4(v as number) : bigIntToIp(v as bigint, 6);
}

/** `ip:port` (IPv6 bracketed), or the bare address when port is 0. */
export function hostPort(ip: string, port: number): string {
  if (!port) return ip;
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

export function clonePacket(p: NfPacket): NfPacket {
  return { ...p, inner: p.inner ? { ...p.inner } : undefined, nf: undefined };
}

/** One line describing the packet, e.g. `tcp 10.0.0.1:40000 > 10.96.0.1:443 [SYN]`. */
export function describePacket(p: NfPacket): string {
  const name = protoName(p.proto);
  if (hasPorts(p.proto)) {
    const flags = p.proto === PROTO_TCP ? ` [${tcpFlagText(p.tcpFlags ?? TCP_ACK)}]` : '';
    return `${name} ${hostPort(p.src, p.sport)} > ${hostPort(p.dst, p.dport)}${flags}`;
  }
  if (p.proto === PROTO_ICMP || p.proto === PROTO_ICMPV6) {
    return `${name} ${p.src} > ${p.dst} type ${p.icmpType ?? 8} code ${p.icmpCode ?? 0}`;
  }
  return `${name} ${p.src} > ${p.dst}`;
}

export function tcpFlagText(f: number): string {
  const out: string[] = [];
  if (f & TCP_SYN) out.push('SYN');
  if (f & TCP_ACK) out.push('ACK');
  if (f & TCP_FIN) out.push('FIN');
  if (f & TCP_RST) out.push('RST');
  if (f & TCP_PSH) out.push('PSH');
  if (f & TCP_URG) out.push('URG');
  return out.join(',') || 'none';
}

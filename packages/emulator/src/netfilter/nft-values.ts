/**
 * nftables datatypes: literal parsing (addresses, prefixes, ranges, symbolic constants) into
 * comparable scalars, as nft's evaluator types a right-hand side by its left-hand side.
 */
import { ipv4ToInt, isIp } from '@podnet/core';
import { maskV4, maskV6, parsePrefix } from './addr-match.js';
import { addrText, addrValue, protoName, protoNumber } from './packet.js';

export type NftDtype =
  | 'ipv4_addr'
  | 'ipv6_addr'
  | 'inet_proto'
  | 'inet_service'
  | 'mark'
  | 'integer'
  | 'ifname'
  | 'ct_state'
  | 'ct_status'
  | 'ct_dir'
  | 'fib_addrtype'
  | 'nf_proto'
  | 'ether_type'
  | 'icmp_type'
  | 'icmpv6_type'
  | 'icmp_code';

export type Scalar = number | bigint | string;

/** A literal as an inclusive range (a single value has lo === hi); ifnames may be wildcards. */
export interface Range {
  lo: Scalar;
  hi: Scalar;
  /** ifname `"veth*"`: lo is the prefix. */
  wildcard?: boolean;
}

const SYMBOLS: Partial<Record<NftDtype, Record<string, number>>> = {
  ct_state: { invalid: 1, established: 2, related: 4, new: 8, untracked: 64 },
  ct_status: { expected: 1, 'seen-reply': 2, assured: 4, confirmed: 8, snat: 16, dnat: 32, dying: 512 },
  ct_dir: { original: 0, reply: 1 },
  fib_addrtype: {
    unspec: 0,
    unicast: 1,
    local: 2,
    broadcast: 3,
    anycast: 4,
    multicast: 5,
    blackhole: 6,
    unreachable: 7,
    prohibit: 8,
  },
  nf_proto: { ipv4: 2, ipv6: 10 },
  ether_type: { ip: 0x0800, ip6: 0x86dd, arp: 0x0806, vlan: 0x8100 },
  icmp_type: {
    'echo-reply': 0,
    'destination-unreachable': 3,
    'source-quench': 4,
    redirect: 5,
    'echo-request': 8,
    'router-advertisement': 9,
    'router-solicitation': 10,
    'time-exceeded': 11,
    'parameter-problem': 12,
    'timestamp-request': 13,
    'timestamp-reply': 14,
    'info-request': 15,
    'info-reply': 16,
    'address-mask-request': 17,
    'address-mask-reply': 18,
  },
  icmpv6_type: {
    'destination-unreachable': 1,
    'packet-too-big': 2,
    'time-exceeded': 3,
    'parameter-problem': 4,
    'echo-request': 128,
    'echo-reply': 129,
    'mld-listener-query': 130,
    'mld-listener-report': 131,
    'mld-listener-reduction': 132,
    'nd-router-solicit': 133,
    'nd-router-advert': 134,
    'nd-neighbor-solicit': 135,
    'nd-neighbor-advert': 136,
    'nd-redirect': 137,
  },
  icmp_code: {
    'net-unreachable': 0,
    'host-unreachable': 1,
    'prot-unreachable': 2,
    'port-unreachable': 3,
    'frag-needed': 4,
    'net-prohibited': 9,
    'host-prohibited': 10,
    'admin-prohibited': 13,
  },
};

const SERVICES: Record<string, number> = {
  ssh: 22,
  smtp: 25,
  domain: 53,
  http: 80,
  https: 443,
  ntp: 123,
  bgp: 179,
  'kube-proxy': 10256,
};

/** Types whose values are bit flags: an implicit comparison means "any of these bits". */
export function isBitmask(t: NftDtype): boolean {
  return t === 'ct_state' || t === 'ct_status';
}

export const SET_TYPES: readonly NftDtype[] = [
  'ipv4_addr',
  'ipv6_addr',
  'inet_proto',
  'inet_service',
  'mark',
  'ifname',
  'ct_state',
  'ct_status',
  'ct_dir',
  'fib_addrtype',
  'nf_proto',
  'ether_type',
  'icmp_type',
  'icmpv6_type',
  'icmp_code',
  'integer',
];

function int(text: string, max: number, what: string): number {
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(text)) throw new Error(`Could not parse ${what} "${text}"`);
  const v = Number(text);
  if (v > max) throw new Error(`Value ${text} exceeds valid range 0-${max}`);
  return v;
}

function scalar(t: NftDtype, text: string): Scalar {
  const sym = SYMBOLS[t];
  if (sym && text in sym) return sym[text];
  switch (t) {
    case 'ipv4_addr': {
      const v = ipv4ToInt(text);
      if (v < 0) throw new Error(`Could not resolve hostname: ${text}`);
      return v;
    }
    case 'ipv6_addr':
      if (!isIp(text) || !text.includes(':')) throw new Error(`Could not resolve hostname: ${text}`);
      return addrValue(text, 6);
    case 'inet_proto': {
      const p = protoNumber(text);
      if (p === undefined) throw new Error(`Could not parse Internet protocol "${text}"`);
      return p;
    }
    case 'inet_service':
      if (text in SERVICES) return SERVICES[text];
      return int(text, 65535, 'inet_service');
    case 'mark':
    case 'integer':
      return int(text, 0xffffffff, t);
    case 'ifname':
      return text;
    default:
      if (sym) return int(text, 0xffffffff, t);
      throw new Error(`Could not parse ${t} "${text}"`);
  }
}

/** Parses one literal of a type: a value, an address prefix `A/N`, or a range `A-B`. */
export function parseLiteral(t: NftDtype, text: string, quoted = false): Range {
  if (t === 'ifname') {
    if (!quoted && text.endsWith('*'))
      return { lo: text.slice(0, -1), hi: text.slice(0, -1), wildcard: true };
    if (quoted && text.endsWith('*') && !text.endsWith('\\*')) {
      return { lo: text.slice(0, -1), hi: text.slice(0, -1), wildcard: true };
    }
    if (text.length > 15) throw new Error(`Interface name "${text}" too long`);
    return { lo: text, hi: text };
  }
  if ((t === 'ipv4_addr' || t === 'ipv6_addr') && text.includes('/')) {
    const fam = t === 'ipv4_addr' ? 4 : 6;
    const p = parsePrefix(text, fam);
    if (!p) throw new Error(`Could not parse ${t} prefix "${text}"`);
    if (fam === 4) {
      const lo = p.net as number;
      return { lo, hi: (lo | (~maskV4(p.bits) >>> 0)) >>> 0 };
    }
    const lo = p.net as bigint;
    return { lo, hi: lo | (((1n << 128n) - 1n) ^ maskV6(p.bits)) };
  }
  const dash = rangeDash(t, text);
  if (dash > 0) {
    const lo = scalar(t, text.slice(0, dash));
    const hi = scalar(t, text.slice(dash + 1));
    if (hi < lo) throw new Error(`Range has zero or negative size: ${text}`);
    return { lo, hi };
  }
  const v = scalar(t, text);
  return { lo: v, hi: v };
}

/** Position of the `-` separating a range, or -1 (symbolic names like `echo-request` contain dashes). */
function rangeDash(t: NftDtype, text: string): number {
  const sym = SYMBOLS[t];
  if (sym && text in sym) return -1;
  if (t === 'inet_proto' && protoNumber(text) !== undefined) return -1;
  const i = text.indexOf('-', 1);
  return i;
}

export function inRange(r: Range, v: Scalar | undefined): boolean {
  if (v === undefined) return false;
  if (typeof v === 'string') return r.wildcard ? v.startsWith(r.lo as string) : v === r.lo;
  return v >= (r.lo as number | bigint) && v <= (r.hi as number | bigint);
}

export function isSingle(r: Range): boolean {
  return !r.wildcard && r.lo === r.hi;
}

/** Text of a scalar for traces and listings. */
export function formatScalar(t: NftDtype, v: Scalar): string {
  if (t === 'ipv4_addr') return addrText(v as number, 4);
  if (t === 'ipv6_addr') return addrText(v as bigint, 6);
  if (t === 'inet_proto') return protoName(v as number);
  const sym = SYMBOLS[t];
  if (sym) for (const [k, n] of Object.entries(sym)) if (n === v) return k;
  if (t === 'mark') return `0x${(v as number).toString(16).padStart(8, '0')}`;
  return String(v);
}

export function isDtype(name: string): name is NftDtype {
  return (SET_TYPES as readonly string[]).includes(name);
}

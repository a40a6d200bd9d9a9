/**
 * IP helpers over `ip-address`. Addresses travel through podnet as canonical text (IPv4 dotted
 * quad, IPv6 RFC 5952 compressed lowercase); these helpers parse, compare and do CIDR arithmetic.
 */
import { Address4, Address6 } from 'ip-address';
import { InvalidArgumentError } from './errors.js';

export type IpFamily = 4 | 6;

export interface Cidr {
  readonly family: IpFamily;
  /** The network address (host bits cleared). */
  readonly network: bigint;
  readonly prefix: number;
  /** Canonical text, e.g. `10.244.1.0/24`, `fd00::/64`. */
  readonly text: string;
}

const BITS = { 4: 32, 6: 128 } as const;

function parseAddress(text: string): { family: IpFamily; value: bigint } | undefined {
  if (typeof text !== 'string' || text.length === 0 || text.includes('/') || text.includes('%'))
    return undefined;
  if (text.includes(':')) {
    if (!Address6.isValid(text)) return undefined;
    return { family: 6, value: new Address6(text).bigInt() };
  }
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(text) || !Address4.isValid(text)) return undefined;
  return { family: 4, value: new Address4(text).bigInt() };
}

export function isIp(text: string): boolean {
  return parseAddress(text) !== undefined;
}

export function ipFamily(text: string): IpFamily {
  return parseIp(text).family;
}

export function parseIp(text: string): { family: IpFamily; value: bigint; text: string } {
  const a = parseAddress(text);
  if (!a) throw new InvalidArgumentError('ip', `invalid IP address "${text}"`);
  return { ...a, text: bigIntToIp(a.value, a.family) };
}

/** Canonical text of an address: `010.1.1.1` is refused, `FD00:0::1` becomes `fd00::1`. */
export function canonicalIp(text: string): string {
  return parseIp(text).text;
}

export function ipToBigInt(text: string): bigint {
  return parseIp(text).value;
}

export function bigIntToIp(value: bigint, family: IpFamily): string {
  if (family === 4) return intToIpv4(Number(value));
  const parts: string[] = [];
  for (let i = 7; i >= 0; i--) parts.push(((value >> BigInt(i * 16)) & 0xffffn).toString(16));
  // RFC 5952: compress the longest run of two or more zero fields (the first of equal runs).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (parts[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && parts[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return parts.join(':');
  return `${parts.slice(0, best).join(':')}::${parts.slice(best + bestLen).join(':')}`;
}

/** Fast IPv4 text → unsigned 32-bit number (no validation beyond shape); -1 when not IPv4. */
export function ipv4ToInt(text: string): number {
  let n = 0;
  let part = 0;
  let dots = 0;
  let digits = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || part > 255) return -1;
      n = n * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      part = part * 10 + (c - 48);
      digits++;
    } else return -1;
  }
  if (dots !== 3 || digits === 0 || part > 255) return -1;
  return n * 256 + part;
}

export function intToIpv4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export function compareIps(a: string, b: string): number {
  const x = parseIp(a);
  const y = parseIp(b);
  if (x.family !== y.family) return x.family - y.family;
  return x.value < y.value ? -1 : x.value > y.value ? 1 : 0;
}

export interface ParseCidrOptions {
  /** Refuse host bits set (`10.0.0.1/8`). @default false (host bits are cleared) */
  strict?: boolean;
}

export function isCidr(text: string): boolean {
  try {
    parseCidr(text);
    return true;
  } catch {
    return false;
  }
}

export function parseCidr(text: string, options: ParseCidrOptions = {}): Cidr {
  const slash = typeof text === 'string' ? text.indexOf('/') : -1;
  const bad = (why: string) => new InvalidArgumentError('cidr', `invalid CIDR "${text}": ${why}`);
  if (slash < 0) throw bad('expected ADDRESS/PREFIX');
  const addr = parseAddress(text.slice(0, slash));
  if (!addr) throw bad('bad address');
  const prefixText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText)) throw bad('bad prefix length');
  const prefix = Number(prefixText);
  const bits = BITS[addr.family];
  if (prefix > bits) throw bad(`prefix length must be 0-${bits}`);
  const network = addr.value & maskOf(addr.family, prefix);
  if (options.strict && network !== addr.value) throw bad('host bits are set');
  return makeCidr(addr.family, network, prefix);
}

function maskOf(family: IpFamily, prefix: number): bigint {
  const bits = BigInt(BITS[family]);
  const all = (1n << bits) - 1n;
  return prefix === 0 ? 0n : (all << (bits - BigInt(prefix))) & all;
}

function makeCidr(family: IpFamily, network: bigint, prefix: number): Cidr {
  return { family, network, prefix, text: `${bigIntToIp(network, family)}/${prefix}` };
}

function asCidr(c: Cidr | string): Cidr {
  return typeof c === 'string' ? parseCidr(c) : c;
}

/** Number of addresses in the CIDR. */
export function cidrSize(c: Cidr | string): bigint {
  const x = asCidr(c);
  return 1n << BigInt(BITS[x.family] - x.prefix);
}

export function cidrContains(c: Cidr | string, ip: string): boolean {
  const x = asCidr(c);
  const a = parseAddress(ip);
  if (!a || a.family !== x.family) return false;
  return (a.value & maskOf(x.family, x.prefix)) === x.network;
}

export function cidrsOverlap(a: Cidr | string, b: Cidr | string): boolean {
  const x = asCidr(a);
  const y = asCidr(b);
  if (x.family !== y.family) return false;
  const p = Math.min(x.prefix, y.prefix);
  const m = maskOf(x.family, p);
  return (x.network & m) === (y.network & m);
}

/**
 * The n-th address of the CIDR: 0 is the network address, 1 the first host; a negative n counts
 * from the end (-1 is the last address, the IPv4 broadcast).
 */
export function nthAddress(c: Cidr | string, n: number | bigint): string {
  const x = asCidr(c);
  const size = cidrSize(x);
  let i = BigInt(n);
  if (i < 0n) i += size;
  if (i < 0n || i >= size)
    throw new InvalidArgumentError('n', `${n} is outside ${x.text} (${size} addresses)`);
  return bigIntToIp(x.network + i, x.family);
}

/** Offset of `ip` inside the CIDR (inverse of nthAddress), or -1n when outside. */
export function addressIndex(c: Cidr | string, ip: string): bigint {
  const x = asCidr(c);
  if (!cidrContains(x, ip)) return -1n;
  return ipToBigInt(ip) - x.network;
}

/** How many subnets of `newPrefix` the CIDR splits into. */
export function subnetCount(c: Cidr | string, newPrefix: number): bigint {
  const x = asCidr(c);
  if (newPrefix < x.prefix || newPrefix > BITS[x.family]) {
    throw new InvalidArgumentError('prefix', `cannot split ${x.text} into /${newPrefix} subnets`);
  }
  return 1n << BigInt(newPrefix - x.prefix);
}

/** The i-th subnet of `newPrefix` inside the CIDR. */
export function subnetAt(c: Cidr | string, newPrefix: number, i: number | bigint): Cidr {
  const x = asCidr(c);
  const count = subnetCount(x, newPrefix);
  const idx = BigInt(i);
  if (idx < 0n || idx >= count)
    throw new InvalidArgumentError('index', `${x.text} has ${count} /${newPrefix} subnets`);
  return makeCidr(x.family, x.network + (idx << BigInt(BITS[x.family] - newPrefix)), newPrefix);
}

/** Every subnet of `newPrefix`, in order (lazy: a /8 split into /24s is not materialised). */
export function* splitCidr(c: Cidr | string, newPrefix: number): Generator<Cidr> {
  const x = asCidr(c);
  const count = subnetCount(x, newPrefix);
  for (let i = 0n; i < count; i++) yield subnetAt(x, newPrefix, i);
}

/** Reverse-lookup owner name: `4.3.2.1.in-addr.arpa`, nibbles for IPv6 under `ip6.arpa`. */
export function reverseName(ip: string): string {
  const a = parseIp(ip);
  if (a.family === 4) return `${a.text.split('.').reverse().join('.')}.in-addr.arpa`;
  const hex = a.value.toString(16).padStart(32, '0');
  return `${hex.split('').reverse().join('.')}.ip6.arpa`;
}

/** Inverse of reverseName; undefined when the name is not a full reverse name. */
export function ipFromReverseName(name: string): string | undefined {
  const n = name.toLowerCase().replace(/\.$/, '');
  if (n.endsWith('.in-addr.arpa')) {
    const parts = n.slice(0, -'.in-addr.arpa'.length).split('.');
    if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255))
      return undefined;
    return parts.reverse().join('.');
  }
  if (n.endsWith('.ip6.arpa')) {
    const parts = n.slice(0, -'.ip6.arpa'.length).split('.');
    if (parts.length !== 32 || !parts.every((p) => /^[0-9a-f]$/.test(p))) return undefined;
    return bigIntToIp(BigInt(`0x${parts.reverse().join('')}`), 6);
  }
  return undefined;
}

/** Prefix length of a family's host route: 32 or 128. */
export function hostPrefix(family: IpFamily): number {
  return BITS[family];
}

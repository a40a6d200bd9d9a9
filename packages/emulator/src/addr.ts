/**
 * Fast address keys for the FIB and neighbour tables: IPv4 as an unsigned 32-bit number, IPv6 as
 * a bigint (memoised, since IPv6 text is costly to parse).
 */
import { bigIntToIp, type Cidr, canonicalIp, ipToBigInt, ipv4ToInt, isIp, parseCidr } from '@podnet/core';

const v6Cache = new Map<string, bigint>();
const V6_CACHE_MAX = 100_000;

export function v6Key(text: string): bigint | undefined {
  const hit = v6Cache.get(text);
  if (hit !== undefined) return hit;
  if (!text.includes(':') || !isIp(text)) return undefined;
  const v = ipToBigInt(text);
  if (v6Cache.size >= V6_CACHE_MAX) v6Cache.clear();
  v6Cache.set(text, v);
  return v;
}

export function familyOf(ip: string): 4 | 6 {
  return ip.includes(':') ? 6 : 4;
}

const canonCache = new Map<string, string>();
const cidrCache = new Map<string, Cidr>();
const CACHE_MAX = 100_000;

function remember<V>(m: Map<string, V>, k: string, v: V): V {
  if (m.size >= CACHE_MAX) m.clear();
  m.set(k, v);
  return v;
}

/** Canonical text of an address (fast path for well-formed IPv4, memoised otherwise). Throws InvalidArgumentError. */
export function canon(ip: string): string {
  const n = ipv4ToInt(ip);
  if (n >= 0) {
    const back = `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
    if (back === ip) return ip;
  }
  return canonCache.get(ip) ?? remember(canonCache, ip, canonicalIp(ip));
}

/** parseCidr, memoised (a plan repeats `127.0.0.1/8`, `::1/128` and gateway prefixes thousands of times). */
export function cidrOf(text: string): Cidr {
  return cidrCache.get(text) ?? remember(cidrCache, text, parseCidr(text));
}

/**
 * core's deterministicMac (FNV-1a 64 of the seed, locally administered unicast), computed with
 * 32-bit halves instead of BigInt: the same MAC, fast enough for ten thousand veths.
 */
export function fastMac(seed: string): string {
  let hi = 0xcbf29ce4;
  let lo = 0x84222325;
  const step = (byte: number) => {
    lo = (lo ^ byte) >>> 0;
    const m = lo * 0x1b3;
    const carry = Math.floor(m / 4294967296);
    hi = (Math.imul(hi, 0x1b3) + carry + ((lo << 8) >>> 0)) >>> 0;
    lo = m >>> 0;
  };
  for (let i = 0; i < seed.length; i++) {
    const c = seed.charCodeAt(i);
    step(c & 0xff);
    if (c > 0xff) step(c >> 8);
  }
  const b = [lo & 0xff, (lo >>> 8) & 0xff, (lo >>> 16) & 0xff, lo >>> 24, hi & 0xff, (hi >>> 8) & 0xff];
  b[0] = (b[0] & 0xfe) | 0x02;
  return b.map((x) => HEX[x]).join(':');
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function v6Text(v: bigint): string {
  return bigIntToIp(v, 6);
}

export function maskV4(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

const ALL128 = (1n << 128n) - 1n;
const masks6: bigint[] = [];
for (let p = 0; p <= 128; p++) masks6.push(p === 0 ? 0n : (ALL128 << BigInt(128 - p)) & ALL128);

export function maskV6(prefix: number): bigint {
  return masks6[prefix];
}

/** Solicited-node multicast address of an IPv6 address (ff02::1:ffXX:XXXX) and its MAC. */
export function solicitedNode(ip: string): { ip: string; mac: string } {
  const v = v6Key(ip) ?? 0n;
  const low = Number(v & 0xffffffn);
  const b1 = (low >> 16) & 255;
  const b2 = (low >> 8) & 255;
  const b3 = low & 255;
  const hex = (n: number) => n.toString(16).padStart(2, '0');
  return {
    ip: v6Text((0xff02n << 112n) | (1n << 32n) | (0xffn << 24n) | BigInt(low)),
    mac: `33:33:ff:${hex(b1)}:${hex(b2)}:${hex(b3)}`,
  };
}

export function isMulticastIp(ip: string): boolean {
  if (ip.includes(':')) return ip.startsWith('ff');
  const n = ipv4ToInt(ip);
  return n >= 0xe0000000 && n <= 0xefffffff;
}

/** The MAC a multicast IP maps to: 01:00:5e + low 23 bits (IPv4), 33:33 + low 32 bits (IPv6). */
export function multicastMacOf(ip: string): string {
  const hex = (n: number) => n.toString(16).padStart(2, '0');
  if (ip.includes(':')) {
    const v = v6Key(ip) ?? 0n;
    const low = Number(v & 0xffffffffn);
    return `33:33:${hex((low >>> 24) & 255)}:${hex((low >>> 16) & 255)}:${hex((low >>> 8) & 255)}:${hex(low & 255)}`;
  }
  const n = ipv4ToInt(ip);
  return `01:00:5e:${hex((n >>> 16) & 127)}:${hex((n >>> 8) & 255)}:${hex(n & 255)}`;
}

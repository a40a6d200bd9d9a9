/** Address and prefix matching over numeric address values (IPv4 number, IPv6 bigint). */
import { bigIntToIp, intToIpv4, ipToBigInt, ipv4ToInt, isIp } from '@podnet/core';
import type { AddrValue, IpFamily } from './packet.js';

export interface Prefix {
  family: IpFamily;
  /** Network value with host bits cleared. */
  net: AddrValue;
  bits: number;
  /** Canonical text, `10.0.0.0/8` (host addresses keep `/32`). */
  text: string;
}

const V6_ALL = (1n << 128n) - 1n;

export function maskV4(bits: number): number {
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
}

export function maskV6(bits: number): bigint {
  return bits === 0 ? 0n : (V6_ALL << BigInt(128 - bits)) & V6_ALL;
}

function parseAddr(text: string, family: IpFamily): AddrValue | undefined {
  if (family === 4) {
    const v = ipv4ToInt(text);
    return v < 0 ? undefined : v;
  }
  if (!text.includes(':') || !isIp(text)) return undefined;
  return ipToBigInt(text);
}

/** Bits of a contiguous dotted/colon mask (`255.255.0.0`), or undefined when not contiguous. */
function maskBits(text: string, family: IpFamily): number | undefined {
  const v = parseAddr(text, family);
  if (v === undefined) return undefined;
  const width = family === 4 ? 32 : 128;
  for (let b = 0; b <= width; b++) {
    if (family === 4 ? maskV4(b) === v : maskV6(b) === v) return b;
  }
  return undefined;
}

/**
 * Parses `ADDR`, `ADDR/LEN` or `ADDR/MASK`; undefined when it is not an address of this family.
 * Host bits are cleared, as the kernel does.
 */
export function parsePrefix(text: string, family: IpFamily): Prefix | undefined {
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const v = parseAddr(addrText, family);
  if (v === undefined) return undefined;
  const width = family === 4 ? 32 : 128;
  let bits = width;
  if (slash >= 0) {
    const m = text.slice(slash + 1);
    if (/^\d{1,3}$/.test(m)) bits = Number(m);
    else {
      const b = maskBits(m, family);
      if (b === undefined) return undefined;
      bits = b;
    }
    if (bits > width) return undefined;
  }
  const net = family === 4 ? ((v as number) & maskV4(bits)) >>> 0 : (v as bigint) & maskV6(bits);
  const netText = family === 4 ? v4Text(net as number) : bigToV6(net as bigint);
  return { family, net, bits, text: `${netText}/${bits}` };
}

const v4Text = intToIpv4;
const bigToV6 = (v: bigint): string => bigIntToIp(v, 6);

export function prefixContains(p: Prefix, v: AddrValue): boolean {
  if (p.family === 4) return ((v as number) & maskV4(p.bits)) >>> 0 === p.net;
  return ((v as bigint) & maskV6(p.bits)) === p.net;
}

/** A compiled membership test for a prefix (fast path for IPv4). */
export function prefixMatcher(p: Prefix): (v: AddrValue) => boolean {
  if (p.family === 4) {
    const m = maskV4(p.bits);
    const net = p.net as number;
    if (p.bits === 32) return (v) => v === net;
    return (v) => ((v as number) & m) >>> 0 === net;
  }
  const m = maskV6(p.bits);
  const net = p.net as bigint;
  return (v) => typeof v === 'bigint' && (v & m) === net;
}

/** Applies a mask of `bits` to an address value. */
export function maskValue(v: AddrValue, bits: number, family: IpFamily): AddrValue {
  return family === 4 ? ((v as number) & maskV4(bits)) >>> 0 : (v as bigint) & maskV6(bits);
}

export { bigToV6 as v6Text, v4Text };

import { parseIpv4, parseIpv6 } from './address.js';
import type { PseudoHeader } from './codec.js';

/**
 * Adds the 16-bit big-endian words of `buf[start, end)` to `sum` without folding (RFC 1071). An odd
 * trailing byte counts as its high half. Chain calls over pieces that start at even positions.
 */
export function onesComplementSum(buf: Uint8Array, start = 0, end = buf.length, sum = 0): number {
  let i = start;
  for (; i + 1 < end; i += 2) sum += (buf[i] << 8) | buf[i + 1];
  if (i < end) sum += buf[i] << 8;
  return sum;
}

/** Folds a sum from `onesComplementSum` to 16 bits and complements it. */
export function finishChecksum(sum: number): number {
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

/** The internet checksum of `buf[start, end)`; 0 when computed over data that includes a correct checksum. */
export function internetChecksum(buf: Uint8Array, start = 0, end = buf.length): number {
  return finishChecksum(onesComplementSum(buf, start, end));
}

/** The IPv4 (RFC 793) or IPv6 (RFC 8200 §8.1) pseudo-header bytes; undefined when the addresses do not parse as one family. */
export function pseudoHeader(ip: PseudoHeader, protocol: number, length: number): Uint8Array | undefined {
  if (typeof ip !== 'object' || ip === null) return undefined;
  const s4 = parseIpv4(ip.src);
  const d4 = parseIpv4(ip.dst);
  if (s4 !== undefined && d4 !== undefined) {
    if (length > 0xffff) return undefined;
    const b = new Uint8Array(12);
    b.set(s4, 0);
    b.set(d4, 4);
    b[9] = protocol;
    b[10] = length >>> 8;
    b[11] = length;
    return b;
  }
  const s6 = parseIpv6(ip.src);
  const d6 = parseIpv6(ip.dst);
  if (s6 === undefined || d6 === undefined) return undefined;
  const b = new Uint8Array(40);
  b.set(s6, 0);
  b.set(d6, 16);
  b[34] = length >>> 8;
  b[35] = length;
  b[39] = protocol;
  return b;
}

/**
 * The checksum field value for a transport segment (UDP, TCP, ICMPv6) over `pseudo` (from
 * `pseudoHeader`) and `segment[start, end)`, treating the 2 bytes at `start + field` as zero.
 */
export function segmentChecksum(
  pseudo: Uint8Array,
  segment: Uint8Array,
  field: number,
  start = 0,
  end = segment.length,
): number {
  let sum = onesComplementSum(pseudo);
  sum = onesComplementSum(segment, start, start + field, sum);
  sum = onesComplementSum(segment, start + field + 2, end, sum);
  return finishChecksum(sum);
}

/** True when `segment[start, end)`, with its checksum in place, sums to zero over `pseudo`. */
export function verifySegment(
  pseudo: Uint8Array,
  segment: Uint8Array,
  start = 0,
  end = segment.length,
): boolean {
  return finishChecksum(onesComplementSum(segment, start, end, onesComplementSum(pseudo))) === 0;
}

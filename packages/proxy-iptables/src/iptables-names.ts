/**
 * kube-proxy's iptables chain names and number formats. Chain names are the first 16 characters of
 * base32(sha256(...)) because iptables chain names are limited to 28 characters.
 */
import { createHash } from 'node:crypto';
import { base32Prefix } from '@podnet/core';

export function sha256Base32(text: string, chars: number): string {
  return base32Prefix(createHash('sha256').update(text).digest(), chars);
}

/** portProtoHash: shared by KUBE-SVC-, KUBE-SVL-, KUBE-EXT- and KUBE-FW- of one service port. */
export function portProtoHash(servicePortName: string, proto: string): string {
  return sha256Base32(servicePortName + proto, 16);
}

export interface ServiceChains {
  svc: string;
  svl: string;
  ext: string;
  fw: string;
}

export function serviceChainNames(servicePortName: string, proto: string): ServiceChains {
  const h = portProtoHash(servicePortName, proto);
  return { svc: `KUBE-SVC-${h}`, svl: `KUBE-SVL-${h}`, ext: `KUBE-EXT-${h}`, fw: `KUBE-FW-${h}` };
}

/** KUBE-SEP- for one endpoint (`ip:port`, `[ip]:port` for IPv6) of a service port. */
export function endpointChainName(servicePortName: string, proto: string, endpoint: string): string {
  return `KUBE-SEP-${sha256Base32(servicePortName + proto + endpoint, 16)}`;
}

export const SERVICE_CHAIN_PREFIXES = [
  'KUBE-SVC-',
  'KUBE-SVL-',
  'KUBE-SEP-',
  'KUBE-FW-',
  'KUBE-EXT-',
] as const;

export function isServiceChainName(chain: string): boolean {
  return SERVICE_CHAIN_PREFIXES.some((p) => chain.startsWith(p));
}

const probabilities = new Map<number, string>();

/**
 * Go's fmt.Sprintf("%0.10f", 1.0/float64(n)): the double 1/n rounded to ten decimals from its
 * exact binary value, ties to even (JavaScript's toFixed rounds ties up: 1/2048 differs).
 */
export function probability(n: number): string {
  const cached = probabilities.get(n);
  if (cached !== undefined) return cached;
  const x = 1 / n;
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const exp = (hi >>> 20) & 0x7ff;
  let mantissa = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  if (exp !== 0) mantissa |= 1n << 52n;
  // x = mantissa * 2^(exp - 1075); exp - 1075 < 0 for every x <= 1.
  const shift = BigInt(1075 - (exp === 0 ? 1 : exp));
  const scaled = mantissa * 10n ** 10n;
  let q = scaled >> shift;
  const rem2 = (scaled - (q << shift)) * 2n;
  const unit = 1n << shift;
  if (rem2 > unit || (rem2 === unit && (q & 1n) === 1n)) q += 1n;
  const digits = q.toString().padStart(11, '0');
  const text = `${digits.slice(0, -10)}.${digits.slice(-10)}`;
  probabilities.set(n, text);
  return text;
}

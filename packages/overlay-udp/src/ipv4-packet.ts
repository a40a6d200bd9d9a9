/**
 * The little IPv4 surgery flannel's UDP proxy (pkg/backend/udp/proxy_amd64.c) does on raw packets:
 * read the destination, decrement the TTL, and build an ICMP "net unreachable" for packets no peer
 * owns.
 */

function checksum(buf: Uint8Array, start: number, end: number): number {
  let sum = 0;
  for (let i = start; i < end; i += 2) sum += (buf[i] << 8) | (i + 1 < end ? buf[i + 1] : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function headerLength(pkt: Uint8Array): number | undefined {
  if (pkt.length < 20 || pkt[0] >> 4 !== 4) return undefined;
  const ihl = (pkt[0] & 0x0f) * 4;
  return ihl >= 20 && ihl <= pkt.length ? ihl : undefined;
}

/** The destination of an IPv4 packet as dotted text, or undefined when `pkt` is not IPv4. */
export function ipv4Destination(pkt: Uint8Array): string | undefined {
  if (headerLength(pkt) === undefined) return undefined;
  return `${pkt[16]}.${pkt[17]}.${pkt[18]}.${pkt[19]}`;
}

/**
 * Decrement the TTL in place and patch the header checksum, as the proxy does on its buffer;
 * false when the TTL runs out (the packet is then left as it was) or `pkt` is not IPv4. In place,
 * so the bytes an emulated TUN handed over keep their identity (and their trace) when written back.
 */
export function decrementTtl(pkt: Uint8Array): boolean {
  const ihl = headerLength(pkt);
  if (ihl === undefined || pkt[8] <= 1) return false;
  pkt[8] -= 1;
  pkt[10] = 0;
  pkt[11] = 0;
  const c = checksum(pkt, 0, ihl);
  pkt[10] = c >> 8;
  pkt[11] = c & 0xff;
  return true;
}

const ICMP = 1;

/**
 * ICMP destination unreachable / net unreachable from `source` back to the offender's sender,
 * carrying its header and first 8 payload bytes; undefined for ICMP offenders and non-first
 * fragments (RFC 792), as the proxy does.
 */
export function netUnreachable(offender: Uint8Array, source: string): Uint8Array | undefined {
  const ihl = headerLength(offender);
  if (ihl === undefined || offender[9] === ICMP) return undefined;
  if ((((offender[6] << 8) | offender[7]) & 0x1fff) !== 0) return undefined;
  const quoted = offender.subarray(0, Math.min(offender.length, ihl + 8));
  const out = new Uint8Array(20 + 8 + quoted.length);
  out[0] = 0x45;
  out[2] = out.length >> 8;
  out[3] = out.length & 0xff;
  out[8] = 8;
  out[9] = ICMP;
  source.split('.').forEach((o, i) => {
    out[12 + i] = Number(o);
  });
  out.set(offender.subarray(12, 16), 16);
  const h = checksum(out, 0, 20);
  out[10] = h >> 8;
  out[11] = h & 0xff;
  out[20] = 3;
  out[21] = 0;
  out.set(quoted, 28);
  const c = checksum(out, 20, out.length);
  out[22] = c >> 8;
  out[23] = c & 0xff;
  return out;
}

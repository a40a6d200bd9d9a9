/** Packet builders for this package's tests. */
/** A 20-byte-header IPv4/UDP packet with a correct header checksum. */
export function ipv4Packet(
  src: string,
  dst: string,
  opts: { ttl?: number; proto?: number; payload?: number; frag?: number } = {},
): Uint8Array {
  const len = 20 + 8 + (opts.payload ?? 4);
  const p = new Uint8Array(len);
  p[0] = 0x45;
  p[2] = len >> 8;
  p[3] = len & 0xff;
  p[6] = (opts.frag ?? 0) >> 8;
  p[7] = (opts.frag ?? 0) & 0xff;
  p[8] = opts.ttl ?? 64;
  p[9] = opts.proto ?? 17;
  p.set(src.split('.').map(Number), 12);
  p.set(dst.split('.').map(Number), 16);
  const c = onesComplement(p, 0, 20);
  p[10] = c >> 8;
  p[11] = c & 0xff;
  return p;
}

/** Ones-complement checksum over [s, e): 0 when the range holds a valid checksum. */
export function onesComplement(b: Uint8Array, s: number, e: number): number {
  let x = 0;
  for (let i = s; i < e; i += 2) x += (b[i] << 8) | (b[i + 1] ?? 0);
  while (x > 0xffff) x = (x & 0xffff) + (x >>> 16);
  return ~x & 0xffff;
}

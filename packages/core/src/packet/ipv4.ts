import { DecodeError, EncodeError } from '../errors.js';
import { formatIpv4, writeIpv4 } from './address.js';
import { internetChecksum } from './checksum.js';
import { bytes, type Codec, need, output, put16, range, u16, uint } from './codec.js';

export const IP_PROTOCOL_ICMP = 1;
export const IP_PROTOCOL_TCP = 6;
export const IP_PROTOCOL_UDP = 17;
export const IP_PROTOCOL_ICMPV6 = 58;

export interface Ipv4Flags {
  /** Don't Fragment. */
  df: boolean;
  /** More Fragments. */
  mf: boolean;
}

/** An IPv4 packet (RFC 791). Header length and total length follow from `options` and `payload`. */
export interface Ipv4Packet {
  tos: number;
  id: number;
  flags: Ipv4Flags;
  /** Offset of this fragment in bytes: a multiple of 8, at most 65528. */
  fragmentOffset: number;
  ttl: number;
  protocol: number;
  src: string;
  dst: string;
  /** Raw header options, a multiple of 4 bytes, at most 40. */
  options: Uint8Array;
  payload: Uint8Array;
  /** Header checksum to write as is (to make a bad one); computed when omitted. */
  checksum?: number;
}

/** A decoded IPv4 packet: a bad header checksum is reported, not thrown. Bytes past total length (padding) are dropped. */
export interface Ipv4Decoded extends Ipv4Packet {
  checksum: number;
  checksumValid: boolean;
}

const P = 'ipv4';

function headerLength(p: Ipv4Packet): number {
  const n = bytes(P, 'options', p.options, 40).length;
  if (n % 4 !== 0) throw new EncodeError(P, `options are ${n} bytes, not a multiple of 4`);
  return 20 + n;
}

export const ipv4: Codec<Ipv4Packet, Ipv4Decoded> = {
  encodingLength: (p) => 20 + p.options.length + p.payload.length,

  encode(p, buf, offset = 0) {
    const hlen = headerLength(p);
    const total = hlen + bytes(P, 'payload', p.payload, 0xffff - hlen).length;
    const frag = uint(P, 'fragmentOffset', p.fragmentOffset, 16);
    if (frag % 8 !== 0) throw new EncodeError(P, `fragmentOffset ${frag} is not a multiple of 8`);
    const out = output(P, buf, offset, total);
    out[offset] = 0x40 | (hlen >> 2);
    out[offset + 1] = uint(P, 'tos', p.tos, 8);
    put16(out, offset + 2, total);
    put16(out, offset + 4, uint(P, 'id', p.id, 16));
    put16(out, offset + 6, (p.flags.df ? 0x4000 : 0) | (p.flags.mf ? 0x2000 : 0) | (frag >> 3));
    out[offset + 8] = uint(P, 'ttl', p.ttl, 8);
    out[offset + 9] = uint(P, 'protocol', p.protocol, 8);
    put16(out, offset + 10, 0);
    writeIpv4(P, 'src', p.src, out, offset + 12);
    writeIpv4(P, 'dst', p.dst, out, offset + 16);
    out.set(p.options, offset + 20);
    out.set(p.payload, offset + hlen);
    const sum =
      p.checksum === undefined
        ? internetChecksum(out, offset, offset + hlen)
        : uint(P, 'checksum', p.checksum, 16);
    put16(out, offset + 10, sum);
    return out;
  },

  decode(buf, offset = 0, end = buf?.length) {
    range(P, buf, offset, end);
    need(P, offset, end, 20, 'header');
    if (buf[offset] >> 4 !== 4) throw new DecodeError(P, offset, `version is ${buf[offset] >> 4}, not 4`);
    const hlen = (buf[offset] & 0x0f) * 4;
    if (hlen < 20) throw new DecodeError(P, offset, `header length ${hlen} is below 20`);
    need(P, offset, end, hlen, 'header with options');
    const total = u16(buf, offset + 2);
    if (total < hlen)
      throw new DecodeError(P, offset + 2, `total length ${total} is below header length ${hlen}`);
    need(P, offset, end, total, `total length ${total}`);
    const frag = u16(buf, offset + 6);
    const checksum = u16(buf, offset + 10);
    return {
      tos: buf[offset + 1],
      id: u16(buf, offset + 4),
      flags: { df: (frag & 0x4000) !== 0, mf: (frag & 0x2000) !== 0 },
      fragmentOffset: (frag & 0x1fff) * 8,
      ttl: buf[offset + 8],
      protocol: buf[offset + 9],
      src: formatIpv4(buf, offset + 12),
      dst: formatIpv4(buf, offset + 16),
      options: buf.subarray(offset + 20, offset + hlen),
      payload: buf.subarray(offset + hlen, offset + total),
      checksum,
      checksumValid: internetChecksum(buf, offset, offset + hlen) === 0,
    };
  },
};

import { DecodeError, EncodeError } from '../errors.js';
import { pseudoHeader, segmentChecksum, verifySegment } from './checksum.js';
import {
  bytes,
  need,
  output,
  type PseudoHeader,
  put16,
  range,
  type TransportCodec,
  u16,
  uint,
} from './codec.js';
import { IP_PROTOCOL_UDP } from './ipv4.js';

/**
 * A UDP datagram (RFC 768). The checksum covers the IP pseudo-header, passed to `encode` and
 * `decode` as a trailing `{ src, dst }`; without it `encode` writes 0 ("no checksum", IPv4 only).
 */
export interface UdpDatagram {
  sport: number;
  dport: number;
  payload: Uint8Array;
  /** Checksum to write as is; computed when omitted and the pseudo-header is given. */
  checksum?: number;
}

/**
 * `checksumValid` is present only when `decode` was given the pseudo-header; a 0 checksum is valid
 * over IPv4 and invalid over IPv6. Bytes past `length` are dropped.
 */
export interface UdpDecoded extends UdpDatagram {
  length: number;
  checksum: number;
  checksumValid?: boolean;
}

const P = 'udp';

function pseudo(ip: PseudoHeader, length: number, fail: (msg: string) => Error): Uint8Array {
  const b = pseudoHeader(ip, IP_PROTOCOL_UDP, length);
  if (b === undefined) throw fail('pseudo-header needs two IPv4 or two IPv6 addresses');
  return b;
}

/** The checksum field value for a UDP `segment` (header and payload) between `src` and `dst`; the segment's own checksum bytes are ignored. */
export function udpChecksum(src: string, dst: string, segment: Uint8Array): number {
  const sum = segmentChecksum(
    pseudo({ src, dst }, segment.length, (s) => new EncodeError(P, s)),
    segment,
    6,
  );
  return sum === 0 ? 0xffff : sum;
}

export const udp: TransportCodec<UdpDatagram, UdpDecoded> = {
  encodingLength: (d) => 8 + d.payload.length,

  encode(d, buf, offset = 0, ip) {
    const payload = bytes(P, 'payload', d.payload, 0xffff - 8);
    const length = 8 + payload.length;
    const out = output(P, buf, offset, length);
    put16(out, offset, uint(P, 'sport', d.sport, 16));
    put16(out, offset + 2, uint(P, 'dport', d.dport, 16));
    put16(out, offset + 4, length);
    out.set(payload, offset + 8);
    let sum = 0;
    if (d.checksum !== undefined) sum = uint(P, 'checksum', d.checksum, 16);
    else if (ip !== undefined) {
      sum =
        segmentChecksum(
          pseudo(ip, length, (s) => new EncodeError(P, s)),
          out,
          6,
          offset,
          offset + length,
        ) || 0xffff;
    }
    put16(out, offset + 6, sum);
    return out;
  },

  decode(buf, offset = 0, end = buf?.length, ip) {
    range(P, buf, offset, end);
    need(P, offset, end, 8, 'header');
    const length = u16(buf, offset + 4);
    if (length < 8) throw new DecodeError(P, offset + 4, `length ${length} is below 8`);
    need(P, offset, end, length, `length ${length}`);
    const checksum = u16(buf, offset + 6);
    const d: UdpDecoded = {
      sport: u16(buf, offset),
      dport: u16(buf, offset + 2),
      length,
      payload: buf.subarray(offset + 8, offset + length),
      checksum,
    };
    if (ip !== undefined) {
      const ph = pseudo(ip, length, (s) => new DecodeError(P, offset, s));
      d.checksumValid = checksum === 0 ? ph.length === 12 : verifySegment(ph, buf, offset, offset + length);
    }
    return d;
  },
};

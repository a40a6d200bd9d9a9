import { DecodeError } from '../errors.js';
import { formatIpv6, writeIpv6 } from './address.js';
import { bytes, type Codec, need, output, put16, range, u16, uint } from './codec.js';

/**
 * An IPv6 packet (RFC 8200): the fixed header and everything after it. Extension headers are not
 * parsed; they stay in `payload` behind `nextHeader`. Addresses are RFC 5952 text.
 */
export interface Ipv6Packet {
  trafficClass: number;
  flowLabel: number;
  nextHeader: number;
  hopLimit: number;
  src: string;
  dst: string;
  payload: Uint8Array;
}

const P = 'ipv6';
const HEADER = 40;

export const ipv6: Codec<Ipv6Packet> = {
  encodingLength: (p) => HEADER + p.payload.length,

  encode(p, buf, offset = 0) {
    const payload = bytes(P, 'payload', p.payload, 0xffff);
    const out = output(P, buf, offset, HEADER + payload.length);
    const tc = uint(P, 'trafficClass', p.trafficClass, 8);
    const fl = uint(P, 'flowLabel', p.flowLabel, 20);
    out[offset] = 0x60 | (tc >> 4);
    out[offset + 1] = ((tc & 0x0f) << 4) | (fl >> 16);
    put16(out, offset + 2, fl & 0xffff);
    put16(out, offset + 4, payload.length);
    out[offset + 6] = uint(P, 'nextHeader', p.nextHeader, 8);
    out[offset + 7] = uint(P, 'hopLimit', p.hopLimit, 8);
    writeIpv6(P, 'src', p.src, out, offset + 8);
    writeIpv6(P, 'dst', p.dst, out, offset + 24);
    out.set(payload, offset + HEADER);
    return out;
  },

  decode(buf, offset = 0, end = buf?.length) {
    range(P, buf, offset, end);
    need(P, offset, end, HEADER, 'header');
    if (buf[offset] >> 4 !== 6) throw new DecodeError(P, offset, `version is ${buf[offset] >> 4}, not 6`);
    const length = u16(buf, offset + 4);
    need(P, offset + HEADER, end, length, `payload length ${length}`);
    return {
      trafficClass: ((buf[offset] & 0x0f) << 4) | (buf[offset + 1] >> 4),
      flowLabel: ((buf[offset + 1] & 0x0f) << 16) | u16(buf, offset + 2),
      nextHeader: buf[offset + 6],
      hopLimit: buf[offset + 7],
      src: formatIpv6(buf, offset + 8),
      dst: formatIpv6(buf, offset + 24),
      payload: buf.subarray(offset + HEADER, offset + HEADER + length),
    };
  },
};

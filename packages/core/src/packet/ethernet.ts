import { formatMac, writeMac } from './address.js';
import { bytes, type Codec, need, output, put16, range, u16, uint } from './codec.js';

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_IPV6 = 0x86dd;

/** An Ethernet II frame without FCS. MACs are lowercase `aa:bb:cc:dd:ee:ff`. */
export interface EthernetFrame {
  dst: string;
  src: string;
  ethertype: number;
  payload: Uint8Array;
}

const P = 'ethernet';
const HEADER = 14;

export const ethernet: Codec<EthernetFrame> = {
  encodingLength: (f) => HEADER + f.payload.length,

  encode(f, buf, offset = 0) {
    const payload = bytes(P, 'payload', f.payload, Number.MAX_SAFE_INTEGER);
    const out = output(P, buf, offset, HEADER + payload.length);
    writeMac(P, 'dst', f.dst, out, offset);
    writeMac(P, 'src', f.src, out, offset + 6);
    put16(out, offset + 12, uint(P, 'ethertype', f.ethertype, 16));
    out.set(payload, offset + HEADER);
    return out;
  },

  decode(buf, offset = 0, end = buf?.length) {
    range(P, buf, offset, end);
    need(P, offset, end, HEADER, 'header');
    return {
      dst: formatMac(buf, offset),
      src: formatMac(buf, offset + 6),
      ethertype: u16(buf, offset + 12),
      payload: buf.subarray(offset + HEADER, end),
    };
  },
};

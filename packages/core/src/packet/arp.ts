import { DecodeError } from '../errors.js';
import { formatIpv4, formatMac, writeIpv4, writeMac } from './address.js';
import { type Codec, need, output, put16, range, u16, uint } from './codec.js';

export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;

/** ARP for IPv4 over Ethernet (RFC 826). */
export interface ArpPacket {
  /** 1 request, 2 reply. */
  op: number;
  senderMac: string;
  senderIp: string;
  targetMac: string;
  targetIp: string;
}

const P = 'arp';
const LENGTH = 28;

export const arp: Codec<ArpPacket> = {
  encodingLength: () => LENGTH,

  encode(a, buf, offset = 0) {
    const out = output(P, buf, offset, LENGTH);
    out.set([0, 1, 8, 0, 6, 4], offset);
    put16(out, offset + 6, uint(P, 'op', a.op, 16));
    writeMac(P, 'senderMac', a.senderMac, out, offset + 8);
    writeIpv4(P, 'senderIp', a.senderIp, out, offset + 14);
    writeMac(P, 'targetMac', a.targetMac, out, offset + 18);
    writeIpv4(P, 'targetIp', a.targetIp, out, offset + 24);
    return out;
  },

  decode(buf, offset = 0, end = buf?.length) {
    range(P, buf, offset, end);
    need(P, offset, end, LENGTH, 'packet');
    if (u16(buf, offset) !== 1)
      throw new DecodeError(P, offset, `hardware type ${u16(buf, offset)} is not Ethernet`);
    if (u16(buf, offset + 2) !== 0x0800)
      throw new DecodeError(
        P,
        offset + 2,
        `protocol type 0x${u16(buf, offset + 2).toString(16)} is not IPv4`,
      );
    if (buf[offset + 4] !== 6 || buf[offset + 5] !== 4) {
      throw new DecodeError(
        P,
        offset + 4,
        `address lengths ${buf[offset + 4]}/${buf[offset + 5]} are not 6/4`,
      );
    }
    return {
      op: u16(buf, offset + 6),
      senderMac: formatMac(buf, offset + 8),
      senderIp: formatIpv4(buf, offset + 14),
      targetMac: formatMac(buf, offset + 18),
      targetIp: formatIpv4(buf, offset + 24),
    };
  },
};

import { bytes, type Codec, need, output, put32, range, uint } from './codec.js';

/** IANA port for VXLAN (RFC 7348). */
export const VXLAN_PORT = 4789;
/** The Linux kernel's historical VXLAN port, used by flannel. */
export const VXLAN_LINUX_PORT = 8472;
/** The I flag: the VNI is valid. */
export const VXLAN_FLAG_I = 0x08;

/** A VXLAN packet (RFC 7348): the 8-byte header and the inner Ethernet frame. Reserved fields are written as zero and ignored on decode. */
export interface VxlanPacket {
  /** The flags byte; `VXLAN_FLAG_I` for a valid VNI. */
  flags: number;
  /** 24-bit VXLAN Network Identifier. */
  vni: number;
  payload: Uint8Array;
}

const P = 'vxlan';

export const vxlan: Codec<VxlanPacket> = {
  encodingLength: (v) => 8 + v.payload.length,

  encode(v, buf, offset = 0) {
    const payload = bytes(P, 'payload', v.payload, Number.MAX_SAFE_INTEGER);
    const out = output(P, buf, offset, 8 + payload.length);
    put32(out, offset, uint(P, 'flags', v.flags, 8) << 24);
    put32(out, offset + 4, uint(P, 'vni', v.vni, 24) * 256);
    out.set(payload, offset + 8);
    return out;
  },

  decode(buf, offset = 0, end = buf?.length) {
    range(P, buf, offset, end);
    need(P, offset, end, 8, 'header');
    return {
      flags: buf[offset],
      vni: (buf[offset + 4] << 16) | (buf[offset + 5] << 8) | buf[offset + 6],
      payload: buf.subarray(offset + 8, end),
    };
  },
};

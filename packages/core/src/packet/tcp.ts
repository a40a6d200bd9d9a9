import { DecodeError, EncodeError } from '../errors.js';
import { pseudoHeader, segmentChecksum, verifySegment } from './checksum.js';
import {
  bytes,
  need,
  output,
  type PseudoHeader,
  put16,
  put32,
  range,
  type TransportCodec,
  u16,
  u32,
  uint,
} from './codec.js';
import { IP_PROTOCOL_TCP } from './ipv4.js';

export interface TcpFlags {
  fin: boolean;
  syn: boolean;
  rst: boolean;
  psh: boolean;
  ack: boolean;
  urg: boolean;
  ece: boolean;
  cwr: boolean;
}

/**
 * A TCP segment (RFC 9293). The checksum covers the IP pseudo-header, passed to `encode` and
 * `decode` as a trailing `{ src, dst }`; `encode` refuses to guess without it or a `checksum`.
 */
export interface TcpSegment {
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: TcpFlags;
  window: number;
  urgentPointer: number;
  /** Raw options, a multiple of 4 bytes (pad with NOP/EOL), at most 40. */
  options: Uint8Array;
  payload: Uint8Array;
  /** Checksum to write as is; computed from the pseudo-header when omitted. */
  checksum?: number;
}

/** `dataOffset` is in 32-bit words; `checksumValid` is present only when `decode` was given the pseudo-header. */
export interface TcpDecoded extends TcpSegment {
  dataOffset: number;
  checksum: number;
  checksumValid?: boolean;
}

const P = 'tcp';
const FLAG_BITS: [keyof TcpFlags, number][] = [
  ['fin', 0x01],
  ['syn', 0x02],
  ['rst', 0x04],
  ['psh', 0x08],
  ['ack', 0x10],
  ['urg', 0x20],
  ['ece', 0x40],
  ['cwr', 0x80],
];

function pseudo(ip: PseudoHeader, length: number, fail: (msg: string) => Error): Uint8Array {
  const b = pseudoHeader(ip, IP_PROTOCOL_TCP, length);
  if (b === undefined) throw fail('pseudo-header needs two IPv4 or two IPv6 addresses');
  return b;
}

export const tcp: TransportCodec<TcpSegment, TcpDecoded> = {
  encodingLength: (s) => 20 + s.options.length + s.payload.length,

  encode(s, buf, offset = 0, ip) {
    const options = bytes(P, 'options', s.options, 40);
    if (options.length % 4 !== 0)
      throw new EncodeError(P, `options are ${options.length} bytes, not a multiple of 4`);
    const hlen = 20 + options.length;
    const length = hlen + bytes(P, 'payload', s.payload, 0xffff - hlen).length;
    const out = output(P, buf, offset, length);
    put16(out, offset, uint(P, 'sport', s.sport, 16));
    put16(out, offset + 2, uint(P, 'dport', s.dport, 16));
    put32(out, offset + 4, uint(P, 'seq', s.seq, 32));
    put32(out, offset + 8, uint(P, 'ack', s.ack, 32));
    out[offset + 12] = (hlen / 4) << 4;
    let flags = 0;
    for (const [name, bit] of FLAG_BITS) if (s.flags[name]) flags |= bit;
    out[offset + 13] = flags;
    put16(out, offset + 14, uint(P, 'window', s.window, 16));
    put16(out, offset + 18, uint(P, 'urgentPointer', s.urgentPointer, 16));
    out.set(options, offset + 20);
    out.set(s.payload, offset + hlen);
    let sum: number;
    if (s.checksum !== undefined) sum = uint(P, 'checksum', s.checksum, 16);
    else if (ip !== undefined)
      sum = segmentChecksum(
        pseudo(ip, length, (m) => new EncodeError(P, m)),
        out,
        16,
        offset,
        offset + length,
      );
    else throw new EncodeError(P, 'the checksum needs the pseudo-header: pass { src, dst } or a checksum');
    put16(out, offset + 16, sum);
    return out;
  },

  decode(buf, offset = 0, end = buf?.length, ip) {
    range(P, buf, offset, end);
    need(P, offset, end, 20, 'header');
    const dataOffset = buf[offset + 12] >> 4;
    if (dataOffset < 5) throw new DecodeError(P, offset + 12, `data offset ${dataOffset} is below 5`);
    need(P, offset, end, dataOffset * 4, 'header with options');
    const f = buf[offset + 13];
    const flags = {} as TcpFlags;
    for (const [name, bit] of FLAG_BITS) flags[name] = (f & bit) !== 0;
    const s: TcpDecoded = {
      sport: u16(buf, offset),
      dport: u16(buf, offset + 2),
      seq: u32(buf, offset + 4),
      ack: u32(buf, offset + 8),
      dataOffset,
      flags,
      window: u16(buf, offset + 14),
      urgentPointer: u16(buf, offset + 18),
      options: buf.subarray(offset + 20, offset + dataOffset * 4),
      payload: buf.subarray(offset + dataOffset * 4, end),
      checksum: u16(buf, offset + 16),
    };
    if (ip !== undefined) {
      s.checksumValid = verifySegment(
        pseudo(ip, end - offset, (m) => new DecodeError(P, offset, m)),
        buf,
        offset,
        end,
      );
    }
    return s;
  },
};

/** The MSS option (kind 2), 4 bytes. */
export function mssOption(mss: number): Uint8Array {
  const b = new Uint8Array([2, 4, 0, 0]);
  put16(b, 2, uint(P, 'mss', mss, 16));
  return b;
}

/** The MSS from raw TCP options, or undefined when absent. */
export function readMss(options: Uint8Array): number | undefined {
  for (let o = 0; o < options.length; ) {
    const kind = options[o];
    if (kind === 0) break;
    if (kind === 1) {
      o++;
      continue;
    }
    need(P, 20 + o, 20 + options.length, 2, `option ${kind}`);
    const len = options[o + 1];
    if (len < 2) throw new DecodeError(P, 20 + o + 1, `option ${kind} length ${len} is below 2`);
    need(P, 20 + o, 20 + options.length, len, `option ${kind}`);
    if (kind === 2) {
      if (len !== 4) throw new DecodeError(P, 20 + o + 1, `MSS option length ${len} is not 4`);
      return u16(options, o + 2);
    }
    o += len;
  }
  return undefined;
}

import { EncodeError } from '../errors.js';
import { internetChecksum } from './checksum.js';
import { bytes, type Codec, need, output, put16, range, u16, uint } from './codec.js';

export const ICMPV4_ECHO_REPLY = 0;
export const ICMPV4_DEST_UNREACHABLE = 3;
export const ICMPV4_ECHO_REQUEST = 8;
export const ICMPV4_TIME_EXCEEDED = 11;
/** Destination unreachable code: fragmentation needed and DF set (carries `nextHopMtu`). */
export const ICMPV4_FRAG_NEEDED = 4;

/**
 * An ICMPv4 message (RFC 792). Bytes 4-7 of the header come from `id`/`seq` for echo (types 0, 8),
 * `nextHopMtu` for type 3 code 4 (RFC 1191), and `rest` otherwise; decode fills exactly the fields
 * of the message's kind.
 */
export interface Icmpv4Message {
  type: number;
  code: number;
  id?: number;
  seq?: number;
  nextHopMtu?: number;
  /** Raw header bytes 4-7 for other kinds; zeros when omitted. */
  rest?: Uint8Array;
  payload: Uint8Array;
  /** Checksum to write as is; computed when omitted. */
  checksum?: number;
}

export interface Icmpv4Decoded extends Icmpv4Message {
  checksum: number;
  checksumValid: boolean;
}

const P = 'icmpv4';
const isEcho = (type: number) => type === ICMPV4_ECHO_REPLY || type === ICMPV4_ECHO_REQUEST;
const isFragNeeded = (type: number, code: number) =>
  type === ICMPV4_DEST_UNREACHABLE && code === ICMPV4_FRAG_NEEDED;

export const icmpv4: Codec<Icmpv4Message, Icmpv4Decoded> = {
  encodingLength: (m) => 8 + m.payload.length,

  encode(m, buf, offset = 0) {
    const payload = bytes(P, 'payload', m.payload, 0xffff - 8);
    const out = output(P, buf, offset, 8 + payload.length);
    out[offset] = uint(P, 'type', m.type, 8);
    out[offset + 1] = uint(P, 'code', m.code, 8);
    put16(out, offset + 2, 0);
    if (m.rest !== undefined) {
      if (bytes(P, 'rest', m.rest).length !== 4)
        throw new EncodeError(P, `rest is ${m.rest.length} bytes, not 4`);
      out.set(m.rest, offset + 4);
    } else {
      out.fill(0, offset + 4, offset + 8);
    }
    if (m.id !== undefined) put16(out, offset + 4, uint(P, 'id', m.id, 16));
    if (m.seq !== undefined) put16(out, offset + 6, uint(P, 'seq', m.seq, 16));
    if (m.nextHopMtu !== undefined) put16(out, offset + 6, uint(P, 'nextHopMtu', m.nextHopMtu, 16));
    out.set(payload, offset + 8);
    const end = offset + 8 + payload.length;
    put16(
      out,
      offset + 2,
      m.checksum === undefined ? internetChecksum(out, offset, end) : uint(P, 'checksum', m.checksum, 16),
    );
    return out;
  },

  decode(buf, offset = 0, end = buf?.length) {
    range(P, buf, offset, end);
    need(P, offset, end, 8, 'header');
    const type = buf[offset];
    const code = buf[offset + 1];
    const kind = isEcho(type)
      ? { id: u16(buf, offset + 4), seq: u16(buf, offset + 6) }
      : isFragNeeded(type, code)
        ? { nextHopMtu: u16(buf, offset + 6) }
        : { rest: buf.subarray(offset + 4, offset + 8) };
    return {
      type,
      code,
      ...kind,
      payload: buf.subarray(offset + 8, end),
      checksum: u16(buf, offset + 2),
      checksumValid: internetChecksum(buf, offset, end) === 0,
    };
  },
};

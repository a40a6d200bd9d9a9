import { DecodeError, EncodeError } from '../errors.js';
import { formatIpv6, formatMac, writeIpv6, writeMac } from './address.js';
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
import { IP_PROTOCOL_ICMPV6 } from './ipv4.js';

export const ICMPV6_DEST_UNREACHABLE = 1;
export const ICMPV6_PACKET_TOO_BIG = 2;
export const ICMPV6_TIME_EXCEEDED = 3;
export const ICMPV6_ECHO_REQUEST = 128;
export const ICMPV6_ECHO_REPLY = 129;
export const ICMPV6_NEIGHBOR_SOLICITATION = 135;
export const ICMPV6_NEIGHBOR_ADVERTISEMENT = 136;

/**
 * An ICMPv6 message (RFC 4443): `body` is everything after type, code and checksum. The checksum
 * covers the IPv6 pseudo-header, so `encode` and `decode` take `{ src, dst }` as a trailing argument.
 */
export interface Icmpv6Message {
  type: number;
  code: number;
  body: Uint8Array;
  /** Checksum to write as is; computed from the pseudo-header when omitted. */
  checksum?: number;
}

/** `checksumValid` is present only when `decode` was given the pseudo-header. */
export interface Icmpv6Decoded extends Icmpv6Message {
  checksum: number;
  checksumValid?: boolean;
}

/** Neighbor Solicitation (RFC 4861 §4.3). */
export interface NeighborSolicitation {
  target: string;
  /** Source link-layer address option. */
  sourceLinkLayer?: string;
}

/** Neighbor Advertisement (RFC 4861 §4.4). */
export interface NeighborAdvertisement {
  target: string;
  router: boolean;
  solicited: boolean;
  override: boolean;
  /** Target link-layer address option. */
  targetLinkLayer?: string;
}

/** Packet Too Big (RFC 4443 §3.2). */
export interface PacketTooBig {
  mtu: number;
  /** The start of the invoking packet, from its IPv6 header on. */
  packet: Uint8Array;
}

const P = 'icmpv6';

function pseudo(ip: PseudoHeader, length: number, fail: (msg: string) => Error): Uint8Array {
  const b = pseudoHeader(ip, IP_PROTOCOL_ICMPV6, length);
  if (b === undefined || b.length !== 40) throw fail('pseudo-header needs two IPv6 addresses');
  return b;
}

export const icmpv6: TransportCodec<Icmpv6Message, Icmpv6Decoded> = {
  encodingLength: (m) => 4 + m.body.length,

  encode(m, buf, offset = 0, ip) {
    const body = bytes(P, 'body', m.body, 0xffff - 4);
    const length = 4 + body.length;
    const out = output(P, buf, offset, length);
    out[offset] = uint(P, 'type', m.type, 8);
    out[offset + 1] = uint(P, 'code', m.code, 8);
    out.set(body, offset + 4);
    let sum: number;
    if (m.checksum !== undefined) sum = uint(P, 'checksum', m.checksum, 16);
    else if (ip !== undefined)
      sum = segmentChecksum(
        pseudo(ip, length, (s) => new EncodeError(P, s)),
        out,
        2,
        offset,
        offset + length,
      );
    else throw new EncodeError(P, 'the checksum needs the pseudo-header: pass { src, dst } or a checksum');
    put16(out, offset + 2, sum);
    return out;
  },

  decode(buf, offset = 0, end = buf?.length, ip) {
    range(P, buf, offset, end);
    need(P, offset, end, 4, 'header');
    const m: Icmpv6Decoded = {
      type: buf[offset],
      code: buf[offset + 1],
      body: buf.subarray(offset + 4, end),
      checksum: u16(buf, offset + 2),
    };
    if (ip !== undefined) {
      m.checksumValid = verifySegment(
        pseudo(ip, end - offset, (s) => new DecodeError(P, offset, s)),
        buf,
        offset,
        end,
      );
    }
    return m;
  },
};

function expectType(m: Icmpv6Message, type: number, name: string, min: number): Uint8Array {
  if (m.type !== type) throw new DecodeError(P, 0, `type ${m.type} is not ${name} (${type})`);
  if (!(m.body instanceof Uint8Array)) throw new DecodeError(P, 4, 'body is not a Uint8Array');
  need(P, 4, 4 + m.body.length, min, name);
  return m.body;
}

/** Finds a link-layer address option (RFC 4861 §4.6.1) in the options starting at `body[start]`. */
function linkLayerOption(body: Uint8Array, start: number, kind: number): string | undefined {
  let found: string | undefined;
  for (let o = start; o < body.length; ) {
    need(P, 4 + o, 4 + body.length, 2, 'option header');
    const len = body[o + 1] * 8;
    if (len === 0) throw new DecodeError(P, 4 + o, 'option length is 0');
    need(P, 4 + o, 4 + body.length, len, `option ${body[o]}`);
    if (body[o] === kind && found === undefined && len >= 8) found = formatMac(body, o + 2);
    o += len;
  }
  return found;
}

function linkLayerBytes(field: string, kind: number, mac: string | undefined): Uint8Array {
  if (mac === undefined) return new Uint8Array(0);
  const b = new Uint8Array(8);
  b[0] = kind;
  b[1] = 1;
  writeMac(P, field, mac, b, 2);
  return b;
}

export function neighborSolicitation(ns: NeighborSolicitation): Icmpv6Message {
  const opt = linkLayerBytes('sourceLinkLayer', 1, ns.sourceLinkLayer);
  const body = new Uint8Array(20 + opt.length);
  writeIpv6(P, 'target', ns.target, body, 4);
  body.set(opt, 20);
  return { type: ICMPV6_NEIGHBOR_SOLICITATION, code: 0, body };
}

export function parseNeighborSolicitation(m: Icmpv6Message): NeighborSolicitation {
  const body = expectType(m, ICMPV6_NEIGHBOR_SOLICITATION, 'neighbor solicitation', 20);
  const ns: NeighborSolicitation = { target: formatIpv6(body, 4) };
  const sll = linkLayerOption(body, 20, 1);
  if (sll !== undefined) ns.sourceLinkLayer = sll;
  return ns;
}

export function neighborAdvertisement(na: NeighborAdvertisement): Icmpv6Message {
  const opt = linkLayerBytes('targetLinkLayer', 2, na.targetLinkLayer);
  const body = new Uint8Array(20 + opt.length);
  body[0] = (na.router ? 0x80 : 0) | (na.solicited ? 0x40 : 0) | (na.override ? 0x20 : 0);
  writeIpv6(P, 'target', na.target, body, 4);
  body.set(opt, 20);
  return { type: ICMPV6_NEIGHBOR_ADVERTISEMENT, code: 0, body };
}

export function parseNeighborAdvertisement(m: Icmpv6Message): NeighborAdvertisement {
  const body = expectType(m, ICMPV6_NEIGHBOR_ADVERTISEMENT, 'neighbor advertisement', 20);
  const na: NeighborAdvertisement = {
    target: formatIpv6(body, 4),
    router: (body[0] & 0x80) !== 0,
    solicited: (body[0] & 0x40) !== 0,
    override: (body[0] & 0x20) !== 0,
  };
  const tll = linkLayerOption(body, 20, 2);
  if (tll !== undefined) na.targetLinkLayer = tll;
  return na;
}

/** Builds Packet Too Big, keeping only as much of `packet` as fits a 1280-byte IPv6 packet (RFC 4443 §2.4 c). */
export function packetTooBig(ptb: PacketTooBig): Icmpv6Message {
  const packet = bytes(P, 'packet', ptb.packet, Number.MAX_SAFE_INTEGER).subarray(0, 1280 - 40 - 8);
  const body = new Uint8Array(4 + packet.length);
  put32(body, 0, uint(P, 'mtu', ptb.mtu, 32));
  body.set(packet, 4);
  return { type: ICMPV6_PACKET_TOO_BIG, code: 0, body };
}

export function parsePacketTooBig(m: Icmpv6Message): PacketTooBig {
  const body = expectType(m, ICMPV6_PACKET_TOO_BIG, 'packet too big', 4);
  return { mtu: u32(body, 0), packet: body.subarray(4) };
}

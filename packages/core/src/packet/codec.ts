import { DecodeError, EncodeError } from '../errors.js';

/**
 * A packet codec in the abstract-encoding style (as dns-packet). `encode` writes into `buf` at
 * `offset` (allocating when `buf` is omitted) and returns the buffer; `decode` reads
 * `buf[offset, end)` and throws only `DecodeError`. Decoded payloads are views into the input.
 */
export interface Codec<T, D = T> {
  encode(value: T, buf?: Uint8Array, offset?: number): Uint8Array;
  decode(buf: Uint8Array, offset?: number, end?: number): D;
  encodingLength(value: T): number;
}

/**
 * The addresses of the IP header around a transport segment, for the checksum pseudo-header.
 * The family follows from the text: both IPv4 (dotted) or both IPv6.
 */
export interface PseudoHeader {
  src: string;
  dst: string;
}

/**
 * A codec whose checksum covers an IP pseudo-header (UDP, TCP, ICMPv6). The pseudo-header is a
 * trailing argument because the segment's own bytes do not carry it.
 */
export interface TransportCodec<T, D = T> {
  encode(value: T, buf?: Uint8Array, offset?: number, ip?: PseudoHeader): Uint8Array;
  decode(buf: Uint8Array, offset?: number, end?: number, ip?: PseudoHeader): D;
  encodingLength(value: T): number;
}

/** Checks the decode range and returns `end`. */
export function range(protocol: string, buf: Uint8Array, offset: number, end: number): number {
  if (!(buf instanceof Uint8Array)) throw new DecodeError(protocol, 0, 'input is not a Uint8Array');
  if (
    !Number.isSafeInteger(offset) ||
    !Number.isSafeInteger(end) ||
    offset < 0 ||
    offset > end ||
    end > buf.length
  ) {
    throw new DecodeError(protocol, 0, `range [${offset}, ${end}) is outside the ${buf.length}-byte input`);
  }
  return end;
}

export function need(protocol: string, offset: number, end: number, n: number, what: string): void {
  if (end - offset < n)
    throw new DecodeError(protocol, offset, `${what} needs ${n} bytes, ${end - offset} left`);
}

/** The buffer to encode into: `buf` when it has room for `length` bytes at `offset`, else a new one. */
export function output(
  protocol: string,
  buf: Uint8Array | undefined,
  offset: number,
  length: number,
): Uint8Array {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new EncodeError(protocol, `bad offset ${offset}`);
  if (buf === undefined) return new Uint8Array(offset + length);
  if (!(buf instanceof Uint8Array)) throw new EncodeError(protocol, 'buffer is not a Uint8Array');
  if (buf.length - offset < length) {
    throw new EncodeError(
      protocol,
      `buffer too small: ${length} bytes needed at offset ${offset}, ${buf.length} in buffer`,
    );
  }
  return buf;
}

export function uint(protocol: string, field: string, value: number, bits: number): number {
  if (!Number.isInteger(value) || value < 0 || value >= 2 ** bits) {
    throw new EncodeError(protocol, `${field} must be an integer in 0..${2 ** bits - 1}, got ${value}`);
  }
  return value;
}

export function bytes(protocol: string, field: string, value: Uint8Array, max = 0xffff): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new EncodeError(protocol, `${field} must be a Uint8Array`);
  if (value.length > max)
    throw new EncodeError(protocol, `${field} is ${value.length} bytes, at most ${max} fit`);
  return value;
}

export const u16 = (b: Uint8Array, o: number): number => (b[o] << 8) | b[o + 1];
export const u32 = (b: Uint8Array, o: number): number =>
  b[o] * 0x1000000 + ((b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]);

export function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v;
}

export function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

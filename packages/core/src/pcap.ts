import { EncodeError } from './errors.js';

/** LINKTYPE_ETHERNET: frames start with an Ethernet II header. */
export const LINKTYPE_ETHERNET = 1;

/** Capture time: nanoseconds since the Unix epoch, or seconds and microseconds. */
export type PcapTimestamp = bigint | { seconds: number; microseconds: number };

export interface PcapRecord {
  timestamp: PcapTimestamp;
  bytes: Uint8Array;
  /** Length of the frame on the wire when `bytes` is a truncated copy; defaults to `bytes.length`. */
  originalLength?: number;
}

/** A frame seen on a named device, for pcapng. */
export interface PcapngRecord extends PcapRecord {
  /** Interface name; the first use of a name adds its Interface Description Block. */
  device: string;
}

export interface PcapOptions {
  /**
   * Longest frame kept; longer frames are truncated.
   * @default 262144
   */
  snaplen?: number;
  /**
   * Link-layer header type of the frames.
   * @default LINKTYPE_ETHERNET (1)
   */
  linktype?: number;
}

const NS_PER_S = 1_000_000_000n;

function toNanoseconds(protocol: string, t: PcapTimestamp): bigint {
  if (typeof t === 'bigint') {
    if (t < 0n) throw new EncodeError(protocol, `timestamp ${t} is before 1970`);
    return t;
  }
  const { seconds, microseconds } = t;
  if (!Number.isSafeInteger(seconds) || seconds < 0)
    throw new EncodeError(protocol, `timestamp seconds ${seconds} is not a non-negative integer`);
  if (!Number.isInteger(microseconds) || microseconds < 0 || microseconds > 999_999) {
    throw new EncodeError(protocol, `timestamp microseconds ${microseconds} is not in 0..999999`);
  }
  return BigInt(seconds) * NS_PER_S + BigInt(microseconds) * 1000n;
}

function checkOptions(protocol: string, o: PcapOptions): Required<PcapOptions> {
  const snaplen = o.snaplen ?? 262144;
  const linktype = o.linktype ?? LINKTYPE_ETHERNET;
  if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > 0xffffffff)
    throw new EncodeError(protocol, `bad snaplen ${snaplen}`);
  if (!Number.isInteger(linktype) || linktype < 0 || linktype > 0xffff)
    throw new EncodeError(protocol, `bad linktype ${linktype}`);
  return { snaplen, linktype };
}

function checkRecord(protocol: string, r: PcapRecord): { ns: bigint; bytes: Uint8Array; orig: number } {
  if (!(r.bytes instanceof Uint8Array)) throw new EncodeError(protocol, 'bytes must be a Uint8Array');
  const orig = r.originalLength ?? r.bytes.length;
  if (!Number.isInteger(orig) || orig < r.bytes.length || orig > 0xffffffff) {
    throw new EncodeError(
      protocol,
      `originalLength ${orig} is below the ${r.bytes.length} bytes given or above 2^32-1`,
    );
  }
  return { ns: toNanoseconds(protocol, r.timestamp), bytes: r.bytes, orig };
}

const pad4 = (n: number) => (n + 3) & ~3;

/** Collects frames into a classic pcap file (magic 0xa1b2c3d4, v2.4, microsecond timestamps, little-endian). */
export class PcapWriter {
  readonly snaplen: number;
  readonly linktype: number;
  private readonly records: { ns: bigint; bytes: Uint8Array; orig: number }[] = [];

  constructor(options: PcapOptions = {}) {
    ({ snaplen: this.snaplen, linktype: this.linktype } = checkOptions('pcap', options));
  }

  /** Adds a frame (copied, cut to `snaplen`). */
  add(record: PcapRecord): this {
    const r = checkRecord('pcap', record);
    if (r.ns / NS_PER_S > 0xffffffffn)
      throw new EncodeError('pcap', `timestamp ${r.ns}ns is past 2106, beyond 32-bit seconds`);
    this.records.push({ ...r, bytes: r.bytes.slice(0, this.snaplen) });
    return this;
  }

  get size(): number {
    return this.records.length;
  }

  toBytes(): Uint8Array {
    const out = new Uint8Array(24 + this.records.reduce((n, r) => n + 16 + r.bytes.length, 0));
    const view = new DataView(out.buffer);
    view.setUint32(0, 0xa1b2c3d4, true);
    view.setUint16(4, 2, true);
    view.setUint16(6, 4, true);
    view.setUint32(16, this.snaplen, true);
    view.setUint32(20, this.linktype, true);
    let o = 24;
    for (const r of this.records) {
      const n = r.bytes.length;
      view.setUint32(o, Number(r.ns / NS_PER_S), true);
      view.setUint32(o + 4, Number((r.ns % NS_PER_S) / 1000n), true);
      view.setUint32(o + 8, n, true);
      view.setUint32(o + 12, r.orig, true);
      out.set(r.bytes, o + 16);
      o += 16 + n;
    }
    return out;
  }
}

/**
 * Collects frames into a pcapng file: one section, one Interface Description Block per device
 * (with `if_name` and `if_tsresol` = nanoseconds), one Enhanced Packet Block per frame.
 */
export class PcapngWriter {
  private readonly defaults: Required<PcapOptions>;
  private readonly interfaces: { name: string; snaplen: number; linktype: number }[] = [];
  private readonly ids = new Map<string, number>();
  private readonly records: { id: number; ns: bigint; bytes: Uint8Array; orig: number }[] = [];

  constructor(options: PcapOptions = {}) {
    this.defaults = checkOptions('pcapng', options);
  }

  /** Declares a device (optionally with its own snaplen/linktype) and returns its interface id; idempotent per name. */
  addInterface(name: string, options: PcapOptions = {}): number {
    const known = this.ids.get(name);
    if (known !== undefined) return known;
    if (typeof name !== 'string' || name === '')
      throw new EncodeError('pcapng', 'device name must be a non-empty string');
    const id = this.interfaces.length;
    this.interfaces.push({ name, ...checkOptions('pcapng', { ...this.defaults, ...options }) });
    this.ids.set(name, id);
    return id;
  }

  /** Adds a frame seen on `record.device` (copied, cut to the interface's snaplen). */
  add(record: PcapngRecord): this {
    const r = checkRecord('pcapng', record);
    if (r.ns > 0xffffffffffffffffn)
      throw new EncodeError('pcapng', `timestamp ${r.ns}ns does not fit 64 bits`);
    const id = this.addInterface(record.device);
    this.records.push({ ...r, id, bytes: r.bytes.slice(0, this.interfaces[id].snaplen) });
    return this;
  }

  get size(): number {
    return this.records.length;
  }

  toBytes(): Uint8Array {
    const encoder = new TextEncoder();
    const names = this.interfaces.map((i) => encoder.encode(i.name));
    const shbLength = 28;
    // IDB: 16 fixed + if_name option + if_tsresol option (4 + 4) + opt_endofopt (4) + trailing length (4).
    const idbLength = (name: Uint8Array) => 16 + 4 + pad4(name.length) + 8 + 4 + 4;
    const epbLength = (r: { bytes: Uint8Array }) => 32 + pad4(r.bytes.length);
    const total =
      shbLength +
      names.reduce((n, name) => n + idbLength(name), 0) +
      this.records.reduce((n, r) => n + epbLength(r), 0);
    const out = new Uint8Array(total);
    const view = new DataView(out.buffer);
    const block = (o: number, type: number, length: number) => {
      view.setUint32(o, type, true);
      view.setUint32(o + 4, length, true);
      view.setUint32(o + length - 4, length, true);
    };
    block(0, 0x0a0d0d0a, shbLength);
    view.setUint32(8, 0x1a2b3c4d, true);
    view.setUint16(12, 1, true);
    view.setUint16(14, 0, true);
    view.setBigInt64(16, -1n, true);
    let o = shbLength;
    this.interfaces.forEach((iface, i) => {
      const length = idbLength(names[i]);
      block(o, 1, length);
      view.setUint16(o + 8, iface.linktype, true);
      view.setUint32(o + 12, iface.snaplen, true);
      let p = o + 16;
      view.setUint16(p, 2, true);
      view.setUint16(p + 2, names[i].length, true);
      out.set(names[i], p + 4);
      p += 4 + pad4(names[i].length);
      view.setUint16(p, 9, true);
      view.setUint16(p + 2, 1, true);
      out[p + 4] = 9;
      o += length;
    });
    for (const r of this.records) {
      const length = epbLength(r);
      const n = r.bytes.length;
      block(o, 6, length);
      view.setUint32(o + 8, r.id, true);
      view.setUint32(o + 12, Number(r.ns >> 32n), true);
      view.setUint32(o + 16, Number(r.ns & 0xffffffffn), true);
      view.setUint32(o + 20, n, true);
      view.setUint32(o + 24, r.orig, true);
      out.set(r.bytes, o + 28);
      o += length;
    }
    return out;
  }
}

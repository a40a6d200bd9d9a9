/**
 * Connection tracking as nf_conntrack does it: entries keyed by their original and reply tuples,
 * created unconfirmed by the first packet and inserted at the confirm step, per-protocol state and
 * timeouts on a virtual clock, and the NAT tuple selection (nf_nat_core's get_unique_tuple):
 * keep the original tuple when it is free, otherwise pick a free port in the range, so a clash
 * on the reply tuple moves the source port (the implicit SNAT behind kubernetes#56903).
 */
import { bigIntToIp, fnv1a64, ipv4ToInt } from '@podnet/core';
import type { ClockView } from '../hooks.js';
import type { IpFamily, NfPacket } from './packet.js';
import {
  hasPorts,
  hostPort,
  PROTO_ICMP,
  PROTO_ICMPV6,
  PROTO_TCP,
  PROTO_UDP,
  protoName,
  TCP_ACK,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
} from './packet.js';

export interface CtTuple {
  src: string;
  dst: string;
  /** Ports; for ICMP echo `sport` is the identifier and `dport` 0. */
  sport: number;
  dport: number;
  /** ICMP type of packets in this direction (8/0, 128/129). */
  icmpType?: number;
  icmpCode?: number;
}

export type TcpCtState =
  | 'SYN_SENT'
  | 'SYN_RECV'
  | 'ESTABLISHED'
  | 'FIN_WAIT'
  | 'CLOSE_WAIT'
  | 'LAST_ACK'
  | 'TIME_WAIT'
  | 'CLOSE';

export interface CtEntry {
  id: number;
  family: IpFamily;
  proto: number;
  orig: CtTuple;
  reply: CtTuple;
  tcpState?: TcpCtState;
  /** Which direction sent the first FIN (TCP teardown). */
  finDir?: CtDir;
  seenReply: boolean;
  assured: boolean;
  confirmed: boolean;
  /** nf_nat_initialized per manip type. */
  natDone: { src: boolean; dst: boolean };
  /** The tuple was changed by NAT (IPS_SRC_NAT / IPS_DST_NAT). */
  srcNat: boolean;
  dstNat: boolean;
  /** Virtual-clock second at which the entry expires. */
  expires: number;
  /** UDP: after this second a replied flow counts as a stream. */
  streamAfter?: number;
  mark: number;
  counters: { orig: { packets: number; bytes: number }; reply: { packets: number; bytes: number } };
  /** Set when IPVS scheduled this connection (conntrack=1 integration). */
  ipvs?: { service: string; realServer: string };
}

export type CtDir = 'orig' | 'reply';

export type CtState = 'NEW' | 'ESTABLISHED' | 'RELATED' | 'INVALID' | 'UNTRACKED';

/** What conntrack attached to one packet (skb->_nfct + ctinfo). */
export interface PacketCt {
  state: CtState;
  entry?: CtEntry;
  dir: CtDir;
}

export interface ConntrackTimeouts {
  /** Seconds, as the nf_conntrack_* sysctls. */
  tcp: Record<TcpCtState, number>;
  udp: number;
  udpStream: number;
  icmp: number;
  generic: number;
}

export const DEFAULT_TIMEOUTS: ConntrackTimeouts = {
  tcp: {
    SYN_SENT: 120,
    SYN_RECV: 60,
    ESTABLISHED: 432000,
    FIN_WAIT: 120,
    CLOSE_WAIT: 60,
    LAST_ACK: 30,
    TIME_WAIT: 120,
    CLOSE: 10,
  },
  udp: 30,
  udpStream: 120,
  icmp: 30,
  generic: 600,
};

/** A clock in seconds that only moves when told to. */
export class VirtualClock {
  private t = 0;
  now(): number {
    return this.t;
  }
  advance(seconds: number): void {
    if (!(seconds >= 0)) throw new RangeError('the clock only moves forward');
    this.t += seconds;
  }
}

/** A NAT mapping request for one manip type (the kernel's nf_nat_range2). */
export interface NatRange {
  /** Address range; absent keeps the address. */
  minAddr?: string;
  maxAddr?: string;
  /** Port range; absent lets NAT keep or pick the port. */
  minPort?: number;
  maxPort?: number;
  random?: boolean;
  randomFully?: boolean;
  persistent?: boolean;
}

export interface ConntrackOptions {
  clock?: ClockView;
  timeouts?: Partial<ConntrackTimeouts>;
  /** Seed of the generator NAT uses for random port offsets. @default 1 */
  seed?: number;
  /** nf_conntrack_tcp_loose: pick up connections from a mid-stream ACK. @default true */
  tcpLoose?: boolean;
}

const ICMP_ECHO_PAIRS: Record<number, number> = {
  8: 0,
  0: 8,
  13: 14,
  14: 13,
  15: 16,
  16: 15,
  17: 18,
  18: 17,
};
const ICMPV6_ECHO_PAIRS: Record<number, number> = { 128: 129, 129: 128 };
const ICMP_ERRORS = new Set([3, 4, 5, 11, 12]);
const ICMPV6_ERRORS = new Set([1, 2, 3, 4]);

function tupleKey(proto: number, t: CtTuple): string {
  return `${proto}|${t.src}|${t.sport}|${t.dst}|${t.dport}|${t.icmpType ?? ''}`;
}

export function invertTuple(proto: number, t: CtTuple): CtTuple {
  const out: CtTuple = { src: t.dst, dst: t.src, sport: t.dport, dport: t.sport };
  if (t.icmpType !== undefined) {
    const pairs = proto === PROTO_ICMPV6 ? ICMPV6_ECHO_PAIRS : ICMP_ECHO_PAIRS;
    out.icmpType = pairs[t.icmpType] ?? t.icmpType;
    out.icmpCode = t.icmpCode;
    out.sport = t.sport;
    out.dport = t.dport;
  }
  return out;
}

function isIcmp(proto: number): boolean {
  return proto === PROTO_ICMP || proto === PROTO_ICMPV6;
}

/** The tuple of a packet in its own direction. */
export function packetTuple(p: NfPacket): CtTuple {
  if (isIcmp(p.proto)) {
    return {
      src: p.src,
      dst: p.dst,
      sport: p.icmpId ?? 0,
      dport: 0,
      icmpType: p.icmpType ?? 8,
      icmpCode: p.icmpCode ?? 0,
    };
  }
  return hasPorts(p.proto)
    ? { src: p.src, dst: p.dst, sport: p.sport, dport: p.dport }
    : { src: p.src, dst: p.dst, sport: 0, dport: 0 };
}

function isIcmpError(p: NfPacket): boolean {
  if (p.proto === PROTO_ICMP) return ICMP_ERRORS.has(p.icmpType ?? 8);
  if (p.proto === PROTO_ICMPV6) return ICMPV6_ERRORS.has(p.icmpType ?? 128);
  return false;
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Undo = (fn: () => void) => void;
const noUndo: Undo = () => undefined;

function snapshot(e: CtEntry): CtEntry {
  return {
    ...e,
    orig: { ...e.orig },
    reply: { ...e.reply },
    natDone: { ...e.natDone },
    counters: { orig: { ...e.counters.orig }, reply: { ...e.counters.reply } },
  };
}

export class Conntrack {
  readonly clock: ClockView;
  readonly timeouts: ConntrackTimeouts;
  private readonly tcpLoose: boolean;
  private readonly byTuple = new Map<string, { entry: CtEntry; dir: CtDir }>();
  /** SNAT mappings by original source (nf_nat's bysource hash). */
  private readonly bySource = new Map<string, CtEntry>();
  private nextId = 1;
  private readonly random: () => number;

  constructor(options: ConntrackOptions = {}) {
    this.clock = options.clock ?? new VirtualClock();
    this.timeouts = {
      ...DEFAULT_TIMEOUTS,
      ...options.timeouts,
      tcp: { ...DEFAULT_TIMEOUTS.tcp, ...options.timeouts?.tcp },
    };
    this.tcpLoose = options.tcpLoose ?? true;
    this.random = mulberry32(options.seed ?? 1);
  }

  /** Confirmed entries, oldest first. */
  entries(): CtEntry[] {
    this.expire();
    const seen = new Set<CtEntry>();
    for (const { entry } of this.byTuple.values()) seen.add(entry);
    return [...seen].sort((a, b) => a.id - b.id);
  }

  get size(): number {
    return this.entries().length;
  }

  /** Removes every entry (`conntrack -F`). */
  flush(): number {
    const n = this.entries().length;
    this.byTuple.clear();
    this.bySource.clear();
    return n;
  }

  /** Removes entries matching the filter (`conntrack -D`); returns how many. */
  delete(filter: (e: CtEntry) => boolean): number {
    let n = 0;
    for (const e of this.entries()) {
      if (filter(e)) {
        this.remove(e);
        n++;
      }
    }
    return n;
  }

  /** `conntrack -L` text, one entry per line. */
  dump(): string {
    return this.entries()
      .map((e) => formatEntry(e, this.clock.now()))
      .join('\n');
  }

  find(p: NfPacket): { entry: CtEntry; dir: CtDir } | undefined {
    const hit = this.byTuple.get(tupleKey(p.proto, packetTuple(p)));
    if (hit && hit.entry.expires <= this.clock.now()) {
      this.remove(hit.entry);
      return undefined;
    }
    return hit;
  }

  /**
   * The conntrack-in step (nf_conntrack_in): find the packet's entry or make a new unconfirmed one,
   * update protocol state and timeouts, and classify it.
   */
  track(p: NfPacket, undo: Undo = noUndo): PacketCt {
    let hit = this.find(p);
    if (
      hit &&
      hit.dir === 'orig' &&
      p.proto === PROTO_TCP &&
      ((p.tcpFlags ?? TCP_ACK) & (TCP_SYN | TCP_ACK)) === TCP_SYN &&
      (hit.entry.tcpState === 'TIME_WAIT' || hit.entry.tcpState === 'CLOSE')
    ) {
      // A new SYN on a closing connection reopens it as a fresh entry.
      const old = hit.entry;
      this.remove(old);
      undo(() => this.insert(old));
      hit = undefined;
    }
    if (hit) {
      const { entry, dir } = hit;
      const before = snapshot(entry);
      undo(() => Object.assign(entry, before));
      if (!this.updateState(entry, dir, p)) return { state: 'INVALID', dir };
      const c = entry.counters[dir];
      c.packets++;
      c.bytes += p.length ?? 60;
      // Until the first reply, packets of the original direction are still NEW.
      const state: CtState = dir === 'reply' || entry.seenReply ? 'ESTABLISHED' : 'NEW';
      if (dir === 'reply') entry.seenReply = true;
      return { state, entry, dir };
    }
    if (isIcmpError(p)) {
      if (!p.inner) return { state: 'INVALID', dir: 'orig' };
      const q = p.inner;
      const qt: CtTuple = isIcmp(q.proto)
        ? {
            src: q.src,
            dst: q.dst,
            sport: q.sport,
            dport: 0,
            icmpType: q.icmpType ?? (q.proto === PROTO_ICMPV6 ? 128 : 8),
          }
        : { src: q.src, dst: q.dst, sport: q.sport, dport: q.dport };
      const inner = this.byTuple.get(tupleKey(q.proto, qt));
      if (!inner || inner.entry.expires <= this.clock.now()) return { state: 'INVALID', dir: 'orig' };
      // The error travels opposite to the quoted packet.
      return { state: 'RELATED', entry: inner.entry, dir: inner.dir === 'orig' ? 'reply' : 'orig' };
    }
    // Neighbour discovery and MLD are never tracked (nf_conntrack_icmpv6's noct_valid_new).
    if (
      p.proto === PROTO_ICMPV6 &&
      (((p.icmpType ?? 128) >= 130 && (p.icmpType ?? 128) <= 137) || p.icmpType === 143)
    ) {
      return { state: 'UNTRACKED', dir: 'orig' };
    }
    const created = this.create(p);
    if (!created) return { state: 'INVALID', dir: 'orig' };
    return { state: 'NEW', entry: created, dir: 'orig' };
  }

  private create(p: NfPacket): CtEntry | undefined {
    const now = this.clock.now();
    const orig = packetTuple(p);
    if (isIcmp(p.proto)) {
      const pairs = p.proto === PROTO_ICMPV6 ? ICMPV6_ECHO_PAIRS : ICMP_ECHO_PAIRS;
      // Only queries start a connection; a stray reply is INVALID.
      if (!(orig.icmpType! in pairs) || orig.icmpType === 0 || orig.icmpType === 129) return undefined;
    }
    const entry: CtEntry = {
      id: this.nextId++,
      family: p.family,
      proto: p.proto,
      orig,
      reply: invertTuple(p.proto, orig),
      seenReply: false,
      assured: false,
      confirmed: false,
      natDone: { src: false, dst: false },
      srcNat: false,
      dstNat: false,
      expires: now,
      mark: 0,
      counters: { orig: { packets: 1, bytes: p.length ?? 60 }, reply: { packets: 0, bytes: 0 } },
    };
    if (p.proto === PROTO_TCP) {
      const f = p.tcpFlags ?? TCP_ACK;
      if (f & TCP_RST) return undefined;
      if (f & TCP_SYN) {
        if (f & TCP_ACK) return undefined;
        entry.tcpState = 'SYN_SENT';
      } else if (f & TCP_FIN) {
        return undefined;
      } else if (this.tcpLoose && f & TCP_ACK) {
        entry.tcpState = 'ESTABLISHED';
      } else return undefined;
      entry.expires = now + this.timeouts.tcp[entry.tcpState];
    } else if (p.proto === PROTO_UDP) {
      entry.expires = now + this.timeouts.udp;
      entry.streamAfter = now + 2;
    } else if (isIcmp(p.proto)) {
      entry.expires = now + this.timeouts.icmp;
    } else {
      entry.expires = now + this.timeouts.generic;
    }
    return entry;
  }

  /** Protocol state machine for a packet of an existing entry; false = INVALID. */
  private updateState(e: CtEntry, dir: CtDir, p: NfPacket): boolean {
    const now = this.clock.now();
    if (e.proto === PROTO_TCP) {
      const f = p.tcpFlags ?? TCP_ACK;
      const s = e.tcpState ?? 'ESTABLISHED';
      let next: TcpCtState = s;
      if (f & TCP_RST) next = 'CLOSE';
      else if (f & TCP_SYN && !(f & TCP_ACK)) {
        if (dir !== 'orig') return false;
        next = s === 'TIME_WAIT' || s === 'CLOSE' || s === 'SYN_SENT' ? 'SYN_SENT' : s;
      } else if (f & TCP_SYN && f & TCP_ACK) {
        if (dir !== 'reply') return false;
        if (s === 'SYN_SENT' || s === 'SYN_RECV') next = 'SYN_RECV';
      } else if (f & TCP_FIN) {
        if (s === 'ESTABLISHED' || s === 'SYN_RECV') {
          next = 'FIN_WAIT';
          e.finDir = dir;
        } else if ((s === 'FIN_WAIT' || s === 'CLOSE_WAIT') && dir !== e.finDir) next = 'LAST_ACK';
      } else if (f & TCP_ACK) {
        if (s === 'SYN_RECV' && dir === 'orig') {
          next = 'ESTABLISHED';
          e.assured = true;
        } else if (s === 'FIN_WAIT' && dir !== e.finDir) next = 'CLOSE_WAIT';
        else if (s === 'LAST_ACK' && dir === e.finDir) next = 'TIME_WAIT';
      }
      e.tcpState = next;
      e.expires = now + this.timeouts.tcp[next];
      return true;
    }
    if (e.proto === PROTO_UDP) {
      if (e.seenReply) {
        let extra = this.timeouts.udp;
        if (now > (e.streamAfter ?? 0)) {
          extra = this.timeouts.udpStream;
          e.assured = true;
        }
        e.expires = now + extra;
      } else {
        e.expires = now + this.timeouts.udp;
      }
      return true;
    }
    e.expires = now + (isIcmp(e.proto) ? this.timeouts.icmp : this.timeouts.generic);
    return true;
  }

  /**
   * The confirm step: insert a new entry into the table. Returns false when another entry already
   * holds one of its tuples (the insert clash; the kernel drops the packet) unless it is the same
   * mapping (clash resolution).
   */
  confirm(pct: PacketCt, undo: Undo = noUndo): boolean {
    const e = pct.entry;
    if (!e || e.confirmed) return true;
    const ko = tupleKey(e.proto, e.orig);
    const kr = tupleKey(e.proto, e.reply);
    const a = this.byTuple.get(ko);
    const b = this.byTuple.get(kr);
    if (a || b) {
      const other = (a ?? b)!.entry;
      if (
        other.expires > this.clock.now() &&
        !(tupleKey(e.proto, other.orig) === ko && tupleKey(e.proto, other.reply) === kr)
      ) {
        return false;
      }
      if (other.expires > this.clock.now()) {
        pct.entry = other;
        return true;
      }
      this.remove(other);
      undo(() => this.insert(other));
    }
    e.confirmed = true;
    this.insert(e);
    undo(() => {
      this.remove(e);
      e.confirmed = false;
    });
    return true;
  }

  /** Changes an entry's reply tuple (nf_conntrack_alter_reply, as IPVS does with conntrack=1). */
  alterReply(e: CtEntry, reply: CtTuple, undo: Undo = noUndo): void {
    const prev = e.reply;
    const wasIn = e.confirmed && this.byTuple.get(tupleKey(e.proto, prev))?.entry === e;
    if (wasIn) this.byTuple.delete(tupleKey(e.proto, prev));
    e.reply = reply;
    if (wasIn) this.byTuple.set(tupleKey(e.proto, reply), { entry: e, dir: 'reply' });
    undo(() => {
      if (wasIn) this.byTuple.delete(tupleKey(e.proto, reply));
      e.reply = prev;
      if (wasIn) this.byTuple.set(tupleKey(e.proto, prev), { entry: e, dir: 'reply' });
    });
  }

  private insert(e: CtEntry): void {
    this.byTuple.set(tupleKey(e.proto, e.orig), { entry: e, dir: 'orig' });
    this.byTuple.set(tupleKey(e.proto, e.reply), { entry: e, dir: 'reply' });
    if (e.srcNat) this.bySource.set(`${e.proto}|${e.orig.src}|${e.orig.sport}`, e);
  }

  private remove(e: CtEntry): void {
    const ko = tupleKey(e.proto, e.orig);
    const kr = tupleKey(e.proto, e.reply);
    if (this.byTuple.get(ko)?.entry === e) this.byTuple.delete(ko);
    if (this.byTuple.get(kr)?.entry === e) this.byTuple.delete(kr);
    const ks = `${e.proto}|${e.orig.src}|${e.orig.sport}`;
    if (this.bySource.get(ks) === e) this.bySource.delete(ks);
  }

  private expire(): void {
    const now = this.clock.now();
    for (const { entry } of [...this.byTuple.values()]) if (entry.expires <= now) this.remove(entry);
  }

  /** nf_nat_used_tuple: would an entry whose original tuple is `t` clash with a confirmed one? */
  private usedTuple(proto: number, t: CtTuple, self: CtEntry): boolean {
    const hit = this.byTuple.get(tupleKey(proto, invertTuple(proto, t)));
    return hit !== undefined && hit.entry !== self && hit.entry.expires > this.clock.now();
  }

  /**
   * Sets up NAT of one manip type on a new entry (nf_nat_setup_info). `range` undefined is the
   * null binding. Returns the entry's new original-direction view as seen after the manip.
   */
  setupNat(e: CtEntry, manip: 'src' | 'dst', range: NatRange | undefined): void {
    if (e.natDone[manip]) return;
    const proto = e.proto;
    // The tuple of the original direction as it will look after this manip.
    const cur = invertTuple(proto, e.reply);
    const r: NatRange =
      range ??
      (manip === 'src'
        ? { minAddr: e.reply.dst, maxAddr: e.reply.dst }
        : { minAddr: e.reply.src, maxAddr: e.reply.src });
    const t = this.uniqueTuple(e, cur, r, manip);
    e.reply = invertTuple(proto, t);
    e.natDone[manip] = true;
    if (manip === 'src' && (t.src !== e.orig.src || t.sport !== e.orig.sport)) e.srcNat = true;
    if (manip === 'dst' && (t.dst !== e.orig.dst || t.dport !== e.orig.dport)) e.dstNat = true;
  }

  private uniqueTuple(e: CtEntry, orig: CtTuple, r: NatRange, manip: 'src' | 'dst'): CtTuple {
    const proto = e.proto;
    const randomAll = !!(r.random || r.randomFully);
    const portSpecified = r.minPort !== undefined;
    const addrOf = (t: CtTuple) => (manip === 'src' ? t.src : t.dst);
    const portOf = (t: CtTuple) => (manip === 'src' ? t.sport : t.dport);
    const inAddrRange = (a: string) =>
      r.minAddr === undefined || addrInRange(a, r.minAddr, r.maxAddr ?? r.minAddr, e.family);
    const inPortRange = (p: number) => !portSpecified || (p >= r.minPort! && p <= (r.maxPort ?? r.minPort!));
    if (!randomAll) {
      if (inAddrRange(addrOf(orig)) && inPortRange(portOf(orig)) && !this.usedTuple(proto, orig, e))
        return orig;
      if (manip === 'src') {
        const prev = this.bySource.get(`${proto}|${orig.src}|${orig.sport}`);
        if (prev && prev !== e && prev.expires > this.clock.now()) {
          const mapped = { ...orig, src: prev.reply.dst, sport: prev.reply.dport };
          if (inAddrRange(mapped.src) && inPortRange(mapped.sport) && !this.usedTuple(proto, mapped, e))
            return mapped;
        }
      }
    }
    const t: CtTuple = { ...orig };
    if (r.minAddr !== undefined) {
      const a = pickAddr(
        r.minAddr,
        r.maxAddr ?? r.minAddr,
        e.family,
        r.persistent ? orig.src : `${orig.src}|${orig.dst}`,
      );
      if (manip === 'src') t.src = a;
      else t.dst = a;
    }
    if (!randomAll) {
      if (portSpecified) {
        const p = portOf(t);
        if (inPortRange(p) && (r.minPort === (r.maxPort ?? r.minPort) || !this.usedTuple(proto, t, e)))
          return t;
        if (r.minPort === (r.maxPort ?? r.minPort)) {
          setPort(t, manip, r.minPort!);
          return t;
        }
      } else if (!this.usedTuple(proto, t, e)) return t;
    }
    if (!hasPorts(proto) && !isIcmp(proto)) return t;
    if (isIcmp(proto) && manip === 'dst') return t;
    let min: number;
    let size: number;
    if (portSpecified) {
      min = r.minPort!;
      size = (r.maxPort ?? r.minPort!) - min + 1;
    } else {
      if (manip === 'dst') return t;
      const p = portOf(orig);
      if (isIcmp(proto)) {
        min = 0;
        size = 65536;
      } else if (p < 1024) {
        if (p < 512) {
          min = 1;
          size = 511;
        } else {
          min = 600;
          size = 424;
        }
      } else {
        min = 1024;
        size = 64512;
      }
    }
    let off = randomAll || manip === 'src' ? Math.floor(this.random() * 65536) : 0;
    let attempts = Math.min(size, 128);
    for (;;) {
      for (let i = 0; i < attempts; i++, off++) {
        setPort(t, manip, min + (off % size));
        if (!this.usedTuple(proto, t, e)) return t;
      }
      if (attempts >= size || attempts < 16) return t;
      attempts = Math.floor(attempts / 2);
      off = Math.floor(this.random() * 65536);
    }
  }
}

function setPort(t: CtTuple, manip: 'src' | 'dst', port: number): void {
  if (t.icmpType !== undefined) {
    t.sport = port;
    return;
  }
  if (manip === 'src') t.sport = port;
  else t.dport = port;
}

function addrNum(a: string, family: IpFamily): bigint {
  if (family === 4) return BigInt(ipv4ToInt(a));
  const [head, tail] = a.includes('::') ? a.split('::') : [a, undefined];
  const h = head ? head.split(':') : [];
  const tl = tail !== undefined ? (tail ? tail.split(':') : []) : [];
  const groups = tail !== undefined ? [...h, ...Array(8 - h.length - tl.length).fill('0'), ...tl] : h;
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(Number.parseInt(g || '0', 16)), 0n);
}

function addrInRange(a: string, min: string, max: string, family: IpFamily): boolean {
  if (min === max) return a === min;
  const v = addrNum(a, family);
  return v >= addrNum(min, family) && v <= addrNum(max, family);
}

/** find_best_ips_proto: a stable pick of one address of the range from a hash of the flow. */
function pickAddr(min: string, max: string, family: IpFamily, key: string): string {
  const lo = addrNum(min, family);
  const hi = addrNum(max, family);
  if (hi <= lo) return min;
  const span = hi - lo + 1n;
  return bigIntToIp(lo + (fnv1a64(key) % span), family);
}

function formatTuple(proto: number, t: CtTuple): string {
  if (t.icmpType !== undefined) {
    return `src=${t.src} dst=${t.dst} type=${t.icmpType} code=${t.icmpCode ?? 0} id=${t.sport}`;
  }
  if (hasPorts(proto)) return `src=${t.src} dst=${t.dst} sport=${t.sport} dport=${t.dport}`;
  return `src=${t.src} dst=${t.dst}`;
}

/** One entry in `conntrack -L` format. */
export function formatEntry(e: CtEntry, now: number): string {
  const name = e.family === 6 && e.proto === PROTO_ICMPV6 ? 'icmpv6' : protoName(e.proto);
  const ttl = Math.max(0, Math.ceil(e.expires - now));
  const parts = [`${name.padEnd(8)} ${e.proto} ${ttl}`];
  if (e.tcpState) parts.push(e.tcpState);
  parts.push(formatTuple(e.proto, e.orig));
  if (!e.seenReply) parts.push('[UNREPLIED]');
  parts.push(formatTuple(e.proto, e.reply));
  if (e.assured) parts.push('[ASSURED]');
  parts.push(`mark=${e.mark}`, 'use=1');
  return parts.join(' ');
}

/** A `conntrack -L` line read back: protocol, state and both tuples. */
export interface ConntrackListing {
  proto: string;
  protoNumber: number;
  timeout: number;
  state?: string;
  orig: CtTuple;
  reply: CtTuple;
  unreplied: boolean;
  assured: boolean;
  mark: number;
}

/** Parses one line of `conntrack -L` output; undefined for lines that are not entries. */
export function parseConntrackLine(line: string): ConntrackListing | undefined {
  const words = line.trim().split(/\s+/);
  if (words.length < 4 || !/^\d+$/.test(words[1] ?? '') || !/^\d+$/.test(words[2] ?? '')) return undefined;
  const out: ConntrackListing = {
    proto: words[0],
    protoNumber: Number(words[1]),
    timeout: Number(words[2]),
    orig: { src: '', dst: '', sport: 0, dport: 0 },
    reply: { src: '', dst: '', sport: 0, dport: 0 },
    unreplied: false,
    assured: false,
    mark: 0,
  };
  let cur: CtTuple = out.orig;
  let srcSeen = 0;
  for (const w of words.slice(3)) {
    if (w === '[UNREPLIED]') out.unreplied = true;
    else if (w === '[ASSURED]') out.assured = true;
    else if (/^[A-Z_]+$/.test(w)) out.state = w;
    else {
      const eq = w.indexOf('=');
      if (eq < 0) continue;
      const k = w.slice(0, eq);
      const v = w.slice(eq + 1);
      if (k === 'src') {
        srcSeen++;
        cur = srcSeen === 1 ? out.orig : out.reply;
        cur.src = v;
      } else if (k === 'dst') cur.dst = v;
      else if (k === 'sport') cur.sport = Number(v);
      else if (k === 'dport') cur.dport = Number(v);
      else if (k === 'type') cur.icmpType = Number(v);
      else if (k === 'code') cur.icmpCode = Number(v);
      else if (k === 'id') cur.sport = Number(v);
      else if (k === 'mark') out.mark = Number(v);
    }
  }
  return out.orig.src ? out : undefined;
}

export { hostPort };

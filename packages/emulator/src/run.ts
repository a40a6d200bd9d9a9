/**
 * A run: one burst of packet processing. Frames crossing a wire are queued and processed in FIFO
 * order until nothing is left (including neighbour retries and failures), so ARP request/reply
 * exchanges, floods and replies happen in the order the kernel would see them. The recorder turns
 * what happens into trace hops and terminal events.
 */
import type { ClockView, Chooser, HookEnv } from './hooks.js';
import {
  type Frame,
  type IcmpHeader,
  type IpPacket,
  type Leg,
  type Tag,
  type TerminalEvent,
  tcpFlagText,
} from './packet.js';

export type HopStep =
  | 'send'
  | 'route'
  | 'netfilter'
  | 'xmit'
  | 'recv'
  | 'bridge'
  | 'arp'
  | 'ndp'
  | 'vxlan-encap'
  | 'vxlan-decap'
  | 'switch'
  | 'forward'
  | 'fragment'
  | 'reassemble'
  | 'deliver'
  | 'icmp'
  | 'tun'
  | 'app'
  | 'drop';

export interface EncapSummary {
  type: 'vxlan';
  vni: number;
  outerSrc: string;
  outerDst: string;
  dport: number;
  sport: number;
}

export interface PacketSummary {
  src: string;
  dst: string;
  /** `tcp`, `udp`, `icmp`, `icmpv6`, `arp`. */
  proto: string;
  sport?: number;
  dport?: number;
  /** IP total length (bytes). */
  length: number;
  ttl?: number;
  /** TCP flags in tcpdump's letters (`S`, `S.`, `R.`). */
  flags?: string;
  icmp?: { type: number; code: number };
  /** The outer headers when the packet is VXLAN-encapsulated; src/dst above are then the inner ones. */
  encap?: EncapSummary;
  /** IPv4 fragments the packet travels as, each one's IP total length (`length` is the whole packet's). */
  fragments?: number[];
}

export interface TraceHop {
  node: string;
  netns: string;
  device: string;
  step: HopStep;
  /** What decided: the route, neighbour, FDB entry or rule, in iproute2/iptables words. */
  detail: string;
  packet: PacketSummary;
  /** The packet as it was before this hop changed it (NAT, encapsulation, decapsulation). */
  before?: PacketSummary;
  /** Netfilter rules that matched, `table chain: rule`. */
  rules?: string[];
}

export interface Where {
  readonly node: string;
  readonly name: string;
}

/**
 * The hop view of a packet's headers. Cached on the packet until something changes them, so the
 * hops a packet passes unchanged share one (read-only) summary object.
 */
export function summarize(p: IpPacket): PacketSummary {
  if (p.sum === undefined) p.sum = makeSummary(p);
  return p.sum;
}

function makeSummary(p: IpPacket): PacketSummary {
  const l4 = p.l4;
  if (l4.kind === 'udp' && l4.vxlan && l4.vxlan.frame.ip) {
    return {
      ...summarize(l4.vxlan.frame.ip),
      encap: {
        type: 'vxlan',
        vni: l4.vxlan.vni,
        outerSrc: p.src,
        outerDst: p.dst,
        dport: l4.dport,
        sport: l4.sport,
      },
    };
  }
  const s: PacketSummary = { src: p.src, dst: p.dst, proto: '', length: 0, ttl: p.ttl };
  s.length = (p.family === 4 ? 20 : 40) + l4Len(p);
  if (l4.kind === 'tcp') {
    s.proto = 'tcp';
    s.sport = l4.sport;
    s.dport = l4.dport;
    s.flags = tcpFlagText(l4.flags);
  } else if (l4.kind === 'udp') {
    s.proto = 'udp';
    s.sport = l4.sport;
    s.dport = l4.dport;
  } else {
    s.proto = p.family === 4 ? 'icmp' : 'icmpv6';
    s.icmp = { type: l4.type, code: l4.code };
  }
  if (p.frag) s.fragments = [...p.frag];
  return s;
}

function l4Len(p: IpPacket): number {
  const l4 = p.l4;
  if (l4.kind === 'tcp') return 20 + l4.dataLength;
  if (l4.kind === 'udp') return 8 + l4.dataLength;
  return icmpLen(l4, p.family);
}

function icmpLen(l4: IcmpHeader, family: 4 | 6): number {
  if (l4.quoted) {
    const max = family === 4 ? 548 : 1232;
    const q = l4.quoted;
    return 8 + Math.min((q.family === 4 ? 20 : 40) + l4Len(q), max);
  }
  if (l4.ndTarget !== undefined) return 24 + (l4.ndLladdr ? 8 : 0);
  return 8 + l4.dataLength;
}

export function summarizeFrame(f: Frame): PacketSummary {
  if (f.ip) return summarize(f.ip);
  const a = f.arp!;
  return { src: a.senderIp, dst: a.targetIp, proto: 'arp', length: 28 };
}

let legIds = 0;

/** A new exchange; `context` is the packet an app was handling when it opened it. */
export function newLeg(context?: Tag, top?: Leg): Leg {
  const parent = context?.leg;
  const replySection = parent !== undefined && (parent === top ? context!.isReply : parent.replySection);
  const leg = { id: ++legIds, parent, replySection } as Leg & { orig: Tag; reply: Tag; late: Tag };
  leg.orig = { leg, isReply: false };
  leg.reply = { leg, isReply: true };
  leg.late = { leg, isReply: true, late: true };
  return leg;
}

/** The tag of a packet sent in answer to one with tag `t`. */
export function answerTag(t: Tag): Tag {
  return t.isReply ? t.leg.late : t.leg.reply;
}

/** Collects the hops of one trace: the traced leg's reply direction apart, everything else in order. */
export class Recorder {
  readonly hops: TraceHop[] = [];
  readonly replyHops: TraceHop[] = [];
  /** The last terminal event of the forward path (the traced leg, or a leg an app opened for it). */
  forwardEnd?: TerminalEvent;
  /** The last terminal event of the reply path. */
  replyEnd?: TerminalEvent;

  constructor(readonly top: Leg) {}

  /** Where a packet's hops go: the traced leg's answer and legs opened while handling it form the reply path. */
  inReply(tag: Tag): boolean {
    return tag.leg === this.top ? tag.isReply : tag.leg.replySection;
  }

  add(tag: Tag, hop: TraceHop): void {
    if (this.inReply(tag)) this.replyHops.push(hop);
    else this.hops.push(hop);
  }

  end(tag: Tag, ev: TerminalEvent): void {
    if (tag.late) return;
    if (tag.leg === this.top) {
      if (tag.isReply) this.replyEnd = ev;
      else this.forwardEnd = ev;
    } else if (!tag.isReply) {
      if (tag.leg.replySection) this.replyEnd = ev;
      else this.forwardEnd = ev;
    }
  }
}

/** Something that frames are handed to for pcap. */
export interface FrameSink {
  capture(where: Where, device: string, frame: Frame, linktype: 'ethernet' | 'raw'): void;
}

export interface PendingNeighbour {
  /** Retry or fail the resolution; returns true while it is still in progress. */
  retry(run: Run): boolean;
}

export class Run implements HookEnv {
  private queue: (() => void)[] = [];
  private head = 0;
  private events = 0;
  pending = new Set<PendingNeighbour>();
  /** Undo log; present only for a branch that is rolled back afterwards. */
  journal?: (() => void)[];
  sink?: FrameSink;
  /** Why processing stopped early, if it did. */
  aborted?: string;
  /** The packet an app callback is handling: exchanges it opens and TUN writes inherit its tag. */
  context?: IpPacket;

  constructor(
    readonly recorder: Recorder | undefined,
    readonly chooser: Chooser,
    readonly clock: ClockView,
    readonly maxEvents: number,
  ) {}

  undo(fn: () => void): void {
    if (this.journal) this.journal.push(fn);
  }

  post(fn: () => void): void {
    this.queue.push(fn);
  }

  /** Processes queued work until none is left; neighbour resolutions are retried, then failed. */
  drain(): void {
    for (;;) {
      while (this.head < this.queue.length) {
        if (++this.events > this.maxEvents) {
          this.aborted = `stopped after ${this.maxEvents} events (a forwarding loop without a TTL, such as an L2 loop)`;
          this.queue = [];
          this.head = 0;
          this.pending.clear();
          return;
        }
        const fn = this.queue[this.head];
        this.queue[this.head++] = noop;
        fn();
      }
      this.queue = [];
      this.head = 0;
      if (this.pending.size === 0) return;
      for (const p of [...this.pending]) if (!p.retry(this)) this.pending.delete(p);
    }
  }

  hop(
    tag: Tag,
    where: Where,
    device: string,
    step: HopStep,
    detail: string,
    packet: PacketSummary,
    extra?: Partial<TraceHop>,
  ): void {
    const r = this.recorder;
    if (!r) return;
    const h: TraceHop = { node: where.node, netns: where.name, device, step, detail, packet };
    if (extra) Object.assign(h, extra);
    r.add(tag, h);
  }

  /** A terminal event for the packet's direction; the last one of a direction wins. */
  end(tag: Tag, ev: TerminalEvent): void {
    if (tag.late) return;
    const leg = tag.leg;
    if (tag.isReply) leg.replyEnd = ev;
    else leg.origEnd = ev;
    this.recorder?.end(tag, ev);
  }

  /** Runs `fn` and processes what it queued, apart from the work already queued (a nested exchange). */
  sub(fn: () => void): void {
    const q = this.queue;
    const h = this.head;
    const pending = this.pending;
    this.queue = [];
    this.head = 0;
    this.pending = new Set();
    try {
      fn();
      this.drain();
    } finally {
      this.queue = q;
      this.head = h;
      for (const p of this.pending) pending.add(p);
      this.pending = pending;
    }
  }
}

function noop(): void {}

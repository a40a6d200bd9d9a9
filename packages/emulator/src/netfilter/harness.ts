/**
 * A one-namespace evaluator: pushes a packet through the hooks the kernel would run for it
 * (received: PREROUTING → INPUT or FORWARD → POSTROUTING; generated: OUTPUT → POSTROUTING, then
 * PREROUTING → INPUT when it loops back to a local address) with a small routing table made of
 * the namespace's addresses and routes. It drives the interpreters without the full emulator:
 * the differential test against the kernel and `tracePacket` use it.
 */
import { type Prefix, parsePrefix, prefixContains } from './addr-match.js';
import { seededChooser } from './chooser.js';
import type { CtEntry } from './conntrack.js';
import { formatEntry } from './conntrack.js';
import { Netfilter, type NetfilterOptions } from './netfilter.js';
import { type StaticNetnsSpec, staticNetns, type NetnsView } from './netns-view.js';
import {
  addrValue,
  clonePacket,
  type IpFamily,
  type NfPacket,
  PROTO_ICMP,
  PROTO_ICMPV6,
  PROTO_SCTP,
  PROTO_TCP,
  PROTO_UDP,
  TCP_ACK,
  TCP_SYN,
} from './packet.js';
import type { Chooser, HookName, NfTraceEvent, RejectSpec } from './types.js';

export interface HarnessRoute {
  /** `default` or a CIDR. */
  dst: string;
  dev: string;
}

export interface HarnessNamespace extends StaticNetnsSpec {
  /** Routes beside the connected ones of `addresses`. */
  routes?: HarnessRoute[];
}

export interface PacketSpec {
  proto: 'tcp' | 'udp' | 'sctp' | 'icmp' | 'icmpv6';
  src: string;
  dst: string;
  sport?: number;
  dport?: number;
  /** TCP flags. @default SYN for tcp */
  tcpFlags?: number;
  /** ICMP type. @default echo request */
  icmpType?: number;
  icmpId?: number;
  /** Receiving device; absent = generated in this namespace (OUTPUT). */
  iif?: string;
  mark?: number;
  /** @default 60 */
  length?: number;
}

export type Disposition = 'local' | 'forwarded' | 'dropped' | 'rejected' | 'unroutable';

export interface PacketOutcome {
  disposition: Disposition;
  /** The hooks traversed, in order. */
  hooks: HookName[];
  /** The packet as it left the last hook (after NAT). */
  packet: NfPacket;
  /** The device it leaves by (forwarded / sent). */
  oif?: string;
  reject?: RejectSpec;
  reason?: string;
  events: NfTraceEvent[];
  /** The connection's conntrack entry after the packet, if it has one. */
  conntrack?: CtEntry;
}

const PROTO: Record<PacketSpec['proto'], number> = {
  tcp: PROTO_TCP,
  udp: PROTO_UDP,
  sctp: PROTO_SCTP,
  icmp: PROTO_ICMP,
  icmpv6: PROTO_ICMPV6,
};

export class NetfilterHarness {
  readonly nf: Netfilter;
  readonly netns: NetnsView;
  private readonly spec: HarnessNamespace;
  chooser: Chooser;

  constructor(
    spec: HarnessNamespace,
    options: NetfilterOptions & { nf?: Netfilter; chooser?: Chooser } = {},
  ) {
    this.spec = spec;
    this.nf = options.nf ?? new Netfilter(options);
    this.netns = staticNetns(spec);
    this.chooser = options.chooser ?? seededChooser(1);
  }

  private isLocal(ip: string, family: IpFamily): boolean {
    return this.netns.addrType(ip, family) === 'LOCAL';
  }

  private table?: { prefix: Prefix; dev: string }[];

  /** Longest-prefix route to `dst`: the output device, or 'lo' for local addresses. */
  route(dst: string, family: IpFamily): string | undefined {
    if (this.isLocal(dst, family)) return 'lo';
    if (!this.table) {
      const t: { prefix: Prefix; dev: string }[] = [];
      const add = (cidr: string, dev: string) => {
        for (const f of [4, 6] as const) {
          const p =
            cidr === 'default' ? parsePrefix(f === 4 ? '0.0.0.0/0' : '::/0', f) : parsePrefix(cidr, f);
          if (p) t.push({ prefix: p, dev });
        }
      };
      for (const a of this.spec.addresses) add(a.cidr, a.dev);
      for (const r of this.spec.routes ?? []) add(r.dst, r.dev);
      this.table = t.sort((a, b) => b.prefix.bits - a.prefix.bits);
    }
    const v = addrValue(dst, family);
    return this.table.find((r) => r.prefix.family === family && prefixContains(r.prefix, v))?.dev;
  }

  /** Builds a packet from a spec. */
  packet(spec: PacketSpec): NfPacket {
    const family: IpFamily = spec.src.includes(':') ? 6 : 4;
    const proto = PROTO[spec.proto];
    const icmp = proto === PROTO_ICMP || proto === PROTO_ICMPV6;
    return {
      family,
      proto,
      src: spec.src,
      dst: spec.dst,
      sport: icmp ? 0 : (spec.sport ?? 40000),
      dport: icmp ? 0 : (spec.dport ?? 80),
      tcpFlags: proto === PROTO_TCP ? (spec.tcpFlags ?? TCP_SYN) : undefined,
      icmpType: icmp ? (spec.icmpType ?? (family === 4 ? 8 : 128)) : undefined,
      icmpCode: icmp ? 0 : undefined,
      icmpId: icmp ? (spec.icmpId ?? 1) : undefined,
      mark: spec.mark ?? 0,
      length: spec.length ?? 60,
      iif: spec.iif,
    };
  }

  /** Sends one packet through this namespace's hooks (`trace: false` skips collecting events). */
  send(
    spec: PacketSpec | NfPacket,
    options: { chooser?: Chooser; undo?: (fn: () => void) => void; trace?: boolean } = {},
  ): PacketOutcome {
    const pkt = typeof spec.proto === 'number' ? (spec as NfPacket) : this.packet(spec as PacketSpec);
    const events: NfTraceEvent[] = [];
    const hooks: HookName[] = [];
    const run = (h: HookName) => {
      hooks.push(h);
      return this.nf.run(h, pkt, {
        chooser: options.chooser ?? this.chooser,
        netns: this.netns,
        undo: options.undo,
        trace: options.trace === false ? undefined : (e) => events.push(e),
      });
    };
    const done = (disposition: Disposition, extra: Partial<PacketOutcome> = {}): PacketOutcome => ({
      disposition,
      hooks,
      packet: clonePacket(pkt),
      events,
      conntrack: pkt.nf?.ct.entry,
      ...extra,
    });
    const stop = (r: ReturnType<Netfilter['run']>) =>
      r.verdict === 'drop'
        ? done('dropped', { reason: r.reason })
        : done('rejected', { reject: r.reject, reason: r.reason });

    let received = pkt.iif !== undefined;
    for (let loops = 0; loops < 3; loops++) {
      if (received) {
        pkt.oif = undefined;
        const pre = run('PREROUTING');
        if (pre.verdict !== 'accept') return stop(pre);
        const dev = this.route(pkt.dst, pkt.family);
        if (!dev) return done('unroutable', { reason: `no route to ${pkt.dst}` });
        if (dev === 'lo') {
          const inp = run('INPUT');
          if (inp.verdict !== 'accept') return stop(inp);
          if (!inp.reroute) return done('local');
          // IPVS sent it on: out again through OUTPUT and POSTROUTING.
          return this.output(pkt, run, done, stop);
        }
        pkt.oif = dev;
        const fwd = run('FORWARD');
        if (fwd.verdict !== 'accept') return stop(fwd);
        const post = run('POSTROUTING');
        if (post.verdict !== 'accept') return stop(post);
        return done('forwarded', { oif: dev });
      }
      const out = this.output(pkt, run, done, stop);
      if (out.disposition !== 'forwarded' || out.oif !== 'lo') return out;
      // looped back to a local address
      pkt.iif = 'lo';
      received = true;
    }
    return done('unroutable', { reason: 'routing loop' });
  }

  private output(
    pkt: NfPacket,
    run: (h: HookName) => ReturnType<Netfilter['run']>,
    done: (d: Disposition, extra?: Partial<PacketOutcome>) => PacketOutcome,
    stop: (r: ReturnType<Netfilter['run']>) => PacketOutcome,
  ): PacketOutcome {
    let dev = this.route(pkt.dst, pkt.family);
    if (!dev) return done('unroutable', { reason: `no route to ${pkt.dst}` });
    pkt.iif = undefined;
    pkt.oif = dev;
    const before = `${pkt.dst}|${pkt.mark}`;
    const o = run('OUTPUT');
    if (o.verdict !== 'accept') return stop(o);
    if (`${pkt.dst}|${pkt.mark}` !== before) {
      dev = this.route(pkt.dst, pkt.family);
      if (!dev) return done('unroutable', { reason: `no route to ${pkt.dst}` });
      pkt.oif = dev;
    }
    const post = run('POSTROUTING');
    if (post.verdict !== 'accept') return stop(post);
    return done('forwarded', { oif: dev });
  }

  /**
   * The answer to a delivered packet: the peer (or this namespace, for a local delivery) swaps
   * addresses and ports of the packet as it arrived; TCP answers a SYN with SYN/ACK.
   */
  reply(to: PacketOutcome, options: { chooser?: Chooser; iif?: string } = {}): PacketOutcome {
    const p = to.packet;
    const r: NfPacket = {
      ...clonePacket(p),
      src: p.dst,
      dst: p.src,
      sport: p.dport,
      dport: p.sport,
      mark: 0,
      tcpFlags:
        p.proto === PROTO_TCP
          ? ((p.tcpFlags ?? TCP_ACK) & TCP_SYN) !== 0
            ? TCP_SYN | TCP_ACK
            : TCP_ACK
          : undefined,
      icmpType: p.icmpType === 8 ? 0 : p.icmpType === 128 ? 129 : p.icmpType,
      iif: to.disposition === 'local' ? undefined : (options.iif ?? to.oif),
      oif: undefined,
      nf: undefined,
    };
    return this.send(r, options);
  }

  /** `conntrack -L` of this namespace. */
  conntrackList(): string {
    return this.nf.conntrack.dump();
  }

  /** One entry in `conntrack -L` form. */
  static format(e: CtEntry, now: number): string {
    return formatEntry(e, now);
  }
}

/**
 * The emulator's face of the netfilter model: a `NetfilterEngine` (hooks.ts) per namespace that
 * converts the emulator's PacketContext, runs the hook and writes NAT/mark/conntrack back.
 */
import type { NodeDataplane } from '@podnet/core';
import type {
  HookEnv,
  HookPoint,
  HookResult,
  HookTraceEntry,
  NamespaceView,
  NetfilterEngine,
  NetfilterFactory,
  PacketContext,
  RejectWith,
} from '../hooks.js';
import { type NetfilterOptions, Netfilter, planHasNetfilter } from './netfilter.js';
import type { AddrType, NetnsView } from './netns-view.js';
import {
  type NfAttachment,
  type NfPacket,
  PROTO_ICMP,
  PROTO_ICMPV6,
  PROTO_SCTP,
  PROTO_TCP,
  PROTO_UDP,
  TCP_ACK,
  TCP_FIN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
} from './packet.js';
import type { NfTraceEvent, RejectSpec } from './types.js';

const PROTO: Record<PacketContext['proto'], number> = {
  tcp: PROTO_TCP,
  udp: PROTO_UDP,
  sctp: PROTO_SCTP,
  icmp: PROTO_ICMP,
  icmpv6: PROTO_ICMPV6,
};

const REJECT4: Record<number, RejectWith> = {
  0: 'icmp-net-unreachable',
  1: 'icmp-host-unreachable',
  2: 'icmp-proto-unreachable',
  3: 'icmp-port-unreachable',
  9: 'icmp-net-prohibited',
  10: 'icmp-host-prohibited',
  13: 'icmp-admin-prohibited',
};

const REJECT6: Record<number, RejectWith> = {
  0: 'icmp6-no-route',
  1: 'icmp6-adm-prohibited',
  3: 'icmp6-addr-unreachable',
  4: 'icmp6-port-unreachable',
  5: 'icmp6-policy-fail',
  6: 'icmp6-reject-route',
};

/** The iptables name of a reject (what the emulator sends back). */
export function rejectWith(r: RejectSpec, family: 4 | 6): RejectWith {
  if (r.with === 'tcp-reset') return 'tcp-reset';
  const table = family === 4 ? REJECT4 : REJECT6;
  return table[r.icmpCode ?? -1] ?? (family === 4 ? 'icmp-port-unreachable' : 'icmp6-port-unreachable');
}

/** One trace event as a line of the emulator's hop trace. */
export function traceEntry(e: NfTraceEvent): HookTraceEntry {
  switch (e.kind) {
    case 'rule':
      return { table: e.table, chain: e.chain, rule: e.rule };
    case 'policy':
      return { table: e.table, chain: e.chain, rule: `policy ${e.policy}` };
    case 'nat':
      return { table: 'nat', rule: `${e.type.toUpperCase()} ${e.from} -> ${e.to} (${e.by})` };
    case 'conntrack':
      return { table: 'conntrack', rule: `${e.action} ${e.state}: ${e.entry}` };
    case 'choice':
      return { table: e.choice, rule: `${e.option} (p=${round(e.probability)}) at ${e.where}` };
    case 'log':
      return { table: 'log', rule: `${e.prefix}${e.packet}` };
    case 'ipvs':
      return {
        table: 'ipvs',
        rule: `${e.service} ${e.scheduler}${e.persistent ? ' persistent' : ''} -> ${e.realServer}`,
      };
    case 'verdict':
      return { table: 'verdict', rule: `${e.verdict} by ${e.by}` };
  }
}

function round(p: number): string {
  return String(Math.round(p * 1e6) / 1e6);
}

const views = new WeakMap<NamespaceView, NetnsView>();

/** Adapts the emulator's NamespaceView to what the interpreters ask. */
export function netnsFromView(ns: NamespaceView): NetnsView {
  let v = views.get(ns);
  if (v) return v;
  v = {
    addrType(ip, family, dev) {
      const t = ns.addressType(ip);
      if (dev !== undefined && t === 'local')
        return ns.addresses(dev, family).includes(ip) ? 'LOCAL' : 'UNICAST';
      return t.toUpperCase() as AddrType;
    },
    sourceAddress: (dev, dst) => ns.sourceAddress(dst, dev),
    deviceAddress: (dev, family) => ns.addresses(dev, family)[0],
  };
  views.set(ns, v);
  return v;
}

function toPacket(ctx: PacketContext): NfPacket {
  const f = ctx.tcpFlags;
  const q = ctx.quoted;
  return {
    family: ctx.family,
    proto: PROTO[ctx.proto],
    src: ctx.src,
    dst: ctx.dst,
    sport: ctx.sport ?? 0,
    dport: ctx.dport ?? 0,
    tcpFlags: f
      ? (f.syn ? TCP_SYN : 0) |
        (f.ack ? TCP_ACK : 0) |
        (f.rst ? TCP_RST : 0) |
        (f.fin ? TCP_FIN : 0) |
        (f.psh ? TCP_PSH : 0)
      : undefined,
    icmpType: ctx.icmp?.type,
    icmpCode: ctx.icmp?.code,
    icmpId: ctx.icmp?.id,
    inner: q
      ? {
          proto: PROTO[q.proto],
          src: q.src,
          dst: q.dst,
          sport: q.sport ?? q.icmpId ?? 0,
          dport: q.dport ?? 0,
          icmpType: q.proto === 'icmp' ? 8 : q.proto === 'icmpv6' ? 128 : undefined,
        }
      : undefined,
    length: ctx.length,
    mark: ctx.mark,
    iif: ctx.iif,
    oif: ctx.oif,
    physIn: ctx.physIn,
    physOut: ctx.physOut,
    nf: ctx.ct as NfAttachment | undefined,
  };
}

function writeBack(pkt: NfPacket, ctx: PacketContext): void {
  ctx.src = pkt.src;
  ctx.dst = pkt.dst;
  if (ctx.sport !== undefined) ctx.sport = pkt.sport;
  if (ctx.dport !== undefined) ctx.dport = pkt.dport;
  ctx.mark = pkt.mark;
  if (ctx.icmp && pkt.icmpId !== undefined) ctx.icmp.id = pkt.icmpId;
  if (ctx.quoted && pkt.inner) {
    ctx.quoted.src = pkt.inner.src;
    ctx.quoted.dst = pkt.inner.dst;
    if (ctx.quoted.sport !== undefined) ctx.quoted.sport = pkt.inner.sport;
    if (ctx.quoted.dport !== undefined) ctx.quoted.dport = pkt.inner.dport;
    if (ctx.quoted.icmpId !== undefined) ctx.quoted.icmpId = pkt.inner.sport;
  }
  ctx.ct = pkt.nf;
}

/** A namespace's netfilter as the emulator calls it. */
export class NetfilterNamespace implements NetfilterEngine {
  constructor(readonly nf: Netfilter) {}

  hook(point: HookPoint, ctx: PacketContext, ns: NamespaceView, env: HookEnv): HookResult {
    const pkt = toPacket(ctx);
    const trace: HookTraceEntry[] = [];
    const res = this.nf.run(point, pkt, {
      chooser: env.chooser,
      netns: netnsFromView(ns),
      undo: (fn) => env.undo(fn),
      trace: (e) => trace.push(traceEntry(e)),
    });
    writeBack(pkt, ctx);
    if (res.verdict === 'accept')
      return { verdict: 'accept', trace, ...(res.reroute ? { reroute: true } : {}) };
    if (res.verdict === 'drop') return { verdict: 'drop', trace, reason: res.reason };
    return { verdict: 'reject', with: rejectWith(res.reject!, ctx.family), trace, reason: res.reason };
  }

  update(plan: NodeDataplane): void {
    this.nf.replacePlan(plan);
  }
}

/**
 * A netfilter factory with options (conntrack timeouts, the NAT port seed). The root namespace of
 * a node gets an engine loaded with the plan's ipset, iptables, nft and ipvsadm text; other
 * namespaces get none.
 */
export function netfilterFactory(options: Omit<NetfilterOptions, 'clock'> = {}): NetfilterFactory {
  return (plan, netns, ctx) => {
    if (!planHasNetfilter(plan, netns)) return undefined;
    const nf = new Netfilter({ ...options, clock: ctx.clock });
    nf.applyPlan(plan);
    return new NetfilterNamespace(nf);
  };
}

/** The default netfilter factory (pass as the emulator's `netfilter` option). */
export const createNetfilter: NetfilterFactory = netfilterFactory();

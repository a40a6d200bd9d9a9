/**
 * The IP layer, in the kernel's order:
 *   ip_rcv:     PREROUTING → FIB → local (INPUT → transport) | forward (TTL, MTU, FORWARD,
 *               POSTROUTING → neighbour) | error (ICMP unreachable, or a silent drop when
 *               forwarding is off)
 *   ip_output:  FIB → source selection → OUTPUT (re-route when NAT changed dst or mark) →
 *               POSTROUTING → MTU → neighbour
 * plus the transport demux (sockets, VXLAN sockets, ICMP echo), ICMP errors and REJECT replies.
 */
import { isMulticastIp } from './addr.js';
import type { Device } from './devices.js';
import type { HookPoint, PacketContext, RejectWith } from './hooks.js';
import { deviceXmit, ndiscRcv, neighOutput, vxlanRcv } from './l2.js';
import type { Netns } from './netns.js';
import { connKey, peerInfo } from './netns.js';
import {
  type IcmpHeader,
  type IpPacket,
  fragmentSizes,
  ipLength,
  wireLength,
  packet,
  PROTO_ICMP,
  PROTO_ICMPV6,
  PROTO_TCP,
  PROTO_UDP,
  protoName,
  clonePacket,
  TCP_ACK,
  TCP_RST,
  TCP_SYN,
  type TerminalEvent,
} from './packet.js';
import type { RouteEntry } from './routes.js';
import { answerTag, type Run, summarize } from './run.js';

const EMPTY = new Uint8Array(0);

// ICMP types and codes.
export const ICMP4 = { echoReply: 0, unreach: 3, echo: 8, timeExceeded: 11 } as const;
export const ICMP6 = {
  unreach: 1,
  tooBig: 2,
  timeExceeded: 3,
  echo: 128,
  echoReply: 129,
  ns: 135,
  na: 136,
} as const;

export function deliveredAt(ns: Netns, ip: string, port?: number): TerminalEvent['delivered'] {
  return {
    node: ns.node,
    pod: ns.pod ? `${ns.pod.namespace}/${ns.pod.name}` : undefined,
    netns: ns.name,
    ip,
    port,
  };
}

function where(ns: Netns): string {
  return ns.label;
}

// ---------------------------------------------------------------------------------------------
// netfilter

export const NF_STOP = 0;
export const NF_ACCEPT = 1;
export const NF_REROUTE = 2;

/**
 * Calls the namespace's engine at `point`. Returns NF_ACCEPT (or NF_REROUTE) when the packet goes
 * on; on DROP/REJECT it records the end, sends the reject reply and returns NF_STOP (0).
 */
export function nfHook(
  run: Run,
  ns: Netns,
  point: HookPoint,
  pkt: IpPacket,
  iif: Device | undefined,
  oif: Device | undefined,
  bridge?: { physIn?: Device; physOut?: Device },
): number {
  const nf = ns.nf;
  if (!nf) return NF_ACCEPT;
  const l4 = pkt.l4;
  const ctx: PacketContext = {
    family: pkt.family,
    src: pkt.src,
    dst: pkt.dst,
    proto: protoName(pkt),
    ttl: pkt.ttl,
    mark: pkt.mark,
    iif: iif?.name,
    oif: oif?.name,
    physIn: bridge?.physIn?.name,
    physOut: bridge?.physOut?.name,
    bridged: bridge !== undefined,
    length: ipLength(pkt),
    local: iif === undefined,
    ct: pkt.ct,
  };
  if (l4.kind === 'tcp') {
    ctx.sport = l4.sport;
    ctx.dport = l4.dport;
    (ctx as { tcpFlags?: PacketContext['tcpFlags'] }).tcpFlags = {
      syn: (l4.flags & TCP_SYN) !== 0,
      ack: (l4.flags & TCP_ACK) !== 0,
      rst: (l4.flags & TCP_RST) !== 0,
      fin: (l4.flags & 1) !== 0,
      psh: (l4.flags & 8) !== 0,
    };
  } else if (l4.kind === 'udp') {
    ctx.sport = l4.sport;
    ctx.dport = l4.dport;
  } else {
    ctx.icmp = { type: l4.type, code: l4.code, id: l4.id };
    const q = l4.quoted;
    if (q) {
      ctx.quoted = { src: q.src, dst: q.dst, proto: protoName(q) };
      if (q.l4.kind === 'icmp') ctx.quoted.icmpId = q.l4.id;
      else {
        ctx.quoted.sport = q.l4.sport;
        ctx.quoted.dport = q.l4.dport;
      }
    }
  }
  const before = run.recorder ? summarize(pkt) : undefined;
  const res = nf.hook(point, ctx, ns, run);
  const changed = applyContext(ctx, pkt);
  const dev = (point === 'PREROUTING' || point === 'INPUT' ? iif : oif) ?? iif ?? oif;
  const verdict = res.verdict === 'reject' ? `REJECT (${res.with})` : res.verdict.toUpperCase();
  const rules = res.trace?.map((t) => `${t.table}${t.chain ? ` ${t.chain}` : ''}: ${t.rule}`);
  run.hop(
    pkt.tag,
    ns,
    dev?.name ?? '',
    'netfilter',
    `${bridge ? 'bridge ' : ''}${point} ${verdict}`,
    summarize(pkt),
    {
      ...(changed && before ? { before } : {}),
      ...(rules && rules.length > 0 ? { rules } : {}),
    },
  );
  if (res.verdict === 'accept') return res.reroute ? NF_REROUTE : NF_ACCEPT;
  if (res.verdict === 'drop') {
    run.end(pkt.tag, {
      verdict: 'dropped',
      reason: res.reason ?? `dropped by netfilter ${point} in ${where(ns)}`,
    });
    return NF_STOP;
  }
  run.end(pkt.tag, {
    verdict: 'rejected',
    reason: res.reason ?? `rejected by netfilter ${point} in ${where(ns)} with ${res.with}`,
  });
  sendReject(run, ns, pkt, res.with);
  return NF_STOP;
}

function applyContext(ctx: PacketContext, pkt: IpPacket): boolean {
  pkt.sum = undefined;
  let changed = false;
  if (ctx.src !== pkt.src || ctx.dst !== pkt.dst) {
    pkt.src = ctx.src;
    pkt.dst = ctx.dst;
    changed = true;
  }
  pkt.ttl = ctx.ttl;
  pkt.mark = ctx.mark;
  pkt.ct = ctx.ct;
  const l4 = pkt.l4;
  if (l4.kind === 'tcp' || l4.kind === 'udp') {
    if (ctx.sport !== undefined && ctx.sport !== l4.sport) {
      l4.sport = ctx.sport;
      changed = true;
    }
    if (ctx.dport !== undefined && ctx.dport !== l4.dport) {
      l4.dport = ctx.dport;
      changed = true;
    }
  } else {
    if (ctx.icmp?.id !== undefined && ctx.icmp.id !== l4.id) {
      l4.id = ctx.icmp.id;
      changed = true;
    }
    const q = ctx.quoted;
    if (q && l4.quoted) {
      const qp = clonePacket(l4.quoted);
      qp.src = q.src;
      qp.dst = q.dst;
      if (qp.l4.kind === 'icmp') qp.l4.id = q.icmpId;
      else {
        if (q.sport !== undefined) qp.l4.sport = q.sport;
        if (q.dport !== undefined) qp.l4.dport = q.dport;
      }
      l4.quoted = qp;
    }
  }
  return changed;
}

// ---------------------------------------------------------------------------------------------
// receive

/** ip_rcv / ipv6_rcv on `dev` (the L2 layer has accepted the frame). */
export function ipRcv(run: Run, dev: Device, pkt: IpPacket, skipPrerouting = false): void {
  const ns = dev.ns;
  const l4 = pkt.l4;
  if (pkt.family === 6 && l4.kind === 'icmp' && (l4.type === ICMP6.ns || l4.type === ICMP6.na)) {
    ndiscRcv(run, dev, pkt);
    return;
  }
  // A DNAT in PREROUTING needs nothing more: the FIB below sees the new destination.
  if (!skipPrerouting && !nfHook(run, ns, 'PREROUTING', pkt, dev, undefined)) return;
  const route = ns.fib(pkt.dst);
  if (
    route?.type === 'local' ||
    ns.broadcast.has(pkt.dst) ||
    pkt.dst === '255.255.255.255' ||
    isMulticastIp(pkt.dst)
  ) {
    localDeliver(run, ns, dev, pkt);
    return;
  }
  if (!ns.forwarding(pkt.family, dev)) {
    run.hop(
      pkt.tag,
      ns,
      dev.name,
      'drop',
      `not a local address and forwarding is off (${fwdKey(pkt.family, dev)}=0)`,
      summarize(pkt),
    );
    run.end(pkt.tag, {
      verdict: 'dropped',
      reason: `forwarding disabled in ${where(ns)} (${fwdKey(pkt.family, dev)}=0)`,
    });
    return;
  }
  if (!route) {
    run.hop(pkt.tag, ns, dev.name, 'route', `no route to ${pkt.dst}`, summarize(pkt));
    run.end(pkt.tag, {
      verdict: 'unreachable',
      reason: `no route to ${pkt.dst} in ${where(ns)} (ICMP net unreachable)`,
    });
    icmpError(run, ns, pkt, pkt.family === 4 ? ICMP4.unreach : ICMP6.unreach, 0);
    return;
  }
  if (route.type !== 'unicast') {
    routeError(run, ns, pkt, route, true);
    return;
  }
  ipForward(run, ns, dev, pkt, route);
}

function fwdKey(family: 4 | 6, dev: Device): string {
  if (family === 6) return 'net.ipv6.conf.all.forwarding';
  return dev.ns.sysctls.has(`net.ipv4.conf.${dev.name}.forwarding`)
    ? `net.ipv4.conf.${dev.name}.forwarding`
    : 'net.ipv4.ip_forward';
}

function routeError(run: Run, ns: Netns, pkt: IpPacket, route: RouteEntry, forwarded: boolean): void {
  run.hop(pkt.tag, ns, route.device?.name ?? '', 'route', route.text, summarize(pkt));
  if (route.type === 'blackhole') {
    run.end(pkt.tag, { verdict: 'dropped', reason: `blackhole route ${route.dst} in ${where(ns)}` });
    return;
  }
  const prohibit = route.type === 'prohibit';
  run.end(pkt.tag, {
    verdict: 'unreachable',
    reason: `${route.type} route ${route.dst} in ${where(ns)}${forwarded ? ` (ICMP ${prohibit ? 'admin prohibited' : 'host unreachable'})` : ''}`,
  });
  if (forwarded) {
    if (pkt.family === 4) icmpError(run, ns, pkt, ICMP4.unreach, prohibit ? 13 : 1);
    else icmpError(run, ns, pkt, ICMP6.unreach, prohibit ? 1 : 0);
  }
}

/** ip_forward: TTL, MTU (DF / IPv6), decrement, FORWARD, POSTROUTING, neighbour output. */
function ipForward(run: Run, ns: Netns, iif: Device, pkt: IpPacket, route: RouteEntry): void {
  const out = route.device!;
  if (pkt.ttl <= 1) {
    run.hop(
      pkt.tag,
      ns,
      iif.name,
      'drop',
      `${pkt.family === 4 ? 'TTL' : 'hop limit'} ${pkt.ttl} exceeded in transit`,
      summarize(pkt),
    );
    run.end(pkt.tag, {
      verdict: 'dropped',
      reason: `TTL exceeded in transit at ${where(ns)} (ICMP time exceeded)`,
    });
    icmpError(run, ns, pkt, pkt.family === 4 ? ICMP4.timeExceeded : ICMP6.timeExceeded, 0);
    return;
  }
  const len = wireLength(pkt);
  if (len > out.mtu) {
    if (pkt.family === 6 || pkt.df) {
      const what = pkt.family === 4 ? 'fragmentation needed' : 'packet too big';
      run.hop(
        pkt.tag,
        ns,
        out.name,
        'drop',
        `${what}: ${len} bytes > mtu ${out.mtu} of ${out.name}${pkt.family === 4 ? ' and DF set' : ''}`,
        summarize(pkt),
      );
      run.end(pkt.tag, {
        verdict: 'dropped',
        reason: `${what} at ${where(ns)} dev ${out.name}: ${len} bytes > mtu ${out.mtu}`,
      });
      if (pkt.family === 4) icmpError(run, ns, pkt, ICMP4.unreach, 4, out.mtu);
      else icmpError(run, ns, pkt, ICMP6.tooBig, 0, out.mtu);
      return;
    }
  }
  pkt.ttl--;
  pkt.sum = undefined;
  run.hop(pkt.tag, ns, out.name, 'forward', route.text, summarize(pkt));
  if (!nfHook(run, ns, 'FORWARD', pkt, iif, out)) return;
  if (!nfHook(run, ns, 'POSTROUTING', pkt, iif, out)) return;
  ipFragment(run, ns, out, pkt);
  neighOutput(run, out, route.via ?? pkt.dst, pkt, true);
}

/** ip_finish_output → ip_fragment: an IPv4 packet (DF clear) larger than the device's MTU leaves as fragments. */
function ipFragment(run: Run, ns: Netns, out: Device, pkt: IpPacket): void {
  if (pkt.family !== 4 || pkt.df || wireLength(pkt) <= out.mtu) return;
  const before = pkt.frag ?? [ipLength(pkt)];
  const sizes = fragmentSizes(before, out.mtu);
  pkt.frag = sizes;
  pkt.sum = undefined;
  const what = before.length > 1 ? `${before.length} fragments (${before.join('+')})` : `${before[0]} bytes`;
  run.hop(
    pkt.tag,
    ns,
    out.name,
    'fragment',
    `fragment: ${what} into ${sizes.length} fragments (${sizes.join('+')}) for mtu ${out.mtu} of ${out.name}`,
    summarize(pkt),
  );
}

// ---------------------------------------------------------------------------------------------
// output

export interface OutputOptions {
  /** A route already chosen (VXLAN's underlay route). */
  route?: RouteEntry;
  /** Skip OUTPUT (the packet already went through it: IPVS re-route after INPUT). */
  afterOutput?: boolean;
}

/** ip_local_out for a packet this namespace generates. `pkt.src` empty = pick one. */
export function ipOutput(run: Run, ns: Netns, pkt: IpPacket, opts: OutputOptions = {}): void {
  let route = opts.route ?? ns.fib(pkt.dst);
  if (!route) {
    run.hop(pkt.tag, ns, '', 'route', `no route to ${pkt.dst}`, summarize(pkt));
    run.end(pkt.tag, {
      verdict: 'unreachable',
      reason: `no route to ${pkt.dst} in ${where(ns)} (Network is unreachable)`,
    });
    return;
  }
  if (route.type !== 'unicast' && route.type !== 'local') {
    routeError(run, ns, pkt, route, false);
    return;
  }
  if (!pkt.src) {
    const src = route.type === 'local' ? pkt.dst : (route.src ?? ns.sourceAddress(pkt.dst));
    if (!src) {
      run.end(pkt.tag, {
        verdict: 'unreachable',
        reason: `no source address for ${pkt.dst} in ${where(ns)}`,
      });
      return;
    }
    pkt.src = src;
    pkt.sum = undefined;
  }
  run.hop(
    pkt.tag,
    ns,
    route.type === 'local' ? 'lo' : (route.device?.name ?? ''),
    'route',
    route.text,
    summarize(pkt),
  );
  let out = route.type === 'local' ? ns.devices.get('lo') : route.device;
  if (!opts.afterOutput) {
    const dst0 = pkt.dst;
    const mark0 = pkt.mark;
    if (!nfHook(run, ns, 'OUTPUT', pkt, undefined, out)) return;
    if (pkt.dst !== dst0 || pkt.mark !== mark0) {
      // ip_route_me_harder: NAT or a mark in OUTPUT changes the route.
      const again = ns.fib(pkt.dst);
      if (!again) {
        run.hop(pkt.tag, ns, '', 'route', `no route to ${pkt.dst} (after OUTPUT)`, summarize(pkt));
        run.end(pkt.tag, {
          verdict: 'unreachable',
          reason: `no route to ${pkt.dst} in ${where(ns)} after OUTPUT`,
        });
        return;
      }
      if (again !== route) {
        route = again;
        out = route.type === 'local' ? ns.devices.get('lo') : route.device;
        run.hop(pkt.tag, ns, out?.name ?? '', 'route', `re-route: ${route.text}`, summarize(pkt));
      }
      if (route.type !== 'unicast' && route.type !== 'local') {
        routeError(run, ns, pkt, route, false);
        return;
      }
    }
  }
  if (!out) {
    run.end(pkt.tag, { verdict: 'dropped', reason: `no loopback device in ${where(ns)}` });
    return;
  }
  if (!nfHook(run, ns, 'POSTROUTING', pkt, undefined, out)) return;
  if (route.type === 'local') {
    deviceXmit(run, out, { src: '00:00:00:00:00:00', dst: '00:00:00:00:00:00', ip: pkt, tag: pkt.tag });
    return;
  }
  const len = wireLength(pkt);
  if (len > out.mtu && (pkt.df || pkt.family === 6)) {
    run.hop(
      pkt.tag,
      ns,
      out.name,
      'drop',
      `message too long: ${len} bytes > mtu ${out.mtu} of ${out.name} (EMSGSIZE)`,
      summarize(pkt),
    );
    run.end(pkt.tag, {
      verdict: 'dropped',
      reason: `message too long at ${where(ns)}: ${len} bytes > mtu ${out.mtu} of ${out.name}`,
    });
    return;
  }
  ipFragment(run, ns, out, pkt);
  neighOutput(run, out, route.via ?? pkt.dst, pkt, false);
}

// ---------------------------------------------------------------------------------------------
// local delivery

function localDeliver(run: Run, ns: Netns, dev: Device, pkt: IpPacket): void {
  if (pkt.frag) {
    // ip_local_deliver → ip_defrag: the fragments are put back together before INPUT.
    const n = pkt.frag.length;
    pkt.frag = undefined;
    pkt.sum = undefined;
    run.hop(
      pkt.tag,
      ns,
      dev.name,
      'reassemble',
      `reassemble: ${n} fragments, ${ipLength(pkt)} bytes`,
      summarize(pkt),
    );
  }
  const dst0 = pkt.dst;
  const verdict = nfHook(run, ns, 'INPUT', pkt, dev, undefined);
  if (verdict === NF_STOP) return;
  if (verdict === NF_REROUTE || (pkt.dst !== dst0 && ns.addressType(pkt.dst) === 'unicast')) {
    // The engine rewrote the destination in INPUT (IPVS NAT): send it on, as ip_vs_nat_xmit does.
    const route = ns.fib(pkt.dst);
    run.hop(pkt.tag, ns, dev.name, 'forward', `ipvs: re-routed to ${pkt.dst}`, summarize(pkt));
    if (!route || route.type !== 'unicast') {
      run.end(pkt.tag, { verdict: 'unreachable', reason: `no route to ${pkt.dst} in ${where(ns)}` });
      return;
    }
    if (!nfHook(run, ns, 'OUTPUT', pkt, undefined, route.device)) return;
    ipOutput(run, ns, pkt, { route, afterOutput: true });
    return;
  }
  const l4 = pkt.l4;
  const bcast = !ns.local.has(pkt.dst) && ns.fib(pkt.dst)?.type !== 'local';
  if (l4.kind === 'udp') {
    const vx = ns.vxlanPorts.get(l4.dport);
    if (vx) {
      vxlanRcv(run, ns, vx, pkt);
      return;
    }
    const conn = ns.conns.get(connKey('udp', l4.dport, pkt.src, l4.sport));
    if (conn) {
      answer(run, ns, dev, pkt, conn, `udp ${pkt.dst}:${l4.dport}`);
      return;
    }
    const l = ns.findListener('udp', l4.dport, pkt.dst);
    if (!l) {
      run.hop(pkt.tag, ns, dev.name, 'deliver', `no socket on udp port ${l4.dport}`, summarize(pkt));
      if (bcast) {
        run.end(pkt.tag, { verdict: 'dropped', reason: `no socket on udp port ${l4.dport} in ${where(ns)}` });
        return;
      }
      run.end(pkt.tag, {
        verdict: 'rejected',
        reason: `udp port ${l4.dport} closed in ${where(ns)} (ICMP port unreachable)`,
      });
      if (pkt.family === 4) icmpError(run, ns, pkt, ICMP4.unreach, 3);
      else icmpError(run, ns, pkt, ICMP6.unreach, 4);
      return;
    }
    run.hop(
      pkt.tag,
      ns,
      dev.name,
      'deliver',
      `udp socket ${l.address ?? '*'}:${l.port} (${l.app})`,
      summarize(pkt),
    );
    run.end(pkt.tag, { verdict: 'delivered', delivered: deliveredAt(ns, pkt.dst, l4.dport) });
    const reply = withContext(run, pkt, () =>
      l.udp!(l4.payload ?? new Uint8Array(l4.dataLength), peerInfo(pkt, l4.sport, l4.dport)),
    );
    if (reply) {
      const r = packet({
        family: pkt.family,
        src: pkt.dst,
        dst: pkt.src,
        proto: PROTO_UDP,
        ttl: 64,
        id: ++ns.ipId & 0xffff,
        df: pkt.family === 4,
        l4: { kind: 'udp', sport: l4.dport, dport: l4.sport, dataLength: reply.length, payload: reply },
        mark: 0,
        tag: answerTag(pkt.tag),
      });
      run.hop(r.tag, ns, dev.name, 'send', `udp reply from ${l.app}, ${reply.length} bytes`, summarize(r));
      ipOutput(run, ns, r);
    }
    return;
  }
  if (l4.kind === 'tcp') {
    const conn = ns.conns.get(connKey('tcp', l4.dport, pkt.src, l4.sport));
    if (conn && !(l4.flags & TCP_SYN && !(l4.flags & TCP_ACK))) {
      answer(run, ns, dev, pkt, conn, `tcp ${pkt.dst}:${l4.dport}`);
      return;
    }
    if (l4.flags & TCP_RST) {
      run.hop(pkt.tag, ns, dev.name, 'deliver', 'RST for no connection: ignored', summarize(pkt));
      run.end(pkt.tag, { verdict: 'dropped', reason: `RST for no connection in ${where(ns)}` });
      return;
    }
    const l =
      l4.flags & TCP_SYN && !(l4.flags & TCP_ACK) ? ns.findListener('tcp', l4.dport, pkt.dst) : undefined;
    if (!l) {
      const why =
        l4.flags & TCP_SYN && !(l4.flags & TCP_ACK)
          ? `tcp port ${l4.dport} closed`
          : 'segment for no connection';
      run.hop(pkt.tag, ns, dev.name, 'deliver', `${why}: RST`, summarize(pkt));
      run.end(pkt.tag, { verdict: 'rejected', reason: `${why} in ${where(ns)} (TCP RST)` });
      sendTcpReset(run, ns, pkt);
      return;
    }
    run.hop(
      pkt.tag,
      ns,
      dev.name,
      'deliver',
      `tcp listener ${l.address ?? '*'}:${l.port} (${l.app})`,
      summarize(pkt),
    );
    run.end(pkt.tag, { verdict: 'delivered', delivered: deliveredAt(ns, pkt.dst, l4.dport) });
    const leg = pkt.tag.leg as { request?: Uint8Array; response?: Uint8Array; served?: boolean };
    if (!leg.served) {
      leg.served = true;
      leg.response = withContext(run, pkt, () =>
        l.tcp!(leg.request ?? EMPTY, peerInfo(pkt, l4.sport, l4.dport)),
      );
    }
    const synack = packet({
      family: pkt.family,
      src: pkt.dst,
      dst: pkt.src,
      proto: PROTO_TCP,
      ttl: 64,
      id: 0,
      df: pkt.family === 4,
      l4: {
        kind: 'tcp',
        sport: l4.dport,
        dport: l4.sport,
        flags: TCP_SYN | TCP_ACK,
        seq: isn(pkt),
        ack: (l4.seq + 1 + l4.dataLength) >>> 0,
        dataLength: 0,
      },
      mark: 0,
      tag: answerTag(pkt.tag),
    });
    run.hop(synack.tag, ns, dev.name, 'send', 'SYN-ACK', summarize(synack));
    ipOutput(run, ns, synack);
    return;
  }
  // ICMP
  if (l4.type === (pkt.family === 4 ? ICMP4.echo : ICMP6.echo)) {
    if (ns.flag(pkt.family === 4 ? 'net.ipv4.icmp_echo_ignore_all' : 'net.ipv6.icmp.echo_ignore_all')) {
      run.hop(
        pkt.tag,
        ns,
        dev.name,
        'deliver',
        'echo request ignored (icmp_echo_ignore_all=1)',
        summarize(pkt),
      );
      run.end(pkt.tag, { verdict: 'dropped', reason: `echo requests ignored in ${where(ns)}` });
      return;
    }
    run.hop(pkt.tag, ns, dev.name, 'deliver', 'echo request: kernel replies', summarize(pkt));
    run.end(pkt.tag, { verdict: 'delivered', delivered: deliveredAt(ns, pkt.dst) });
    const reply = packet({
      family: pkt.family,
      src: pkt.dst,
      dst: pkt.src,
      proto: pkt.proto,
      ttl: 64,
      id: ++ns.ipId & 0xffff,
      df: false,
      l4: {
        kind: 'icmp',
        type: pkt.family === 4 ? ICMP4.echoReply : ICMP6.echoReply,
        code: 0,
        id: l4.id,
        seq: l4.seq,
        dataLength: l4.dataLength,
      },
      mark: 0,
      tag: answerTag(pkt.tag),
    });
    ipOutput(run, ns, reply);
    return;
  }
  const conn = icmpConn(ns, pkt, l4);
  if (conn) {
    answer(run, ns, dev, pkt, conn, `icmp type ${l4.type} code ${l4.code}`);
    return;
  }
  run.hop(
    pkt.tag,
    ns,
    dev.name,
    'deliver',
    `icmp type ${l4.type} code ${l4.code}: no socket`,
    summarize(pkt),
  );
  run.end(pkt.tag, { verdict: 'delivered', delivered: deliveredAt(ns, pkt.dst) });
}

function icmpConn(ns: Netns, pkt: IpPacket, l4: IcmpHeader) {
  if (l4.type === ICMP4.echoReply && pkt.family === 4)
    return ns.conns.get(connKey('icmp', l4.id ?? 0, pkt.src, 0));
  if (l4.type === ICMP6.echoReply && pkt.family === 6)
    return ns.conns.get(connKey('icmp', l4.id ?? 0, pkt.src, 0));
  const q = l4.quoted;
  if (!q) return undefined;
  if (q.l4.kind === 'icmp') return ns.conns.get(connKey('icmp', q.l4.id ?? 0, q.dst, 0));
  return ns.conns.get(connKey(q.l4.kind, q.l4.sport, q.dst, q.l4.dport));
}

function answer(
  run: Run,
  ns: Netns,
  dev: Device,
  pkt: IpPacket,
  conn: { onAnswer(p: IpPacket, d: Device): void },
  what: string,
): void {
  run.hop(pkt.tag, ns, dev.name, 'deliver', `to the socket that sent it (${what})`, summarize(pkt));
  run.end(pkt.tag, {
    verdict: 'delivered',
    delivered: deliveredAt(ns, pkt.dst, pkt.l4.kind === 'icmp' ? undefined : pkt.l4.dport),
  });
  conn.onAnswer(pkt, dev);
}

/** Runs an app callback with `pkt` as the context new exchanges and TUN writes inherit. */
export function withContext<T>(run: Run, pkt: IpPacket, fn: () => T): T {
  const prev = run.context;
  run.context = pkt;
  try {
    return fn();
  } finally {
    run.context = prev;
  }
}

function isn(pkt: IpPacket): number {
  let h = 2166136261;
  const s = `${pkt.src}|${pkt.dst}|${pkt.l4.kind === 'icmp' ? 0 : pkt.l4.sport}`;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

// ---------------------------------------------------------------------------------------------
// errors and resets

/** icmp_send / icmp6_send: an error about `pkt`, from this namespace to its source. */
export function icmpError(
  run: Run,
  ns: Netns,
  pkt: IpPacket,
  type: number,
  code: number,
  mtu?: number,
): void {
  const l4 = pkt.l4;
  if (l4.kind === 'icmp' && (l4.quoted || l4.ndTarget !== undefined)) return; // never an error about an error
  if (ns.addressType(pkt.dst) === 'broadcast' || ns.addressType(pkt.dst) === 'multicast') return;
  const src = ns.sourceAddress(pkt.src);
  if (!src) return;
  const err = packet({
    family: pkt.family,
    src,
    dst: pkt.src,
    proto: pkt.family === 4 ? PROTO_ICMP : PROTO_ICMPV6,
    ttl: 64,
    id: ++ns.ipId & 0xffff,
    df: false,
    l4: { kind: 'icmp', type, code, mtu, quoted: clonePacket(pkt), dataLength: 0 },
    mark: 0,
    tag: answerTag(pkt.tag),
  });
  run.hop(
    err.tag,
    ns,
    '',
    'icmp',
    `${icmpName(pkt.family, type, code)}${mtu ? ` (mtu ${mtu})` : ''} to ${pkt.src}`,
    summarize(err),
  );
  ipOutput(run, ns, err);
}

export function icmpName(family: 4 | 6, type: number, code: number): string {
  if (family === 4) {
    if (type === ICMP4.timeExceeded) return 'time exceeded in transit';
    if (type === ICMP4.unreach) {
      return (
        (
          {
            0: 'net unreachable',
            1: 'host unreachable',
            2: 'protocol unreachable',
            3: 'port unreachable',
            4: 'fragmentation needed',
            9: 'net prohibited',
            10: 'host prohibited',
            13: 'administratively prohibited',
          } as Record<number, string>
        )[code] ?? `unreachable code ${code}`
      );
    }
    return `type ${type} code ${code}`;
  }
  if (type === ICMP6.timeExceeded) return 'time exceeded in transit';
  if (type === ICMP6.tooBig) return 'packet too big';
  if (type === ICMP6.unreach) {
    return (
      (
        {
          0: 'no route',
          1: 'administratively prohibited',
          3: 'address unreachable',
          4: 'port unreachable',
        } as Record<number, string>
      )[code] ?? `unreachable code ${code}`
    );
  }
  return `type ${type} code ${code}`;
}

function sendTcpReset(run: Run, ns: Netns, pkt: IpPacket): void {
  const l4 = pkt.l4;
  if (l4.kind !== 'tcp') return;
  const ackd = (l4.flags & TCP_ACK) !== 0;
  const rst = packet({
    family: pkt.family,
    src: pkt.dst,
    dst: pkt.src,
    proto: PROTO_TCP,
    ttl: 64,
    id: 0,
    df: pkt.family === 4,
    l4: {
      kind: 'tcp',
      sport: l4.dport,
      dport: l4.sport,
      flags: ackd ? TCP_RST : TCP_RST | TCP_ACK,
      seq: ackd ? l4.ack : 0,
      ack: ackd ? 0 : (l4.seq + ((l4.flags & TCP_SYN) !== 0 ? 1 : 0) + l4.dataLength) >>> 0,
      dataLength: 0,
    },
    mark: 0,
    tag: answerTag(pkt.tag),
  });
  run.hop(rst.tag, ns, '', 'send', 'RST', summarize(rst));
  ipOutput(run, ns, rst);
}

const REJECT4: Record<string, number> = {
  'icmp-net-unreachable': 0,
  'icmp-host-unreachable': 1,
  'icmp-proto-unreachable': 2,
  'icmp-port-unreachable': 3,
  'icmp-net-prohibited': 9,
  'icmp-host-prohibited': 10,
  'icmp-admin-prohibited': 13,
};
const REJECT6: Record<string, number> = {
  'icmp6-no-route': 0,
  'icmp6-adm-prohibited': 1,
  'icmp6-addr-unreachable': 3,
  'icmp6-port-unreachable': 4,
  'icmp6-policy-fail': 5,
  'icmp6-reject-route': 6,
  'icmp-net-unreachable': 0,
  'icmp-host-unreachable': 3,
  'icmp-port-unreachable': 4,
  'icmp-admin-prohibited': 1,
  'icmp-host-prohibited': 1,
  'icmp-net-prohibited': 1,
};

/** The reply a REJECT target sends. */
export function sendReject(run: Run, ns: Netns, pkt: IpPacket, how: RejectWith): void {
  if (how === 'tcp-reset' && pkt.l4.kind === 'tcp') {
    sendTcpReset(run, ns, pkt);
    return;
  }
  if (pkt.family === 4) icmpError(run, ns, pkt, ICMP4.unreach, REJECT4[how] ?? 3);
  else icmpError(run, ns, pkt, ICMP6.unreach, REJECT6[how] ?? 4);
}

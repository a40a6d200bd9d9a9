/**
 * Links and L2: device transmit and receive, the Linux bridge (FDB learning and ageing, flooding,
 * hairpin, br_netfilter), VXLAN encapsulation and decapsulation, underlay segments, TUN, and
 * neighbour resolution (ARP, NDP) with the kernel's queue-then-resolve behaviour.
 */
import type {
  BridgeDevice,
  BridgeFdbEntry,
  Device,
  NeighEntry,
  PhysicalDevice,
  TunDevice,
  VethDevice,
  VxlanDevice,
  VxlanFdbEntry,
} from './devices.js';
import { familyOf, isMulticastIp, multicastMacOf, solicitedNode } from './addr.js';
import { decodeIpPacket, encodeIpPacket, decodeEthernet } from './frame-bytes.js';
import { ICMP6, icmpError, ICMP4, ipOutput, ipRcv, nfHook, withContext, deliveredAt } from './l3.js';
import type { Netns } from './netns.js';
import {
  BROADCAST_MAC,
  cloneFrame,
  type Frame,
  frameLength,
  type IpPacket,
  wireLength,
  isMulticastMac,
  packet,
  PROTO_ICMPV6,
  PROTO_UDP,
  type Tag,
  ZERO_MAC,
} from './packet.js';
import { newLeg, type PendingNeighbour, type Run, summarize, summarizeFrame, type Where } from './run.js';

const USABLE = new Set(['permanent', 'noarp', 'reachable', 'stale']);
/** Probes before a resolution fails (mcast_solicit / ucast_solicit = 3). */
const MAX_PROBES = 3;

export function bridgeNfEnabled(ns: Netns, family: 4 | 6): boolean {
  return ns.flag(family === 4 ? 'net.bridge.bridge-nf-call-iptables' : 'net.bridge.bridge-nf-call-ip6tables');
}

function dropFrame(run: Run, where: Where, dev: string, frame: Frame, why: string, reason: string): void {
  run.hop(frame.tag, where, dev, 'drop', why, summarizeFrame(frame));
  if (frame.ip) run.end(frame.tag, { verdict: 'dropped', reason });
}

// ---------------------------------------------------------------------------------------------
// receive

/** A frame arrives on `dev` from its wire. */
export function netifReceive(run: Run, dev: Device, frame: Frame): void {
  if (dev.kind !== 'loopback') run.sink?.capture(dev.ns, dev.name, frame, 'ethernet');
  if (!dev.isUp()) {
    dropFrame(run, dev.ns, dev.name, frame, `${dev.name} is down`, `${dev.label} is down`);
    return;
  }
  if (dev.master) {
    bridgeInput(run, dev.master, dev, frame);
    return;
  }
  l2Deliver(run, dev, frame);
}

/** The frame reaches the device's own stack: MAC filter, then ARP or IP (`prerouted`: br_netfilter already ran PREROUTING). */
function l2Deliver(run: Run, dev: Device, frame: Frame, prerouted = false): void {
  const d = frame.dst;
  if (d !== dev.mac && dev.kind !== 'loopback' && !isMulticastMac(d)) return; // PACKET_OTHERHOST
  if (frame.arp) {
    arpRcv(run, dev, frame);
    return;
  }
  const pkt = frame.ip!;
  run.hop(pkt.tag, dev.ns, dev.name, 'recv', `${frame.src} > ${frame.dst}`, summarize(pkt));
  ipRcv(run, dev, pkt, prerouted);
}

// ---------------------------------------------------------------------------------------------
// bridge

function fdbLookup(run: Run, br: BridgeDevice, mac: string): BridgeFdbEntry | undefined {
  const e = br.fdb.get(mac);
  if (!e || e.local || e.permanent || run.clock.now() - e.updated <= br.ageing) return e;
  br.fdb.delete(mac);
  run.undo(() => br.fdb.set(mac, e));
  return undefined;
}

function learn(run: Run, br: BridgeDevice, port: Device, mac: string): void {
  if (isMulticastMac(mac)) return;
  const now = run.clock.now();
  const e = br.fdb.get(mac);
  if (!e) {
    br.fdb.set(mac, { mac, port, local: false, permanent: false, updated: now });
    run.undo(() => br.fdb.delete(mac));
    return;
  }
  if (e.local || e.permanent || (e.port === port && e.updated === now)) return;
  const { port: p0, updated: u0 } = e;
  e.port = port;
  e.updated = now;
  run.undo(() => {
    e.port = p0;
    e.updated = u0;
  });
}

function bridgeInput(run: Run, br: BridgeDevice, port: Device, frame: Frame): void {
  const ns = br.ns;
  if (!br.isUp()) {
    dropFrame(run, ns, br.name, frame, `bridge ${br.name} is down`, `bridge ${br.label} is down`);
    return;
  }
  learn(run, br, port, frame.src);
  const dst = frame.dst;
  const sum = summarizeFrame(frame);
  if (isMulticastMac(dst)) {
    run.hop(
      frame.tag,
      ns,
      br.name,
      'bridge',
      `in ${port.name}: ${dst === BROADCAST_MAC ? 'broadcast' : 'multicast'}, flood + local`,
      sum,
    );
    for (const p of br.ports)
      if (p !== port || p.hairpin) bridgeOut(run, br, port, p, cloneFrame(frame), false);
    passUp(run, br, cloneFrame(frame));
    return;
  }
  // br_netfilter runs the IP PREROUTING hook for every IP frame entering the bridge (before the FDB).
  const pkt = frame.ip;
  const brnf = pkt !== undefined && bridgeNfEnabled(ns, pkt.family);
  if (brnf) {
    const dst0 = pkt.dst;
    if (!nfHook(run, ns, 'PREROUTING', pkt, br, undefined, { physIn: port })) return;
    if (pkt.dst !== dst0) {
      // br_nf_pre_routing_finish: DNAT changed the destination. Routed back out this bridge, the frame is
      // bridged to the new destination's MAC (from the ingress port: hairpin applies); otherwise the IP stack takes it.
      const r = ns.fib(pkt.dst);
      const nh = r?.type === 'unicast' && r.device === br ? br.neigh.get(r.via ?? pkt.dst) : undefined;
      if (!nh?.mac || !USABLE.has(nh.state)) {
        run.hop(
          frame.tag,
          ns,
          br.name,
          'bridge',
          `in ${port.name}: DNAT to ${pkt.dst}, handed to the IP stack of ${br.name}`,
          summarize(pkt),
        );
        ipRcv(run, br, pkt, true);
        return;
      }
      frame.dst = nh.mac;
    }
  }
  const e = fdbLookup(run, br, frame.dst);
  if (e?.local) {
    run.hop(
      frame.tag,
      ns,
      br.name,
      'bridge',
      `in ${port.name}: ${frame.dst} is the bridge's own address, up to ${br.name}`,
      sum,
    );
    passUp(run, br, frame, brnf);
    return;
  }
  if (e?.port) {
    if (e.port === port && !port.hairpin) {
      run.hop(
        frame.tag,
        ns,
        br.name,
        'drop',
        `in ${port.name}: fdb ${frame.dst} is on the ingress port and hairpin is off`,
        sum,
      );
      if (pkt)
        run.end(frame.tag, {
          verdict: 'dropped',
          reason: `bridge ${br.label}: destination is behind the ingress port ${port.name} and hairpin is off`,
        });
      return;
    }
    run.hop(
      frame.tag,
      ns,
      br.name,
      'bridge',
      `in ${port.name}: fdb ${frame.dst} dev ${e.port.name} master ${br.name}${e.permanent ? ' permanent' : ''}`,
      sum,
    );
    bridgeOut(run, br, port, e.port, frame, brnf);
    return;
  }
  run.hop(frame.tag, ns, br.name, 'bridge', `in ${port.name}: ${frame.dst} not in fdb, flood`, sum);
  for (const p of br.ports) if (p !== port || p.hairpin) bridgeOut(run, br, port, p, cloneFrame(frame), brnf);
}

function passUp(run: Run, br: BridgeDevice, frame: Frame, prerouted = false): void {
  run.sink?.capture(br.ns, br.name, frame, 'ethernet');
  l2Deliver(run, br, frame, prerouted);
}

function bridgeOut(
  run: Run,
  br: BridgeDevice,
  inPort: Device | undefined,
  out: Device,
  frame: Frame,
  brnf: boolean,
): void {
  if (!out.isUp()) return;
  const pkt = frame.ip;
  if (brnf && pkt) {
    const bridge = { physIn: inPort, physOut: out };
    if (!nfHook(run, br.ns, 'FORWARD', pkt, br, br, bridge)) return;
    if (!nfHook(run, br.ns, 'POSTROUTING', pkt, br, br, bridge)) return;
  }
  if (pkt && wireLength(pkt) > out.mtu) {
    dropFrame(
      run,
      br.ns,
      out.name,
      frame,
      `${wireLength(pkt)} bytes > mtu ${out.mtu} of port ${out.name}`,
      `frame too big for bridge port ${out.label} (mtu ${out.mtu})`,
    );
    return;
  }
  deviceXmit(run, out, frame);
}

/** br_dev_xmit: the bridge's own stack sends a frame. */
function bridgeXmit(run: Run, br: BridgeDevice, frame: Frame): void {
  const e = isMulticastMac(frame.dst) ? undefined : fdbLookup(run, br, frame.dst);
  if (e?.port) {
    run.hop(
      frame.tag,
      br.ns,
      br.name,
      'bridge',
      `out: fdb ${frame.dst} dev ${e.port.name} master ${br.name}`,
      summarizeFrame(frame),
    );
    bridgeOut(run, br, undefined, e.port, frame, false);
    return;
  }
  run.hop(
    frame.tag,
    br.ns,
    br.name,
    'bridge',
    `out: ${frame.dst === BROADCAST_MAC ? 'broadcast' : isMulticastMac(frame.dst) ? 'multicast' : `${frame.dst} not in fdb`}, flood`,
    summarizeFrame(frame),
  );
  for (const p of br.ports) bridgeOut(run, br, undefined, p, cloneFrame(frame), false);
}

// ---------------------------------------------------------------------------------------------
// transmit

/** dev_queue_xmit on `dev`: the frame leaves by this device. */
export function deviceXmit(run: Run, dev: Device, frame: Frame): void {
  if (!dev.isUp()) {
    dropFrame(run, dev.ns, dev.name, frame, `${dev.name} is down`, `${dev.label} is down`);
    return;
  }
  run.sink?.capture(dev.ns, dev.name, frame, 'ethernet');
  switch (dev.kind) {
    case 'veth': {
      const peer = (dev as VethDevice).peer;
      if (!peer.isUp()) {
        dropFrame(
          run,
          dev.ns,
          dev.name,
          frame,
          `peer ${peer.name} is down`,
          `veth peer ${peer.label} is down`,
        );
        return;
      }
      if (frame.ip && wireLength(frame.ip) > peer.mtu) {
        dropFrame(
          run,
          peer.ns,
          peer.name,
          frame,
          `${wireLength(frame.ip)} bytes > mtu ${peer.mtu} of ${peer.name}`,
          `frame too big for ${peer.label} (mtu ${peer.mtu})`,
        );
        return;
      }
      if (peer.ns !== dev.ns && frame.ip) {
        // skb_scrub_packet: mark and conntrack do not cross namespaces.
        frame.ip.mark = 0;
        frame.ip.ct = undefined;
      }
      run.post(() => netifReceive(run, peer, frame));
      return;
    }
    case 'bridge':
      bridgeXmit(run, dev as BridgeDevice, frame);
      return;
    case 'physical':
      segmentXmit(run, dev as PhysicalDevice, frame);
      return;
    case 'vxlan':
      vxlanXmit(run, dev as VxlanDevice, frame);
      return;
    case 'loopback':
      run.post(() => netifReceive(run, dev, frame));
      return;
    default:
      dropFrame(
        run,
        dev.ns,
        dev.name,
        frame,
        `${dev.kind} device discards what it is sent`,
        `sent into ${dev.kind} device ${dev.label}`,
      );
  }
}

function segmentXmit(run: Run, from: PhysicalDevice, frame: Frame): void {
  const seg = from.segment;
  if (!seg) {
    dropFrame(
      run,
      from.ns,
      from.name,
      frame,
      'not plugged into a segment',
      `${from.label} is not attached to the fabric`,
    );
    return;
  }
  const where = { node: 'fabric', name: seg.name };
  if (frame.ip && wireLength(frame.ip) > seg.mtu) {
    dropFrame(
      run,
      where,
      seg.name,
      frame,
      `${wireLength(frame.ip)} bytes > segment mtu ${seg.mtu}`,
      `frame too big for underlay segment ${seg.name} (mtu ${seg.mtu})`,
    );
    return;
  }
  const target = isMulticastMac(frame.dst) ? undefined : seg.macs.get(frame.dst);
  if (target) {
    if (target === from) return;
    run.hop(
      frame.tag,
      where,
      seg.name,
      'switch',
      `${frame.dst} → ${target.ns.node} ${target.name}`,
      summarizeFrame(frame),
    );
    run.post(() => netifReceive(run, target, frame));
    return;
  }
  run.hop(
    frame.tag,
    where,
    seg.name,
    'switch',
    `${frame.dst === BROADCAST_MAC ? 'broadcast' : `${frame.dst} unknown`}: flood to ${seg.ports.length - 1} ports`,
    summarizeFrame(frame),
  );
  for (const p of seg.ports) {
    if (p === from) continue;
    const copy = cloneFrame(frame);
    run.post(() => netifReceive(run, p, copy));
  }
}

// ---------------------------------------------------------------------------------------------
// VXLAN

const PORT_MIN = 32768;
const PORT_MAX = 61000;

/** udp_flow_src_port: the outer source port from a hash of the inner flow (within the local port range). */
function flowPort(frame: Frame): number {
  const p = frame.ip;
  let h = 2166136261;
  const s = p
    ? `${p.src}|${p.dst}|${p.proto}|${p.l4.kind === 'icmp' ? (p.l4.id ?? 0) : `${p.l4.sport}|${p.l4.dport}`}`
    : `${frame.src}|${frame.dst}`;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return Math.floor(((h >>> 0) * (PORT_MAX - PORT_MIN)) / 2 ** 32) + PORT_MIN;
}

function vxlanFdb(run: Run, vx: VxlanDevice, mac: string): VxlanFdbEntry[] | undefined {
  const list = vx.fdb.get(mac);
  if (!list) return undefined;
  const now = run.clock.now();
  const live = list.filter((e) => e.permanent || now - e.updated <= 300);
  return live.length > 0 ? live : undefined;
}

function vxlanXmit(run: Run, vx: VxlanDevice, frame: Frame): void {
  const ns = vx.ns;
  const exact = isMulticastMac(frame.dst) ? undefined : vxlanFdb(run, vx, frame.dst);
  const entries = exact ?? vxlanFdb(run, vx, ZERO_MAC);
  if (!entries) {
    dropFrame(
      run,
      ns,
      vx.name,
      frame,
      `no fdb entry for ${frame.dst} on ${vx.name} and no default destination`,
      `no VXLAN FDB entry for ${frame.dst} on ${vx.label}`,
    );
    return;
  }
  for (const e of entries) {
    const inner = entries.length > 1 ? cloneFrame(frame) : frame;
    const outer = packet({
      family: familyOf(e.dst),
      src: vx.local,
      dst: e.dst,
      proto: PROTO_UDP,
      ttl: 64,
      id: ++ns.ipId & 0xffff,
      df: false,
      l4: {
        kind: 'udp',
        sport: flowPort(inner),
        dport: vx.dstport,
        dataLength: 8 + frameLength(inner),
        vxlan: { vni: vx.vni, frame: inner },
      },
      mark: inner.ip?.mark ?? 0,
      tag: frame.tag,
    });
    if (inner.ip) inner.ip.ct = undefined;
    const route = ns.fib(e.dst);
    const entry = `fdb ${e.mac} dst ${e.dst} self${e.permanent ? ' permanent' : ''}`;
    run.hop(
      frame.tag,
      ns,
      vx.name,
      'vxlan-encap',
      `${entry}; vni ${vx.vni}, udp ${vx.local}:${outer.l4.kind === 'udp' ? outer.l4.sport : 0} > ${e.dst}:${vx.dstport}`,
      summarize(outer),
      {
        before: summarizeFrame(frame),
      },
    );
    if (route && route.device === vx) {
      dropFrame(
        run,
        ns,
        vx.name,
        frame,
        `route to remote ${e.dst} points back into ${vx.name}`,
        `VXLAN ${vx.label}: route to ${e.dst} loops into the device`,
      );
      continue;
    }
    ipOutput(run, ns, outer, route ? { route } : {});
  }
}

/** The UDP packet reached a VXLAN socket of the namespace: decapsulate and receive on the device. */
export function vxlanRcv(run: Run, ns: Netns, byVni: Map<number, VxlanDevice>, pkt: IpPacket): void {
  const l4 = pkt.l4;
  if (l4.kind !== 'udp') return;
  let carried = l4.vxlan;
  if (!carried && l4.payload && l4.payload.length >= 8) {
    const vni = (l4.payload[4] << 16) | (l4.payload[5] << 8) | l4.payload[6];
    const frame = decodeEthernet(l4.payload.subarray(8), pkt.tag);
    if (frame) carried = { vni, frame };
  }
  if (!carried) {
    run.hop(pkt.tag, ns, '', 'drop', `udp ${l4.dport}: not a VXLAN packet`, summarize(pkt));
    run.end(pkt.tag, { verdict: 'dropped', reason: `malformed VXLAN packet in ${ns.label}` });
    return;
  }
  const vx = byVni.get(carried.vni);
  if (!vx || !vx.isUp()) {
    run.hop(
      pkt.tag,
      ns,
      vx?.name ?? '',
      'drop',
      `vni ${carried.vni} on udp ${l4.dport}: ${vx ? `${vx.name} is down` : 'no device'}`,
      summarize(pkt),
    );
    run.end(pkt.tag, { verdict: 'dropped', reason: `no VXLAN device for vni ${carried.vni} in ${ns.label}` });
    return;
  }
  const inner = carried.frame;
  run.hop(
    pkt.tag,
    ns,
    vx.name,
    'vxlan-decap',
    `vni ${carried.vni} from ${pkt.src}:${l4.sport}`,
    summarizeFrame(inner),
    { before: summarize(pkt) },
  );
  if (vx.learning && !isMulticastMac(inner.src)) {
    const list = vx.fdb.get(inner.src);
    if (!list?.some((e) => e.dst === pkt.src && e.permanent)) {
      const prev = list;
      vx.fdb.set(inner.src, [{ mac: inner.src, dst: pkt.src, permanent: false, updated: run.clock.now() }]);
      run.undo(() => (prev ? vx.fdb.set(inner.src, prev) : vx.fdb.delete(inner.src)));
    }
  }
  if (inner.ip) {
    inner.ip.ct = undefined;
    inner.ip.mark = pkt.mark;
  }
  run.post(() => netifReceive(run, vx, inner));
}

// ---------------------------------------------------------------------------------------------
// neighbours

const STATE_TEXT: Record<string, string> = {
  permanent: 'PERMANENT',
  noarp: 'NOARP',
  reachable: 'REACHABLE',
  stale: 'STALE',
  incomplete: 'INCOMPLETE',
  failed: 'FAILED',
};

function neighText(e: NeighEntry): string {
  return `${e.ip} dev ${e.dev.name}${e.mac ? ` lladdr ${e.mac}` : ''} ${STATE_TEXT[e.state]}`;
}

/** The kernel's neighbour output: resolved → transmit; else queue the packet and solicit. */
export function neighOutput(run: Run, dev: Device, nexthop: string, pkt: IpPacket, forwarded: boolean): void {
  if (!dev.isUp()) {
    run.hop(pkt.tag, dev.ns, dev.name, 'drop', `${dev.name} is down`, summarize(pkt));
    run.end(pkt.tag, { verdict: 'dropped', reason: `${dev.label} is down` });
    return;
  }
  if (!dev.arp) {
    if (dev.kind === 'tun') {
      tunDeliver(run, dev as TunDevice, pkt);
      return;
    }
    const frame: Frame = { src: ZERO_MAC, dst: ZERO_MAC, ip: pkt, tag: pkt.tag };
    run.hop(pkt.tag, dev.ns, dev.name, 'xmit', dev.kind, summarize(pkt));
    deviceXmit(run, dev, frame);
    return;
  }
  const mcast = multicastMac(dev.ns, nexthop);
  if (mcast) {
    run.hop(pkt.tag, dev.ns, dev.name, 'xmit', `${nexthop} → ${mcast}`, summarize(pkt));
    deviceXmit(run, dev, { src: dev.mac, dst: mcast, ip: pkt, tag: pkt.tag });
    return;
  }
  let e = dev.neigh.get(nexthop);
  if (e?.mac && USABLE.has(e.state)) {
    run.hop(pkt.tag, dev.ns, dev.name, 'xmit', `neigh ${neighText(e)}`, summarize(pkt));
    deviceXmit(run, dev, { src: dev.mac, dst: e.mac, ip: pkt, tag: pkt.tag });
    return;
  }
  if (!e) {
    e = { ip: nexthop, dev, state: 'incomplete', updated: run.clock.now(), queue: [], probes: 0 };
    dev.neigh.set(nexthop, e);
    const created = e;
    run.undo(() => {
      if (dev.neigh.get(nexthop) === created) dev.neigh.delete(nexthop);
    });
  } else if (e.state !== 'incomplete') {
    const s0 = e.state;
    const p0 = e.probes;
    const entry = e;
    run.undo(() => {
      entry.state = s0;
      entry.probes = p0;
      entry.queue = [];
    });
    e.state = 'incomplete';
    e.probes = 0;
  }
  e.queue.push({ pkt, forwarded });
  run.hop(
    pkt.tag,
    dev.ns,
    dev.name,
    'xmit',
    `neigh ${nexthop} dev ${dev.name} ${e.probes === 0 ? 'unknown' : 'INCOMPLETE'}: packet queued, resolving`,
    summarize(pkt),
  );
  if (e.probes === 0) {
    solicit(run, dev, e, pkt.tag, pkt.src);
    run.pending.add(new Resolution(e, pkt.tag, pkt.src));
  }
}

function multicastMac(ns: Netns, ip: string): string | undefined {
  if (ip === '255.255.255.255' || ns.broadcast.has(ip)) return BROADCAST_MAC;
  if (!isMulticastIp(ip)) return undefined;
  return multicastMacOf(ip);
}

class Resolution implements PendingNeighbour {
  constructor(
    private readonly e: NeighEntry,
    private readonly tag: Tag,
    private readonly srcHint: string,
  ) {}

  retry(run: Run): boolean {
    const e = this.e;
    if (e.state !== 'incomplete') return false;
    if (e.probes < MAX_PROBES) {
      solicit(run, e.dev, e, this.tag, this.srcHint);
      return true;
    }
    e.state = 'failed';
    const queued = e.queue;
    e.queue = [];
    const dev = e.dev;
    for (const { pkt, forwarded } of queued) {
      run.hop(
        pkt.tag,
        dev.ns,
        dev.name,
        'drop',
        `neigh ${e.ip} dev ${dev.name} FAILED: no ${e.ip.includes(':') ? 'neighbour advertisement' : 'ARP reply'} after ${MAX_PROBES} probes`,
        summarize(pkt),
      );
      run.end(pkt.tag, {
        verdict: 'unreachable',
        reason: `${e.ip} does not answer ${e.ip.includes(':') ? 'neighbour solicitations' : 'ARP'} on ${dev.label} (host unreachable)`,
      });
      if (forwarded) {
        if (pkt.family === 4) icmpError(run, dev.ns, pkt, ICMP4.unreach, 1);
        else icmpError(run, dev.ns, pkt, ICMP6.unreach, 3);
      }
    }
    return false;
  }
}

function solicit(run: Run, dev: Device, e: NeighEntry, tag: Tag, srcHint: string): void {
  e.probes++;
  const ns = dev.ns;
  const src =
    srcHint && ns.local.has(srcHint) && familyOf(srcHint) === familyOf(e.ip)
      ? srcHint
      : ns.sourceAddress(e.ip, dev.name);
  if (familyOf(e.ip) === 4) {
    const frame: Frame = {
      src: dev.mac,
      dst: BROADCAST_MAC,
      arp: { op: 1, senderMac: dev.mac, senderIp: src ?? '0.0.0.0', targetMac: ZERO_MAC, targetIp: e.ip },
      tag,
    };
    run.hop(
      tag,
      ns,
      dev.name,
      'arp',
      `who-has ${e.ip} tell ${src ?? '0.0.0.0'}${e.probes > 1 ? ` (probe ${e.probes})` : ''}`,
      summarizeFrame(frame),
    );
    deviceXmit(run, dev, frame);
    return;
  }
  const sn = solicitedNode(e.ip);
  const pkt = packet({
    family: 6,
    src: src ?? '::',
    dst: sn.ip,
    proto: PROTO_ICMPV6,
    ttl: 255,
    id: 0,
    df: false,
    l4: { kind: 'icmp', type: ICMP6.ns, code: 0, dataLength: 0, ndTarget: e.ip, ndLladdr: dev.mac },
    mark: 0,
    tag,
  });
  run.hop(
    tag,
    ns,
    dev.name,
    'ndp',
    `neighbor solicitation: who has ${e.ip}${e.probes > 1 ? ` (probe ${e.probes})` : ''}`,
    summarize(pkt),
  );
  deviceXmit(run, dev, { src: dev.mac, dst: sn.mac, ip: pkt, tag });
}

/** Learn or confirm `ip` → `mac` on `dev`; sends what waited for it. */
function neighConfirm(
  run: Run,
  dev: Device,
  ip: string,
  mac: string,
  state: 'reachable' | 'stale',
  create: boolean,
): void {
  let e = dev.neigh.get(ip);
  if (!e) {
    if (!create) return;
    e = { ip, dev, mac, state, updated: run.clock.now(), queue: [], probes: 0 };
    dev.neigh.set(ip, e);
    const created = e;
    run.undo(() => {
      if (dev.neigh.get(ip) === created) dev.neigh.delete(ip);
    });
    return;
  }
  if (e.state === 'permanent' || e.state === 'noarp') return;
  const prev = { mac: e.mac, state: e.state, updated: e.updated, probes: e.probes };
  const entry = e;
  run.undo(() => Object.assign(entry, prev, { queue: [] }));
  e.mac = mac;
  e.state = e.state === 'incomplete' ? 'reachable' : state;
  e.updated = run.clock.now();
  e.probes = 0;
  const queued = e.queue;
  e.queue = [];
  if (queued.length > 0) {
    run.hop(
      queued[0].pkt.tag,
      dev.ns,
      dev.name,
      familyOf(ip) === 4 ? 'arp' : 'ndp',
      `resolved: ${neighText(e)}; sending ${queued.length} queued`,
      summarize(queued[0].pkt),
    );
  }
  for (const q of queued) {
    run.hop(q.pkt.tag, dev.ns, dev.name, 'xmit', `neigh ${neighText(e)}`, summarize(q.pkt));
    deviceXmit(run, dev, { src: dev.mac, dst: mac, ip: q.pkt, tag: q.pkt.tag });
  }
}

function arpRcv(run: Run, dev: Device, frame: Frame): void {
  const a = frame.arp!;
  const ns = dev.ns;
  if (a.op === 2) {
    neighConfirm(run, dev, a.senderIp, a.senderMac, 'reachable', false);
    return;
  }
  let answerWith: string | undefined;
  let why = '';
  if (ns.local.has(a.targetIp)) {
    answerWith = dev.mac;
    why = 'local address';
  } else if (ns.flag(`net.ipv4.conf.${dev.name}.proxy_arp`) || ns.flag('net.ipv4.conf.all.proxy_arp')) {
    const r = ns.fib(a.targetIp);
    if (r && r.type === 'unicast' && r.device !== dev && ns.forwarding(4, dev)) {
      answerWith = dev.mac;
      why = `proxy_arp (route ${r.text})`;
    }
  }
  if (!answerWith) return;
  if (a.senderIp !== '0.0.0.0') neighConfirm(run, dev, a.senderIp, a.senderMac, 'stale', true);
  const reply: Frame = {
    src: dev.mac,
    dst: a.senderMac,
    arp: { op: 2, senderMac: answerWith, senderIp: a.targetIp, targetMac: a.senderMac, targetIp: a.senderIp },
    tag: frame.tag,
  };
  run.hop(
    frame.tag,
    ns,
    dev.name,
    'arp',
    `reply ${a.targetIp} is-at ${answerWith} (${why})`,
    summarizeFrame(reply),
  );
  deviceXmit(run, dev, reply);
}

/** Neighbour solicitations and advertisements (not passed through netfilter here). */
export function ndiscRcv(run: Run, dev: Device, pkt: IpPacket): void {
  const l4 = pkt.l4;
  if (l4.kind !== 'icmp' || l4.ndTarget === undefined) return;
  const ns = dev.ns;
  if (l4.type === ICMP6.na) {
    if (l4.ndLladdr) neighConfirm(run, dev, l4.ndTarget, l4.ndLladdr, 'reachable', false);
    return;
  }
  const target = ns.local.get(l4.ndTarget);
  if (!target || target.dev !== dev) return;
  if (pkt.src !== '::' && l4.ndLladdr) neighConfirm(run, dev, pkt.src, l4.ndLladdr, 'stale', true);
  const na = packet({
    family: 6,
    src: l4.ndTarget,
    dst: pkt.src,
    proto: PROTO_ICMPV6,
    ttl: 255,
    id: 0,
    df: false,
    l4: {
      kind: 'icmp',
      type: ICMP6.na,
      code: 0,
      dataLength: 0,
      ndTarget: l4.ndTarget,
      ndLladdr: dev.mac,
      ndFlags: { router: ns.flag('net.ipv6.conf.all.forwarding'), solicited: true, override: true },
    },
    mark: 0,
    tag: pkt.tag,
  });
  run.hop(
    pkt.tag,
    ns,
    dev.name,
    'ndp',
    `neighbor advertisement: ${l4.ndTarget} is-at ${dev.mac}`,
    summarize(na),
  );
  deviceXmit(run, dev, { src: dev.mac, dst: l4.ndLladdr ?? BROADCAST_MAC, ip: na, tag: pkt.tag });
}

// ---------------------------------------------------------------------------------------------
// TUN

/** Bytes handed to a TUN reader, so a packet the app writes back (possibly on another node) keeps its exchange. */
const tunTags = new WeakMap<Uint8Array, Tag>();

function tunDeliver(run: Run, dev: TunDevice, pkt: IpPacket): void {
  const frame: Frame = { src: ZERO_MAC, dst: ZERO_MAC, ip: pkt, tag: pkt.tag };
  run.sink?.capture(dev.ns, dev.name, frame, 'raw');
  const reader = dev.reader;
  if (!reader) {
    dropFrame(
      run,
      dev.ns,
      dev.name,
      frame,
      `no process has ${dev.name} open`,
      `TUN ${dev.label} has no reader`,
    );
    return;
  }
  const bytes = encodeIpPacket(pkt);
  tunTags.set(bytes, pkt.tag);
  run.hop(pkt.tag, dev.ns, dev.name, 'tun', `to app ${reader.app} (${bytes.length} bytes)`, summarize(pkt));
  run.end(pkt.tag, { verdict: 'delivered', delivered: deliveredAt(dev.ns, pkt.dst) });
  withContext(run, pkt, () => reader.onPacket(bytes));
}

/** An app writes an IP packet into its TUN: the namespace receives it on the device. */
export function tunWrite(run: Run, dev: TunDevice, bytes: Uint8Array, app: string): void {
  const tag = tunTags.get(bytes) ?? run.context?.tag ?? newLeg(undefined, run.recorder?.top).orig;
  const pkt = decodeIpPacket(bytes, tag);
  const frame: Frame = { src: ZERO_MAC, dst: ZERO_MAC, ip: pkt, tag };
  run.sink?.capture(dev.ns, dev.name, frame, 'raw');
  if (!dev.isUp()) {
    dropFrame(run, dev.ns, dev.name, frame, `${dev.name} is down`, `${dev.label} is down`);
    return;
  }
  run.hop(tag, dev.ns, dev.name, 'recv', `written by app ${app}`, summarize(pkt));
  run.post(() => ipRcv(run, dev, pkt));
}

/**
 * Builds namespaces and devices from a NodeDataplane (and the fabric from the Underlay), refusing
 * what the kernel refuses (an unknown device, a duplicate address or route, a gateway that is not
 * on-link without `onlink`) with a PodnetError naming node, namespace and object.
 */
import {
  InvalidArgumentError,
  ipv4ToInt,
  type Link,
  type NodeDataplane,
  PodnetError,
  type Route,
  type Underlay,
} from '@podnet/core';
import { canon, cidrOf, familyOf, fastMac, v6Key } from './addr.js';
import {
  BridgeDevice,
  type Device,
  DummyDevice,
  LoopbackDevice,
  PhysicalDevice,
  TunDevice,
  VethDevice,
  VxlanDevice,
} from './devices.js';
import type { Segment } from './fabric.js';
import type { NetfilterFactory, NetfilterFactoryContext } from './hooks.js';
import { type AddrEntry, Netns } from './netns.js';
import { ZERO_MAC } from './packet.js';
import { type RouteEntry, type RouteType, routeText } from './routes.js';

export interface BuiltNode {
  readonly name: string;
  readonly plan: NodeDataplane;
  readonly namespaces: Map<string, Netns>;
  readonly physicals: PhysicalDevice[];
}

function fail(node: string, what: string): PodnetError {
  return new PodnetError('PODNET_PLAN_CONFLICT', `node ${node}: ${what}`);
}

function ip(node: string, what: string, text: string): string {
  try {
    return canon(text);
  } catch {
    throw fail(node, `${what}: invalid IP address "${text}"`);
  }
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

function mac(node: string, what: string, text: string): string {
  const m = String(text).toLowerCase();
  if (!MAC_RE.test(m)) throw fail(node, `${what}: invalid MAC address "${text}"`);
  return m;
}

export function buildNode(
  plan: NodeDataplane,
  segments: Map<string, Segment>,
  netfilter: NetfilterFactory,
  nfCtx: NetfilterFactoryContext,
): BuiltNode {
  const node = plan.node;
  const namespaces = new Map<string, Netns>();
  for (const n of plan.namespaces) {
    if (namespaces.has(n.name)) throw fail(node, `namespace ${n.name} is declared twice`);
    namespaces.set(n.name, new Netns(node, n.name, n.kind, n.pod));
  }
  const nsOf = (name: string, what: string) => {
    const ns = namespaces.get(name);
    if (!ns) throw fail(node, `${what} is in unknown netns ${name}`);
    return ns;
  };
  const physicals: PhysicalDevice[] = [];
  const add = (ns: Netns, dev: Device) => {
    if (ns.devices.has(dev.name)) throw fail(node, `device ${dev.name} exists twice in netns ${ns.name}`);
    ns.devices.set(dev.name, dev);
  };
  const pending: { link: Link; dev: Device }[] = [];
  for (const l of plan.links) {
    const ns = nsOf(l.netns, `device ${l.name}`);
    const m = l.mac
      ? mac(node, `device ${l.name}`, l.mac)
      : l.kind === 'loopback'
        ? ZERO_MAC
        : fastMac(`${node}/${l.netns}/${l.name}`);
    const mtu = l.mtu ?? (l.kind === 'loopback' ? 65536 : 1500);
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65536)
      throw fail(node, `device ${l.name} in netns ${l.netns}: mtu ${mtu} is outside 68-65536`);
    const up = l.up !== false;
    let dev: Device;
    switch (l.kind) {
      case 'loopback':
        dev = new LoopbackDevice(ns, l.name, mtu, m, up);
        break;
      case 'dummy':
        dev = new DummyDevice(ns, l.name, mtu, m, up);
        break;
      case 'physical': {
        const p = new PhysicalDevice(ns, l.name, mtu, m, up);
        const seg = segments.get(l.segment);
        if (!seg) throw fail(node, `device ${l.name}: segment ${l.segment} is not in the fabric`);
        seg.attach(p);
        physicals.push(p);
        dev = p;
        break;
      }
      case 'veth': {
        const a = new VethDevice(ns, l.name, mtu, m, up);
        const pns = nsOf(l.peer.netns, `veth peer ${l.peer.name}`);
        const pm = l.peer.mac
          ? mac(node, `veth peer ${l.peer.name}`, l.peer.mac)
          : fastMac(`${node}/${l.peer.netns}/${l.peer.name}`);
        const b = new VethDevice(pns, l.peer.name, l.peer.mtu ?? mtu, pm, l.peer.up !== false);
        a.peer = b;
        b.peer = a;
        add(pns, b);
        dev = a;
        break;
      }
      case 'bridge': {
        const br = new BridgeDevice(ns, l.name, mtu, m, up);
        br.ageing = l.ageingTime ?? 300;
        br.fdb.set(m, { mac: m, local: true, permanent: true, updated: 0 });
        dev = br;
        break;
      }
      case 'vxlan': {
        if (!Number.isInteger(l.vni) || l.vni < 0 || l.vni > 0xffffff)
          throw fail(node, `vxlan ${l.name}: vni ${l.vni} is outside 0-16777215`);
        if (!Number.isInteger(l.dstport) || l.dstport < 1 || l.dstport > 65535)
          throw fail(node, `vxlan ${l.name}: dstport ${l.dstport} is outside 1-65535`);
        const vx = new VxlanDevice(
          ns,
          l.name,
          mtu,
          m,
          up,
          l.vni,
          ip(node, `vxlan ${l.name} local`, l.local),
          l.dstport,
          l.learning ?? false,
          l.dev,
        );
        let byVni = ns.vxlanPorts.get(l.dstport);
        if (!byVni) {
          byVni = new Map();
          ns.vxlanPorts.set(l.dstport, byVni);
        }
        if (byVni.has(l.vni))
          throw fail(
            node,
            `vxlan ${l.name}: vni ${l.vni} on port ${l.dstport} already belongs to ${byVni.get(l.vni)!.name}`,
          );
        byVni.set(l.vni, vx);
        dev = vx;
        break;
      }
      case 'tun': {
        const t = new TunDevice(ns, l.name, mtu, m, up);
        t.owner = l.owner;
        dev = t;
        break;
      }
      default:
        throw fail(node, `device ${(l as Link).name}: unknown link kind ${(l as { kind: string }).kind}`);
    }
    add(ns, dev);
    pending.push({ link: l, dev });
  }
  for (const ns of namespaces.values()) {
    if (!ns.devices.has('lo')) add(ns, new LoopbackDevice(ns, 'lo', 65536, ZERO_MAC, true));
  }
  for (const { link, dev } of pending) {
    if (!link.master) continue;
    const br = dev.ns.devices.get(link.master);
    if (!(br instanceof BridgeDevice))
      throw fail(node, `device ${link.name}: master ${link.master} is not a bridge in netns ${link.netns}`);
    dev.master = br;
    dev.hairpin = link.hairpin ?? false;
    br.ports.add(dev);
    br.fdb.set(dev.mac, { mac: dev.mac, port: dev, local: true, permanent: true, updated: 0 });
  }
  for (const a of plan.addresses) {
    const ns = nsOf(a.netns, `address ${a.cidr}`);
    const dev = ns.devices.get(a.dev);
    if (!dev) throw fail(node, `address ${a.cidr}: no device ${a.dev} in netns ${a.netns}`);
    addAddress(ns, dev, a.cidr, a.scope ?? (a.dev === 'lo' ? 'host' : 'global'), a.noprefixroute ?? false);
  }
  for (const ns of namespaces.values()) {
    const lo = ns.devices.get('lo')!;
    if (!ns.addrs.some((x) => x.dev === lo && x.ip === '127.0.0.1'))
      addAddress(ns, lo, '127.0.0.1/8', 'host', false);
    if (!ns.addrs.some((x) => x.dev === lo && x.ip === '::1')) addAddress(ns, lo, '::1/128', 'host', false);
  }
  for (const r of plan.routes) addRoute(nsOf(r.netns, `route ${r.dst}`), r);
  for (const n of plan.neighbors) {
    const ns = nsOf(n.netns, `neighbour ${n.ip}`);
    const dev = ns.devices.get(n.dev);
    if (!dev) throw fail(node, `neighbour ${n.ip}: no device ${n.dev} in netns ${n.netns}`);
    const addr = ip(node, `neighbour on ${n.dev}`, n.ip);
    if (dev.neigh.has(addr))
      throw fail(node, `neighbour ${addr} on ${n.dev} in netns ${n.netns} exists twice`);
    dev.neigh.set(addr, {
      ip: addr,
      dev,
      mac: mac(node, `neighbour ${addr}`, n.lladdr),
      state: n.state ?? 'permanent',
      updated: 0,
      queue: [],
      probes: 0,
    });
  }
  for (const e of plan.fdb) {
    const ns = nsOf(e.netns, `fdb ${e.lladdr}`);
    const dev = ns.devices.get(e.dev);
    if (!dev) throw fail(node, `fdb ${e.lladdr}: no device ${e.dev} in netns ${e.netns}`);
    const m = mac(node, `fdb entry on ${e.dev}`, e.lladdr);
    if (dev instanceof VxlanDevice) {
      if (!e.dst) throw fail(node, `fdb ${m} on vxlan ${e.dev}: a VXLAN FDB entry needs dst`);
      const list = dev.fdb.get(m) ?? [];
      list.push({ mac: m, dst: ip(node, `fdb ${m} dst`, e.dst), permanent: e.permanent ?? true, updated: 0 });
      dev.fdb.set(m, list);
    } else if (dev instanceof BridgeDevice) {
      dev.fdb.set(m, { mac: m, local: true, permanent: true, updated: 0 });
    } else if (dev.master) {
      dev.master.fdb.set(m, { mac: m, port: dev, local: false, permanent: e.permanent ?? true, updated: 0 });
    } else {
      throw fail(
        node,
        `fdb ${m}: device ${e.dev} in netns ${e.netns} is neither a VXLAN device nor a bridge or bridge port`,
      );
    }
  }
  for (const s of plan.sysctls) nsOf(s.netns, `sysctl ${s.key}`).setSysctl(s.key, String(s.value));
  for (const ns of namespaces.values()) ns.nf = netfilter(plan, ns.name, nfCtx);
  return { name: node, plan, namespaces, physicals };
}

export function addAddress(
  ns: Netns,
  dev: Device,
  cidrText: string,
  scope: AddrEntry['scope'],
  noprefixroute: boolean,
): void {
  const node = ns.node;
  const slash = cidrText.indexOf('/');
  if (slash < 0)
    throw fail(node, `address ${cidrText} on ${dev.name} in netns ${ns.name}: expected ADDRESS/PREFIX`);
  const addr = ip(node, `address ${cidrText}`, cidrText.slice(0, slash));
  let cidr: ReturnType<typeof cidrOf>;
  try {
    cidr = cidrOf(`${addr}/${cidrText.slice(slash + 1)}`);
  } catch (e) {
    throw fail(
      node,
      `address ${cidrText} on ${dev.name} in netns ${ns.name}: ${InvalidArgumentError.is(e) ? e.message : String(e)}`,
    );
  }
  if (ns.local.has(addr)) throw fail(node, `address ${addr} is configured twice in netns ${ns.name}`);
  const family = cidr.family;
  const max = family === 4 ? 32 : 128;
  const localRoute: RouteEntry = entry(ns, {
    dst: addr,
    prefix: max,
    family,
    type: 'local',
    device: dev,
    scope: 'host',
    src: addr,
    table: 'local',
    kernel: true,
    metric: 0,
    onlink: false,
  });
  const a: AddrEntry = {
    ip: addr,
    prefix: cidr.prefix,
    family,
    dev,
    scope,
    cidr: `${addr}/${cidr.prefix}`,
    localRoute,
  };
  ns.addrs.push(a);
  ns.local.set(addr, a);
  if (family === 4 && cidr.prefix < 31) {
    const size = 2 ** (32 - cidr.prefix);
    const last = Number(cidr.network) + size - 1;
    ns.broadcast.add(`${(last >>> 24) & 255}.${(last >>> 16) & 255}.${(last >>> 8) & 255}.${last & 255}`);
  }
  if (cidr.prefix === max || noprefixroute) return;
  const network = cidr.text.slice(0, cidr.text.indexOf('/'));
  if (dev.kind === 'loopback') {
    ns.table(family, 'local').add(
      entry(ns, {
        dst: cidr.text,
        prefix: cidr.prefix,
        family,
        type: 'local',
        device: dev,
        scope: 'host',
        src: addr,
        table: 'local',
        kernel: true,
        metric: 0,
        onlink: false,
      }),
    );
    return;
  }
  ns.table(family, 'main').add(
    entry(ns, {
      dst: cidr.text,
      prefix: cidr.prefix,
      family,
      type: 'unicast',
      device: dev,
      scope: 'link',
      src: family === 4 ? addr : undefined,
      table: 'main',
      kernel: true,
      metric: family === 4 ? 0 : 256,
      onlink: false,
      network,
    }),
  );
}

interface EntrySpec {
  dst: string;
  prefix: number;
  family: 4 | 6;
  type: RouteType;
  device?: Device;
  via?: string;
  scope: 'global' | 'link' | 'host';
  src?: string;
  table: string;
  kernel: boolean;
  metric: number;
  onlink: boolean;
  network?: string;
}

function entry(ns: Netns, s: EntrySpec): RouteEntry {
  const base = s.network ?? (s.dst.includes('/') ? s.dst.slice(0, s.dst.indexOf('/')) : s.dst);
  const key = s.family === 4 ? keyV4(base) : (v6Key(base) ?? 0n);
  const text = routeText({
    dst: s.prefix === 0 && s.dst !== 'default' && s.table === 'main' ? 'default' : s.dst,
    type: s.type,
    via: s.via,
    dev: s.device?.name,
    onlink: s.onlink,
    scope: s.type === 'local' ? 'host' : s.scope,
    metric: s.metric,
    src: s.src,
    kernel: s.kernel,
    table: s.table,
  });
  void ns;
  return {
    family: s.family,
    prefix: s.prefix,
    key,
    dst: s.dst,
    type: s.type,
    device: s.device,
    dev: s.device?.name,
    via: s.via,
    onlink: s.onlink,
    scope: s.scope,
    metric: s.metric,
    src: s.src,
    table: s.table,
    kernel: s.kernel,
    text,
  };
}

function keyV4(text: string): number {
  return ipv4ToInt(text) >>> 0;
}

export function addRoute(ns: Netns, r: Route): void {
  const node = ns.node;
  const what = `route ${r.dst}${r.via ? ` via ${r.via}` : ''}${r.dev ? ` dev ${r.dev}` : ''} in netns ${ns.name}`;
  if (r.family !== 4 && r.family !== 6) throw fail(node, `${what}: family must be 4 or 6`);
  let dst: string;
  let prefix: number;
  let network: string;
  if (r.dst === 'default') {
    dst = 'default';
    prefix = 0;
    network = r.family === 4 ? '0.0.0.0' : '::';
  } else {
    let c: ReturnType<typeof cidrOf>;
    try {
      c = cidrOf(r.dst.includes('/') ? r.dst : `${r.dst}/${r.family === 4 ? 32 : 128}`);
    } catch (e) {
      throw fail(node, `${what}: ${PodnetError.is(e) ? e.message : String(e)}`);
    }
    if (c.family !== r.family) throw fail(node, `${what}: dst is IPv${c.family} but family is ${r.family}`);
    dst = c.prefix === 0 ? 'default' : c.text;
    prefix = c.prefix;
    network = c.text.slice(0, c.text.indexOf('/'));
  }
  const type = r.type ?? 'unicast';
  let device = r.dev !== undefined ? ns.devices.get(r.dev) : undefined;
  if (r.dev !== undefined && !device) throw fail(node, `${what}: no device ${r.dev}`);
  const via = r.via !== undefined ? ip(node, what, r.via) : undefined;
  if (via && familyOf(via) !== r.family) throw fail(node, `${what}: gateway ${via} is not IPv${r.family}`);
  if (type === 'unicast') {
    if (via && !r.onlink) {
      if (device && !ns.onLink(via, device)) {
        throw fail(
          node,
          `${what}: gateway ${via} is not on-link through ${device.name} (the kernel answers "Nexthop has invalid gateway"; add onlink)`,
        );
      }
      if (!device) {
        const gw = ns.fib(via);
        if (!gw || gw.type !== 'unicast' || gw.via || !gw.device)
          throw fail(node, `${what}: gateway ${via} is not reachable on any device`);
        device = gw.device;
      }
    }
    if (!device) throw fail(node, `${what}: needs dev or via`);
  }
  if (type === 'local' && !device) throw fail(node, `${what}: a local route needs dev`);
  const table = r.table === undefined ? (type === 'local' ? 'local' : 'main') : String(r.table);
  const src = r.src !== undefined ? ip(node, `${what} src`, r.src) : undefined;
  if (src && !ns.local.has(src))
    throw fail(node, `${what}: src ${src} is not an address of netns ${ns.name}`);
  const e = entry(ns, {
    dst,
    prefix,
    family: r.family,
    type,
    device,
    via,
    scope: r.scope ?? (via ? 'global' : type === 'local' ? 'host' : 'link'),
    src,
    table,
    kernel: false,
    metric: r.metric ?? (r.family === 6 ? 1024 : 0),
    onlink: r.onlink ?? false,
    network,
  });
  if (!ns.table(r.family, table).add(e))
    throw fail(
      node,
      `${what}: a route to ${dst} with metric ${e.metric} already exists (RTNETLINK answers: File exists)`,
    );
}

/** The router and the outside hosts of the fabric, each in its own namespace. */
export function buildFabricNamespaces(
  underlay: Underlay,
  segments: Map<string, Segment>,
): Map<string, Netns> {
  const out = new Map<string, Netns>();
  const where = 'fabric';
  for (const r of underlay.routers) {
    const ns = new Netns(r.name, 'root', 'fabric');
    ns.devices.set('lo', new LoopbackDevice(ns, 'lo', 65536, ZERO_MAC, true));
    addAddress(ns, ns.devices.get('lo')!, '127.0.0.1/8', 'host', false);
    r.interfaces.forEach((itf, i) => {
      const seg = segments.get(itf.segment);
      if (!seg)
        throw new PodnetError(
          'PODNET_PLAN_CONFLICT',
          `${where}: router ${r.name} interface on unknown segment ${itf.segment}`,
        );
      const dev = new PhysicalDevice(
        ns,
        `eth${i}`,
        seg.mtu,
        mac(r.name, `router ${r.name} eth${i}`, itf.mac),
        true,
      );
      ns.devices.set(dev.name, dev);
      seg.attach(dev);
      addAddress(ns, dev, itf.cidr, 'global', false);
    });
    ns.setSysctl('net.ipv4.ip_forward', '1');
    ns.setSysctl('net.ipv6.conf.all.forwarding', '1');
    out.set(r.name, ns);
  }
  for (const h of underlay.hosts) {
    if (out.has(h.name))
      throw new PodnetError('PODNET_PLAN_CONFLICT', `${where}: host name ${h.name} is used twice`);
    const seg = segments.get(h.segment);
    if (!seg)
      throw new PodnetError(
        'PODNET_PLAN_CONFLICT',
        `${where}: host ${h.name} is on unknown segment ${h.segment}`,
      );
    const ns = new Netns(h.name, 'root', 'fabric');
    ns.devices.set('lo', new LoopbackDevice(ns, 'lo', 65536, ZERO_MAC, true));
    addAddress(ns, ns.devices.get('lo')!, '127.0.0.1/8', 'host', false);
    const dev = new PhysicalDevice(ns, 'eth0', seg.mtu, mac(h.name, `host ${h.name} eth0`, h.mac), true);
    ns.devices.set('eth0', dev);
    seg.attach(dev);
    addAddress(ns, dev, h.cidr, 'global', false);
    const gw = ip(h.name, `host ${h.name} gateway`, h.gateway);
    addRoute(ns, { netns: 'root', dst: 'default', family: familyOf(gw), via: gw, dev: 'eth0' });
    out.set(h.name, ns);
  }
  return out;
}

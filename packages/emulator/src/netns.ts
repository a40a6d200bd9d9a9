/**
 * One network namespace: devices, addresses, the FIB (local table first, then main), sysctls,
 * sockets and the netfilter engine. It is also the `NamespaceView` hooks get.
 */
import type { PeerInfo, TcpHandler, UdpHandler } from '@podnet/core';
import { familyOf, isMulticastIp, maskV4, maskV6, v6Key } from './addr.js';
import type { Device, NeighEntry, VxlanDevice } from './devices.js';
import type { NamespaceView, NetfilterEngine, RouteView } from './hooks.js';
import type { IpPacket, Leg } from './packet.js';
import { type RouteEntry, RouteTable, routeText } from './routes.js';
import { ipv4ToInt } from '@podnet/core';

export interface AddrEntry {
  readonly ip: string;
  readonly prefix: number;
  readonly family: 4 | 6;
  readonly dev: Device;
  readonly scope: 'global' | 'link' | 'host';
  readonly cidr: string;
  readonly localRoute: RouteEntry;
}

export interface Listener {
  readonly proto: 'tcp' | 'udp';
  readonly port: number;
  readonly address?: string;
  readonly app: string;
  readonly tcp?: TcpHandler;
  readonly udp?: UdpHandler;
}

/** A socket that opened an exchange and waits for the answer. */
export interface ClientConn {
  readonly key: string;
  readonly leg: Leg;
  /** The answer arrived (SYN-ACK, RST, UDP datagram, echo reply, ICMP error). */
  onAnswer(pkt: IpPacket, dev: Device): void;
}

export class Netns implements NamespaceView {
  readonly devices = new Map<string, Device>();
  readonly addrs: AddrEntry[] = [];
  readonly local = new Map<string, AddrEntry>();
  readonly broadcast = new Set<string>();
  readonly main4 = new RouteTable(4);
  readonly main6 = new RouteTable(6);
  readonly local4 = new RouteTable(4);
  readonly local6 = new RouteTable(6);
  /** Numbered and named tables other than main/local (kept; without policy rules nothing selects them). */
  readonly otherTables = new Map<string, RouteTable>();
  readonly sysctls = new Map<string, string>();
  readonly listeners = new Map<string, Listener[]>();
  readonly conns = new Map<string, ClientConn>();
  /** UDP port → VNI → VXLAN device (the kernel's vxlan sockets). */
  readonly vxlanPorts = new Map<number, Map<number, VxlanDevice>>();
  nf?: NetfilterEngine;
  ipId = 0;
  /** Set by apps' EmulatedHost.log. */
  readonly log: string[] = [];

  constructor(
    readonly node: string,
    readonly name: string,
    readonly kind: 'node' | 'pod' | 'fabric',
    readonly pod?: { namespace: string; name: string },
  ) {}

  get label(): string {
    return `${this.node}/${this.name}`;
  }

  /** The FIB lookup: local table, then main. */
  fib(dst: string): RouteEntry | undefined {
    const a = this.local.get(dst);
    if (a) return a.localRoute;
    if (dst.includes(':')) return this.local6.lookup(dst) ?? this.main6.lookup(dst);
    const n = ipv4ToInt(dst);
    if (n < 0) return undefined;
    if (this.local4.size > 0) {
      const l = this.local4.lookup4(n);
      if (l) return l;
    }
    return this.main4.lookup4(n);
  }

  table(family: 4 | 6, name: string): RouteTable {
    if (name === 'main') return family === 4 ? this.main4 : this.main6;
    if (name === 'local') return family === 4 ? this.local4 : this.local6;
    const key = `${family}|${name}`;
    let t = this.otherTables.get(key);
    if (!t) {
      t = new RouteTable(family);
      this.otherTables.set(key, t);
    }
    return t;
  }

  /** Is `ip` on-link through `dev` (inside a connected prefix of one of its addresses)? */
  onLink(ip: string, dev: Device): boolean {
    const fam = familyOf(ip);
    if (fam === 6 && ip.startsWith('fe80:')) return true;
    for (const a of this.addrs) {
      if (a.dev !== dev || a.family !== fam) continue;
      if (fam === 4) {
        const m = maskV4(a.prefix);
        if ((ipv4ToInt(ip) & m) >>> 0 === (ipv4ToInt(a.ip) & m) >>> 0) return true;
      } else {
        const m = maskV6(a.prefix);
        if (((v6Key(ip) ?? -1n) & m) === ((v6Key(a.ip) ?? -2n) & m)) return true;
      }
    }
    const r = this.fib(ip);
    return r !== undefined && r.type === 'unicast' && r.via === undefined && r.device === dev;
  }

  // ---- NamespaceView ----

  addressType(ip: string): ReturnType<NamespaceView['addressType']> {
    if (this.local.has(ip)) return 'local';
    if (this.broadcast.has(ip) || ip === '255.255.255.255') return 'broadcast';
    if (isMulticastIp(ip)) return 'multicast';
    const r = this.fib(ip);
    if (!r) return 'unreachable';
    return r.type === 'unicast' ? 'unicast' : r.type;
  }

  isLocalAddress(ip: string): boolean {
    return this.local.has(ip);
  }

  addresses(dev?: string, family?: 4 | 6): string[] {
    return this.addrs
      .filter(
        (a) => (dev === undefined || a.dev.name === dev) && (family === undefined || a.family === family),
      )
      .map((a) => a.ip);
  }

  route(dst: string): RouteView | undefined {
    const r = this.fib(dst);
    if (!r) return undefined;
    return { type: r.type, dev: r.type === 'local' ? 'lo' : r.dev, via: r.via, src: r.src, text: r.text };
  }

  /** The source the kernel picks towards `dst`: the route's `src`, else an address on the out device, else any global one. */
  sourceAddress(dst: string, oif?: string): string | undefined {
    const fam = familyOf(dst);
    const r = this.fib(dst);
    if (r?.type === 'local') return dst;
    if (r?.src && oif === undefined) return r.src;
    const dev = oif !== undefined ? this.devices.get(oif) : r?.device;
    const target = r?.via ?? dst;
    let fallback: string | undefined;
    if (dev) {
      for (const a of this.addrs) {
        if (a.dev !== dev || a.family !== fam || a.scope === 'host') continue;
        if (fam === 6 && a.ip.startsWith('fe80:') && !dst.startsWith('fe80:')) continue;
        if (this.sameSubnet(a, target)) return a.ip;
        fallback ??= a.ip;
      }
      if (fallback) return fallback;
    }
    for (const a of this.addrs) {
      if (a.family !== fam || a.scope !== 'global' || a.dev.kind === 'loopback') continue;
      if (fam === 6 && a.ip.startsWith('fe80:')) continue;
      return a.ip;
    }
    for (const a of this.addrs) if (a.family === fam && a.scope === 'global') return a.ip;
    return undefined;
  }

  private sameSubnet(a: AddrEntry, ip: string): boolean {
    if (a.family === 4) {
      const m = maskV4(a.prefix);
      return (ipv4ToInt(ip) & m) >>> 0 === (ipv4ToInt(a.ip) & m) >>> 0;
    }
    const m = maskV6(a.prefix);
    return ((v6Key(ip) ?? -1n) & m) === ((v6Key(a.ip) ?? -2n) & m);
  }

  sysctl(key: string): string | undefined {
    return this.sysctls.get(key);
  }

  hasDevice(name: string): boolean {
    return this.devices.has(name);
  }

  // ---- sysctl semantics ----

  /** Writes a sysctl as the kernel propagates it: `ip_forward` and `conf.all.forwarding` reset every device. */
  setSysctl(key: string, value: string): void {
    this.fwdCache = undefined;
    if (key === 'net.ipv4.ip_forward' || key === 'net.ipv4.conf.all.forwarding') {
      for (const k of [...this.sysctls.keys()]) {
        if (k.startsWith('net.ipv4.conf.') && k.endsWith('.forwarding')) this.sysctls.delete(k);
      }
      this.sysctls.set('net.ipv4.ip_forward', value);
      this.sysctls.set('net.ipv4.conf.all.forwarding', value);
      return;
    }
    this.sysctls.set(key, value);
  }

  private fwdCache?: Map<Device, boolean>;

  /** IPv4 forwarding on the input device (IN_DEV_FORWARD); IPv6 uses `conf.all.forwarding`. */
  forwarding(family: 4 | 6, iif: Device): boolean {
    if (family === 6) return this.sysctls.get('net.ipv6.conf.all.forwarding') === '1';
    this.fwdCache ??= new Map();
    let on = this.fwdCache.get(iif);
    if (on === undefined) {
      const dev = this.sysctls.get(`net.ipv4.conf.${iif.name}.forwarding`);
      on = (dev ?? this.sysctls.get('net.ipv4.ip_forward')) === '1';
      this.fwdCache.set(iif, on);
    }
    return on;
  }

  flag(key: string): boolean {
    return this.sysctls.get(key) === '1';
  }

  // ---- sockets ----

  findListener(proto: 'tcp' | 'udp', port: number, dst: string): Listener | undefined {
    const list = this.listeners.get(`${proto}|${port}`);
    if (!list) return undefined;
    let wildcard: Listener | undefined;
    for (const l of list) {
      if (l.address === dst) return l;
      if (l.address === undefined && wildcard === undefined) wildcard = l;
    }
    return wildcard;
  }

  neighbours(): NeighEntry[] {
    const out: NeighEntry[] = [];
    for (const d of this.devices.values()) out.push(...d.neigh.values());
    return out;
  }
}

export function connKey(proto: string, localPort: number, remoteIp: string, remotePort: number): string {
  return `${proto}|${localPort}|${remoteIp}|${remotePort}`;
}

export function peerInfo(pkt: IpPacket, sport: number, dport: number): PeerInfo {
  return { address: pkt.src, port: sport, localAddress: pkt.dst, localPort: dport };
}

export { routeText };

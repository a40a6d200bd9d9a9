/**
 * Reading a namespace back: devices, addresses, routes (every table, both families), neighbours
 * and FDB entries, from `ip -j -d -batch` and `bridge -j fdb`, normalised to the keys the differ
 * compares with (see reconcile.ts).
 */
import { canonicalIp } from '@podnet/core';
import { run, splitJsonValues } from './run.js';

export interface ObservedLink {
  name: string;
  /** `veth`, `bridge`, `vxlan`, `tun`, `dummy`, `loopback`, ... */
  kind: string;
  mtu: number;
  mac: string;
  up: boolean;
  master?: string;
  hairpin?: boolean;
  promisc: boolean;
  vxlan?: { vni: number; local?: string; port: number; learning: boolean; dev?: string };
}

export interface ObservedRoute {
  type: string;
  via?: string;
  dev?: string;
  onlink: boolean;
  scope?: string;
  src?: string;
}

export interface ObservedNetns {
  links: Map<string, ObservedLink>;
  /** `dev|ip/prefix` */
  addresses: Set<string>;
  /** routeKey(...) → route */
  routes: Map<string, ObservedRoute>;
  /** `dev|ip` → lladdr and state */
  neighbors: Map<string, { lladdr?: string; state: string[] }>;
  /** `dev|lladdr|dst` of `self` entries */
  fdb: Set<string>;
}

/** Canonical route destination: `default` or `ADDRESS/PREFIX` with the address canonical. */
export function canonicalDst(dst: string, family: 4 | 6): string {
  if (dst === 'default') return 'default';
  const [ip, prefix] = dst.split('/');
  return `${canonicalIp(ip)}/${prefix ?? (family === 4 ? 32 : 128)}`;
}

/** The identity of a route, as the engine claims it: table, family, destination, metric. */
export function routeKey(r: {
  table?: string | number;
  family: 4 | 6;
  dst: string;
  metric?: number;
}): string {
  const metric = r.metric ?? (r.family === 6 ? 1024 : 0);
  return `${String(r.table ?? 'main')}|${r.family}|${canonicalDst(r.dst, r.family)}|${metric}`;
}

export const addressKey = (dev: string, cidr: string): string => {
  const [ip, prefix] = cidr.split('/');
  return `${dev}|${canonicalIp(ip)}/${prefix}`;
};
export const neighborKey = (dev: string, ip: string): string => `${dev}|${canonicalIp(ip)}`;
export const fdbKey = (dev: string, lladdr: string, dst?: string): string =>
  `${dev}|${lladdr.toLowerCase()}|${dst ? canonicalIp(dst) : ''}`;

interface IpLink {
  ifname: string;
  link_type?: string;
  mtu: number;
  address?: string;
  flags?: string[];
  master?: string;
  promiscuity?: number;
  linkinfo?: {
    info_kind?: string;
    info_data?: { id?: number; local?: string; port?: number; learning?: boolean; link?: string };
    info_slave_kind?: string;
    info_slave_data?: { hairpin?: boolean };
  };
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

interface IpRoute {
  type?: string;
  dst: string;
  gateway?: string;
  dev?: string;
  table?: string;
  scope?: string;
  prefsrc?: string;
  metric?: number;
  flags?: string[];
}

export function parseLinks(list: IpLink[]): Map<string, ObservedLink> {
  const m = new Map<string, ObservedLink>();
  for (const l of list) {
    const info = l.linkinfo;
    const kind = info?.info_kind ?? (l.link_type === 'loopback' ? 'loopback' : (l.link_type ?? 'unknown'));
    const o: ObservedLink = {
      name: l.ifname,
      kind,
      mtu: l.mtu,
      mac: (l.address ?? '').toLowerCase(),
      up: (l.flags ?? []).includes('UP'),
      promisc: kind === 'bridge' && (l.promiscuity ?? 0) > 0,
    };
    if (l.master) o.master = l.master;
    if (info?.info_slave_kind === 'bridge') o.hairpin = info.info_slave_data?.hairpin === true;
    if (kind === 'vxlan' && info?.info_data) {
      const d = info.info_data;
      o.vxlan = { vni: d.id ?? -1, port: d.port ?? 0, learning: d.learning !== false };
      if (d.local) o.vxlan.local = canonicalIp(d.local);
      if (d.link) o.vxlan.dev = d.link;
    }
    m.set(o.name, o);
  }
  return m;
}

export function parseAddresses(list: IpLink[]): Set<string> {
  const s = new Set<string>();
  for (const l of list)
    for (const a of l.addr_info ?? []) s.add(addressKey(l.ifname, `${a.local}/${a.prefixlen}`));
  return s;
}

export function parseRoutes(list: IpRoute[]): Map<string, ObservedRoute> {
  const m = new Map<string, ObservedRoute>();
  for (const r of list) {
    const family: 4 | 6 = r.dst.includes(':') || (r.gateway ?? '').includes(':') ? 6 : 4;
    const table = r.table === undefined ? 'main' : /^\d+$/.test(r.table) ? Number(r.table) : r.table;
    const key = routeKey({ table, family, dst: r.dst, metric: r.metric });
    const o: ObservedRoute = { type: r.type ?? 'unicast', onlink: (r.flags ?? []).includes('onlink') };
    if (r.gateway) o.via = canonicalIp(r.gateway);
    if (r.dev) o.dev = r.dev;
    if (r.scope) o.scope = r.scope;
    if (r.prefsrc) o.src = canonicalIp(r.prefsrc);
    m.set(key, o);
  }
  return m;
}

/** Reads one namespace (3 processes: ip batch, bridge fdb). */
export async function observeNetns(netns: string): Promise<ObservedNetns> {
  const ip = await run(['ip', '-j', '-d', '-n', netns, '-batch', '-'], {
    input: 'link show\naddr show\nroute show table all\nneigh show\n',
  });
  const [links, addrs, routes, neighs] = splitJsonValues(ip.stdout) as [
    IpLink[],
    IpLink[],
    IpRoute[],
    { dst: string; dev: string; lladdr?: string; state?: string[] }[],
  ];
  const br = await run(['bridge', '-j', '-n', netns, 'fdb', 'show']);
  const fdbList = (splitJsonValues(br.stdout)[0] ?? []) as {
    mac: string;
    ifname: string;
    dst?: string;
    flags?: string[];
  }[];
  const neighbors = new Map<string, { lladdr?: string; state: string[] }>();
  for (const n of neighs ?? [])
    neighbors.set(neighborKey(n.dev, n.dst), { lladdr: n.lladdr?.toLowerCase(), state: n.state ?? [] });
  const fdb = new Set<string>();
  for (const f of fdbList) if ((f.flags ?? []).includes('self')) fdb.add(fdbKey(f.ifname, f.mac, f.dst));
  return {
    links: parseLinks(links ?? []),
    addresses: parseAddresses(addrs ?? []),
    routes: parseRoutes(routes ?? []),
    neighbors,
    fdb,
  };
}

/** Namespaces on the host whose name starts with `prefix`. */
export async function listNetns(prefix: string): Promise<string[]> {
  const r = await run(['ip', '-j', 'netns', 'list'], { allowFailure: true });
  const list = (splitJsonValues(r.stdout)[0] ?? []) as { name: string }[];
  return list.map((n) => n.name).filter((n) => n.startsWith(prefix));
}

/** Current values of sysctl keys in a namespace (undefined where a key does not exist). */
export async function readSysctls(
  netns: string,
  keys: readonly string[],
): Promise<Map<string, string | undefined>> {
  const m = new Map<string, string | undefined>();
  if (keys.length === 0) return m;
  const all = await run(['ip', 'netns', 'exec', netns, 'sysctl', '-n', ...keys], { allowFailure: true });
  const lines = all.stdout.split('\n');
  if (all.code === 0 && lines.length >= keys.length) {
    for (const [i, k] of keys.entries()) m.set(k, lines[i].trim());
    return m;
  }
  for (const k of keys) {
    const one = await run(['ip', 'netns', 'exec', netns, 'sysctl', '-n', k], { allowFailure: true });
    m.set(k, one.code === 0 ? one.stdout.trim() : undefined);
  }
  return m;
}

/**
 * The differ: desired flat plan + previous flat plan + what the kernel holds → the commands that
 * remove what the previous plan had and the new one does not, and the commands that create or
 * correct what is missing or different. Creation goes through core's `ipCommands` on a plan that
 * holds only the missing objects; in-place corrections of an existing device (MTU, MAC, master,
 * hairpin, promisc, up/down) are `ip link set` lines. A device whose kind or VXLAN parameters
 * differ is deleted and created again, and everything on it counts as missing.
 *
 * Applying the same plan twice yields no commands; a deleted device, route, neighbour or FDB
 * entry is found missing and restored.
 */
import {
  canonicalIp,
  emptyNodeDataplane,
  ipCommands,
  type Link,
  type NodeDataplane,
  type Sysctl,
} from '@podnet/core';
import {
  addressKey,
  fdbKey,
  neighborKey,
  type ObservedLink,
  type ObservedNetns,
  type ObservedRoute,
  routeKey,
} from './observe.js';

export interface KernelView {
  /** Namespaces of the cluster that exist now (prefix match). */
  namespaces: ReadonlySet<string>;
  /** Observed content of existing namespaces (every existing namespace the plans mention). */
  netns: ReadonlyMap<string, ObservedNetns>;
  /** Current values of the desired sysctls in existing namespaces. */
  sysctls: ReadonlyMap<string, ReadonlyMap<string, string | undefined>>;
}

export interface Reconciliation {
  /** Deletions, to run with `force` in reverse phase order. */
  remove: string[];
  /** Creations and corrections, in phase order. */
  add: string[];
  /** Namespaces that will be deleted (their processes must be stopped first). */
  deletedNamespaces: string[];
}

const EXPECTED_KIND: Record<Link['kind'], string | undefined> = {
  loopback: 'loopback',
  physical: undefined,
  veth: 'veth',
  bridge: 'bridge',
  vxlan: 'vxlan',
  tun: 'tun',
  dummy: 'dummy',
};

const nsArg = (ns: string) => `-n ${ns}`;

export function reconcile(
  desired: NodeDataplane,
  previous: NodeDataplane | undefined,
  kernel: KernelView,
): Reconciliation {
  const prev = previous ?? emptyNodeDataplane('*');
  const desiredNs = new Set(desired.namespaces.map((n) => n.name));
  const deletedNamespaces = [...new Set([...kernel.namespaces, ...prev.namespaces.map((n) => n.name)])]
    .filter((n) => !desiredNs.has(n) && kernel.namespaces.has(n))
    .sort();
  const deleted = new Set(deletedNamespaces);
  const exists = (ns: string) => kernel.namespaces.has(ns) && !deleted.has(ns);
  const obsOf = (ns: string): ObservedNetns | undefined => (exists(ns) ? kernel.netns.get(ns) : undefined);

  const remove: string[] = [];
  const delta = emptyNodeDataplane('*');
  const modify: string[] = [];
  /** `ns|dev` of devices deleted in this run (recreated or gone): nothing on them survives. */
  const gone = new Set<string>();

  // ---- devices
  const desiredLinkKeys = new Set<string>();
  for (const l of desired.links) {
    desiredLinkKeys.add(`${l.netns}|${l.name}`);
    if (l.kind === 'veth') desiredLinkKeys.add(`${l.peer.netns}|${l.peer.name}`);
  }
  for (const l of prev.links) {
    if (l.kind === 'loopback' || l.kind === 'physical') continue;
    const key = `${l.netns}|${l.name}`;
    if (desiredLinkKeys.has(key) || !obsOf(l.netns)?.links.has(l.name)) continue;
    gone.add(key);
    // A veth whose other end's namespace is deleted goes with it.
    if (l.kind === 'veth' && deleted.has(l.peer.netns)) continue;
    remove.push(`ip ${nsArg(l.netns)} link del ${l.name}`);
    if (l.kind === 'veth') gone.add(`${l.peer.netns}|${l.peer.name}`);
  }
  const recreate: Link[] = [];
  for (const l of desired.links) {
    const obs = obsOf(l.netns);
    const o = obs?.links.get(l.name);
    const peerObs = l.kind === 'veth' ? obsOf(l.peer.netns)?.links.get(l.peer.name) : undefined;
    if (!o) {
      delta.links.push(l);
      if (l.kind === 'veth' && peerObs) {
        // The peer survived alone (its other end was moved or deleted by hand): start over.
        remove.push(`ip ${nsArg(l.peer.netns)} link del ${l.peer.name}`);
        gone.add(`${l.peer.netns}|${l.peer.name}`);
      }
      continue;
    }
    const expected = EXPECTED_KIND[l.kind];
    const wrongKind = expected !== undefined && o.kind !== expected;
    const wrongVxlan = l.kind === 'vxlan' && !vxlanMatches(l, o);
    const lostPeer = l.kind === 'veth' && !peerObs;
    if (wrongKind || wrongVxlan || lostPeer) {
      if (l.kind !== 'loopback' && l.kind !== 'physical') {
        remove.push(`ip ${nsArg(l.netns)} link del ${l.name}`);
        gone.add(`${l.netns}|${l.name}`);
        if (l.kind === 'veth') gone.add(`${l.peer.netns}|${l.peer.name}`);
        recreate.push(l);
      }
      continue;
    }
    if (l.kind === 'loopback' || l.kind === 'physical') {
      if ((l.mtu !== undefined && l.kind === 'physical' && o.mtu !== l.mtu) || o.up !== (l.up !== false))
        delta.links.push(l);
      continue;
    }
    modify.push(...linkCorrections(l, o, (master) => gone.has(`${l.netns}|${master}`)));
    if (l.kind === 'veth' && peerObs) {
      modify.push(...peerCorrections(l, peerObs));
    }
  }
  delta.links.push(...recreate);
  // Links whose device is gone because a neighbour device was deleted (veth peers) are missing too.
  for (const l of desired.links) {
    if (!delta.links.includes(l) && gone.has(`${l.netns}|${l.name}`)) delta.links.push(l);
  }
  const present = (ns: string, dev: string | undefined) =>
    exists(ns) && (dev === undefined || !gone.has(`${ns}|${dev}`));

  // ---- addresses
  const desiredAddr = new Set(desired.addresses.map((a) => `${a.netns}|${addressKey(a.dev, a.cidr)}`));
  for (const a of prev.addresses) {
    if (desiredAddr.has(`${a.netns}|${addressKey(a.dev, a.cidr)}`) || !present(a.netns, a.dev)) continue;
    if (obsOf(a.netns)?.addresses.has(addressKey(a.dev, a.cidr)))
      remove.push(`ip ${nsArg(a.netns)} addr del ${a.cidr} dev ${a.dev}`);
  }
  for (const a of desired.addresses) {
    if (a.dev === 'lo' && a.cidr === '127.0.0.1/8') continue;
    if (present(a.netns, a.dev) && obsOf(a.netns)?.addresses.has(addressKey(a.dev, a.cidr))) continue;
    delta.addresses.push(a);
  }

  // ---- routes
  const rkey = (r: NodeDataplane['routes'][number]) => `${r.netns}|${routeKey(r)}`;
  const desiredRoutes = new Set(desired.routes.map(rkey));
  for (const r of prev.routes) {
    if (desiredRoutes.has(rkey(r)) || !present(r.netns, r.dev)) continue;
    if (!obsOf(r.netns)?.routes.has(routeKey(r))) continue;
    const parts = [`ip ${nsArg(r.netns)}${r.family === 6 ? ' -6' : ''} route del`];
    if (r.type && r.type !== 'unicast') parts.push(r.type);
    parts.push(r.dst);
    if (r.table !== undefined && r.table !== 'main') parts.push(`table ${r.table}`);
    if (r.metric !== undefined) parts.push(`metric ${r.metric}`);
    remove.push(parts.join(' '));
  }
  for (const r of desired.routes) {
    const o = present(r.netns, r.dev) ? obsOf(r.netns)?.routes.get(routeKey(r)) : undefined;
    if (o && !(o.dev !== undefined && gone.has(`${r.netns}|${o.dev}`)) && routeMatches(r, o)) continue;
    delta.routes.push(r);
  }

  // ---- neighbours
  const nkey = (n: NodeDataplane['neighbors'][number]) => `${n.netns}|${neighborKey(n.dev, n.ip)}`;
  const desiredNeigh = new Set(desired.neighbors.map(nkey));
  for (const n of prev.neighbors) {
    if (desiredNeigh.has(nkey(n)) || !present(n.netns, n.dev)) continue;
    if (obsOf(n.netns)?.neighbors.has(neighborKey(n.dev, n.ip)))
      remove.push(`ip ${nsArg(n.netns)} neigh del ${n.ip} dev ${n.dev}`);
  }
  for (const n of desired.neighbors) {
    const o = present(n.netns, n.dev) ? obsOf(n.netns)?.neighbors.get(neighborKey(n.dev, n.ip)) : undefined;
    const state = (n.state ?? 'permanent').toUpperCase();
    if (o && o.lladdr === n.lladdr.toLowerCase() && (state === 'REACHABLE' || o.state.includes(state)))
      continue;
    delta.neighbors.push(n);
  }

  // ---- FDB
  const fkey = (f: NodeDataplane['fdb'][number]) => `${f.netns}|${fdbKey(f.dev, f.lladdr, f.dst)}`;
  const desiredFdb = new Set(desired.fdb.map(fkey));
  for (const f of prev.fdb) {
    if (desiredFdb.has(fkey(f)) || !present(f.netns, f.dev)) continue;
    if (obsOf(f.netns)?.fdb.has(fdbKey(f.dev, f.lladdr, f.dst))) {
      remove.push(
        `bridge ${nsArg(f.netns)} fdb del ${f.lladdr} dev ${f.dev}${f.dst ? ` dst ${f.dst}` : ''} self`,
      );
    }
  }
  for (const f of desired.fdb) {
    if (present(f.netns, f.dev) && obsOf(f.netns)?.fdb.has(fdbKey(f.dev, f.lladdr, f.dst))) continue;
    delta.fdb.push(f);
  }

  // ---- sysctls
  for (const s of desired.sysctls) {
    const current = exists(s.netns) ? kernel.sysctls.get(s.netns)?.get(s.key) : undefined;
    if (current !== undefined && normalizeSysctl(current) === normalizeSysctl(s.value)) continue;
    delta.sysctls.push(s satisfies Sysctl);
  }

  // ---- namespaces
  for (const n of deletedNamespaces) remove.push(`ip netns del ${n}`);
  for (const n of desired.namespaces)
    if (!kernel.namespaces.has(n.name) || deleted.has(n.name)) delta.namespaces.push(n);

  const add = [...ipCommands(delta, { netnsName: (n) => n }), ...modify];
  return { remove, add, deletedNamespaces };
}

function normalizeSysctl(v: string): string {
  return v.trim().split(/\s+/).join(' ');
}

function vxlanMatches(l: Extract<Link, { kind: 'vxlan' }>, o: ObservedLink): boolean {
  const v = o.vxlan;
  if (!v) return false;
  if (v.vni !== l.vni || v.port !== l.dstport || v.learning !== (l.learning ?? false)) return false;
  if (v.local !== canonicalIp(l.local)) return false;
  return l.dev === undefined || v.dev === l.dev;
}

function routeMatches(r: NodeDataplane['routes'][number], o: ObservedRoute): boolean {
  if ((r.type ?? 'unicast') !== o.type) return false;
  if ((r.via ? canonicalIp(r.via) : undefined) !== o.via) return false;
  if (r.dev !== undefined && r.dev !== o.dev) return false;
  if ((r.onlink ?? false) !== o.onlink) return false;
  if (r.scope !== undefined && r.scope !== (o.scope ?? 'global')) return false;
  if (r.src !== undefined && canonicalIp(r.src) !== o.src) return false;
  return true;
}

function linkCorrections(l: Link, o: ObservedLink, masterGone: (master: string) => boolean): string[] {
  const out: string[] = [];
  const at = `ip ${nsArg(l.netns)} link set dev ${l.name}`;
  if (l.mtu !== undefined && o.mtu !== l.mtu) out.push(`${at} mtu ${l.mtu}`);
  if (l.mac !== undefined && o.mac !== l.mac.toLowerCase()) out.push(`${at} address ${l.mac}`);
  const observedMaster = o.master !== undefined && !masterGone(o.master) ? o.master : undefined;
  if (l.master !== observedMaster) out.push(l.master ? `${at} master ${l.master}` : `${at} nomaster`);
  if (
    l.master !== undefined &&
    (l.hairpin ?? false) !== (observedMaster === l.master ? (o.hairpin ?? false) : false)
  ) {
    out.push(`bridge ${nsArg(l.netns)} link set dev ${l.name} hairpin ${l.hairpin ? 'on' : 'off'}`);
  }
  if (l.kind === 'bridge' && (l.promisc ?? false) !== o.promisc)
    out.push(`${at} promisc ${l.promisc ? 'on' : 'off'}`);
  if ((l.up !== false) !== o.up) out.push(`${at} ${l.up === false ? 'down' : 'up'}`);
  return out;
}

function peerCorrections(l: Extract<Link, { kind: 'veth' }>, o: ObservedLink): string[] {
  const out: string[] = [];
  const at = `ip ${nsArg(l.peer.netns)} link set dev ${l.peer.name}`;
  if (l.peer.mtu !== undefined && o.mtu !== l.peer.mtu) out.push(`${at} mtu ${l.peer.mtu}`);
  if (l.peer.mac !== undefined && o.mac !== l.peer.mac.toLowerCase()) out.push(`${at} address ${l.peer.mac}`);
  if ((l.peer.up !== false) !== o.up) out.push(`${at} ${l.peer.up === false ? 'down' : 'up'}`);
  return out;
}

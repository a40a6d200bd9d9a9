/**
 * A ClusterDataplane as one flat set of kernel objects: every namespace under its kernel name,
 * the fabric (segment bridges, router, external hosts, node uplinks) expressed as ordinary
 * namespaces, links, addresses and routes, so one renderer (core's `ipCommands`) and one differ
 * handle both the nodes and the underlay.
 */
import {
  type AppInstance,
  type ClusterDataplane,
  emptyNodeDataplane,
  type Link,
  type NodeDataplane,
  PlanConflictError,
  PodnetError,
  parseCidr,
  ROOT_NETNS,
  type Sysctl,
} from '@podnet/core';
import {
  checkNetnsName,
  fabricNetns,
  hostNetns,
  hostPort,
  nodeNetns,
  otherNetns,
  podNetnsKernel,
  routerNetns,
  routerPort,
  segmentBridge,
  uplinkPort,
} from './names.js';

export type NetnsRole = 'node' | 'pod' | 'fabric' | 'router' | 'host' | 'other';

/** One namespace of the cluster: its kernel name and what it is. */
export interface NetnsEntry {
  kernel: string;
  role: NetnsRole;
  /** The node (node, pod and other roles) or fabric object (router, host) it belongs to. */
  owner?: string;
  /** The logical name in the node's plan (`root`, `ns/pod`). */
  logical?: string;
  pod?: { namespace: string; name: string };
}

/** The rule texts of one node, applied in its root namespace. */
export interface FlatNetfilter {
  node: string;
  netns: string;
  iptables: { ipv4: string; ipv6: string };
  nftables: string;
  ipvs: string;
  ipset: string;
}

/** An app instance placed in a kernel namespace. */
export interface FlatApp {
  /** `node|app name`, unique in the cluster. */
  key: string;
  node: string;
  netns: string;
  instance: AppInstance;
  /** TUN devices in the app's namespace it owns (TunLink.owner = app name or app id). */
  tuns: { name: string; mtu?: number }[];
}

export interface FlatPlan {
  /** Every object with kernel namespace names (iptables/nft/ipvs/ipset and apps empty here). */
  dataplane: NodeDataplane;
  namespaces: NetnsEntry[];
  netfilter: FlatNetfilter[];
  apps: FlatApp[];
}

type Mapper = (logical: string, what: string) => string;

export function flattenPlan(plan: ClusterDataplane, prefix: string): FlatPlan {
  if (!plan || !Array.isArray(plan.nodes) || !plan.fabric) {
    throw new PodnetError(
      'PODNET_PLAN_CONFLICT',
      'plan: expected { nodes: NodeDataplane[], fabric: Underlay }',
    );
  }
  const out = emptyNodeDataplane('*');
  const entries = new Map<string, NetnsEntry>();
  const owners = new Map<string, string>();
  const addNs = (e: NetnsEntry, owner: string) => {
    checkNetnsName(e.kernel, `namespace of ${owner}`);
    const prev = owners.get(e.kernel);
    if (prev !== undefined) throw new PlanConflictError(owner, `namespace ${e.kernel}`, [prev, owner]);
    owners.set(e.kernel, owner);
    entries.set(e.kernel, e);
    out.namespaces.push({
      name: e.kernel,
      kind: e.role === 'pod' ? 'pod' : 'node',
      ...(e.pod ? { pod: e.pod } : {}),
    });
  };

  // The fabric: one namespace of segment bridges, one per router and per host.
  const fab = fabricNetns(prefix);
  addNs({ kernel: fab, role: 'fabric' }, 'fabric');
  out.links.push({ kind: 'loopback', name: 'lo', netns: fab });
  const segments = new Map<string, { bridge: string; mtu: number }>();
  for (const s of plan.fabric.segments) {
    const bridge = segmentBridge(s.name);
    if ([...segments.values()].some((x) => x.bridge === bridge)) {
      throw new PodnetError(
        'PODNET_PLAN_CONFLICT',
        `fabric: segments hash to the same bridge name ${bridge}`,
      );
    }
    segments.set(s.name, { bridge, mtu: s.mtu });
    out.links.push({ kind: 'bridge', name: bridge, netns: fab, mtu: s.mtu });
  }
  const segment = (name: string, who: string) => {
    const s = segments.get(name);
    if (!s)
      throw new PodnetError(
        'PODNET_PLAN_CONFLICT',
        `${who} is plugged into unknown underlay segment ${name}`,
      );
    return s;
  };
  for (const r of plan.fabric.routers) {
    const ns = routerNetns(prefix, r.name);
    addNs({ kernel: ns, role: 'router', owner: r.name }, `router ${r.name}`);
    out.links.push({ kind: 'loopback', name: 'lo', netns: ns });
    let v6 = false;
    r.interfaces.forEach((itf, i) => {
      const s = segment(itf.segment, `router ${r.name}`);
      const dev = `eth${i}`;
      out.links.push({
        kind: 'veth',
        name: routerPort(r.name, itf.segment),
        netns: fab,
        mtu: s.mtu,
        master: s.bridge,
        peer: { name: dev, netns: ns, mtu: s.mtu, mac: itf.mac },
      });
      out.addresses.push({ netns: ns, dev, cidr: itf.cidr });
      if (parseCidr(itf.cidr).family === 6) v6 = true;
    });
    out.sysctls.push({ netns: ns, key: 'net.ipv4.ip_forward', value: '1' });
    if (v6) out.sysctls.push({ netns: ns, key: 'net.ipv6.conf.all.forwarding', value: '1' });
  }
  for (const h of plan.fabric.hosts) {
    const ns = hostNetns(prefix, h.name);
    addNs({ kernel: ns, role: 'host', owner: h.name }, `host ${h.name}`);
    const s = segment(h.segment, `host ${h.name}`);
    out.links.push(
      { kind: 'loopback', name: 'lo', netns: ns },
      {
        kind: 'veth',
        name: hostPort(h.name),
        netns: fab,
        mtu: s.mtu,
        master: s.bridge,
        peer: { name: 'eth0', netns: ns, mtu: s.mtu, mac: h.mac },
      },
    );
    out.addresses.push({ netns: ns, dev: 'eth0', cidr: h.cidr });
    const family = parseCidr(h.cidr).family;
    out.routes.push({ netns: ns, dst: 'default', family, via: h.gateway, dev: 'eth0' });
  }

  const netfilter: FlatNetfilter[] = [];
  const apps: FlatApp[] = [];
  const nodeNames = new Set<string>();
  for (const np of plan.nodes) {
    if (nodeNames.has(np.node))
      throw new PodnetError('PODNET_PLAN_CONFLICT', `plan: node ${np.node} appears twice`);
    nodeNames.add(np.node);
    const map = new Map<string, string>();
    for (const n of np.namespaces) {
      let e: NetnsEntry;
      if (n.name === ROOT_NETNS)
        e = { kernel: nodeNetns(prefix, np.node), role: 'node', owner: np.node, logical: n.name };
      else if (n.kind === 'pod') {
        const pod = n.pod ?? podFromName(n.name, np.node);
        e = { kernel: podNetnsKernel(prefix, pod), role: 'pod', owner: np.node, logical: n.name, pod };
      } else
        e = { kernel: otherNetns(prefix, np.node, n.name), role: 'other', owner: np.node, logical: n.name };
      addNs(e, `node ${np.node}`);
      map.set(n.name, e.kernel);
    }
    const k: Mapper = (logical, what) => {
      const v = map.get(logical);
      if (v === undefined) {
        throw new PodnetError(
          'PODNET_PLAN_CONFLICT',
          `node ${np.node}: ${what} is in netns ${logical}, which the plan does not declare`,
        );
      }
      return v;
    };
    for (const l of np.links) {
      const netns = k(l.netns, `device ${l.name}`);
      if (l.kind === 'physical') {
        const s = segment(l.segment, `node ${np.node} device ${l.name}`);
        out.links.push({
          kind: 'veth',
          name: uplinkPort(np.node, l.name),
          netns: fab,
          mtu: s.mtu,
          master: s.bridge,
          peer: { name: l.name, netns, ...(l.mtu ? { mtu: l.mtu } : {}), ...(l.mac ? { mac: l.mac } : {}) },
        });
      }
      out.links.push(mapLink(l, netns, k));
    }
    for (const a of np.addresses) out.addresses.push({ ...a, netns: k(a.netns, `address ${a.cidr}`) });
    for (const r of np.routes) out.routes.push({ ...r, netns: k(r.netns, `route ${r.dst}`) });
    for (const n of np.neighbors) out.neighbors.push({ ...n, netns: k(n.netns, `neighbour ${n.ip}`) });
    for (const f of np.fdb) out.fdb.push({ ...f, netns: k(f.netns, `fdb ${f.lladdr}`) });
    for (const s of np.sysctls)
      out.sysctls.push({ ...s, netns: k(s.netns, `sysctl ${s.key}`) } satisfies Sysctl);
    const root = map.get(ROOT_NETNS);
    const rules = np.iptables.ipv4 || np.iptables.ipv6 || np.nftables || np.ipvs || np.ipset;
    if (rules) {
      if (root === undefined) {
        throw new PodnetError(
          'PODNET_PLAN_CONFLICT',
          `node ${np.node}: has rule texts but no root namespace to load them into`,
        );
      }
      netfilter.push({
        node: np.node,
        netns: root,
        iptables: { ...np.iptables },
        nftables: np.nftables,
        ipvs: np.ipvs,
        ipset: np.ipset,
      });
    }
    for (const a of np.apps) {
      const netns = k(a.netns, `app ${a.name}`);
      const tuns = np.links
        .filter((l) => l.kind === 'tun' && l.netns === a.netns && (l.owner === a.name || l.owner === a.app))
        .map((l) => ({ name: l.name, ...(l.mtu ? { mtu: l.mtu } : {}) }));
      apps.push({ key: `${np.node}|${a.name}`, node: np.node, netns, instance: a, tuns });
    }
  }
  return { dataplane: out, namespaces: [...entries.values()], netfilter, apps };
}

function podFromName(name: string, node: string): { namespace: string; name: string } {
  const i = name.indexOf('/');
  if (i <= 0 || i === name.length - 1) {
    throw new PodnetError('PODNET_PLAN_CONFLICT', `node ${node}: pod namespace ${name} is not NAMESPACE/POD`);
  }
  return { namespace: name.slice(0, i), name: name.slice(i + 1) };
}

function mapLink(l: Link, netns: string, k: Mapper): Link {
  if (l.kind === 'veth')
    return { ...l, netns, peer: { ...l.peer, netns: k(l.peer.netns, `veth peer ${l.peer.name}`) } };
  return { ...l, netns };
}

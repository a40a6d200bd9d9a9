/**
 * Pure parts of the linux backend: kernel names, flattening a plan (fabric included), grouping of
 * iproute2 lines into batches, and the differ against synthetic kernel views.
 */
import { bridge } from '@podnet/bridge';
import { type ClusterDataplane, composeDataplane, ipCommands, type NodeDataplane, PlanConflictError, PodnetError } from '@podnet/core';
import { fixtureCluster } from '@podnet/core/testing';
import { vxlan } from '@podnet/overlay-vxlan';
import { describe, expect, it } from 'vitest';
import { groupCommands, parseCommand } from '../src/commands.js';
import { flattenPlan } from '../src/flatten.js';
import { checkClusterName, clusterPrefix, hostPort, routerPort, segmentBridge, uplinkPort } from '../src/names.js';
import { addressKey, fdbKey, neighborKey, type ObservedLink, type ObservedNetns, parseRoutes, routeKey } from '../src/observe.js';
import { type KernelView, reconcile } from '../src/reconcile.js';
import { splitJsonValues } from '../src/run.js';

const P = clusterPrefix('c1');

function plan(pods = 1): ClusterDataplane {
  const state = fixtureCluster({
    nodes: [{ name: 'node-1' }, { name: 'node-2' }],
    pods: Array.from({ length: pods }, (_, i) => ({ name: `p${i}`, node: i % 2 === 0 ? 'node-1' : 'node-2', ports: [{ port: 80 }] })),
  });
  return composeDataplane(state, { podNetwork: bridge(), overlay: vxlan() });
}

describe('names', () => {
  it('accepts DNS-label-like cluster names and refuses the rest with the argument named', () => {
    expect(checkClusterName('dev-1')).toBe('dev-1');
    for (const bad of ['', 'Dev', 'a.b', '-a', 'a-', 'x'.repeat(33), 7]) {
      expect(() => checkClusterName(bad)).toThrow(/^clusterName: /);
    }
  });

  it('uses a prefix no other cluster’s names can start with', () => {
    expect(P).toBe('pn-c1.');
    expect(`${clusterPrefix('c1-n')}n-node`.startsWith(clusterPrefix('c1'))).toBe(false);
  });

  it('derives short, stable fabric device names', () => {
    const names = [segmentBridge('192.168.50.0/24'), uplinkPort('a-very-long-node-name.example.com', 'eth0'), routerPort('router', '10.0.0.0/8'), hostPort('external')];
    for (const n of names) expect(n.length).toBeLessThanOrEqual(15);
    expect(segmentBridge('192.168.50.0/24')).toBe(segmentBridge('192.168.50.0/24'));
    expect(segmentBridge('192.168.50.0/24')).not.toBe(segmentBridge('192.168.60.0/24'));
  });
});

describe('flattenPlan', () => {
  it('lays out the fabric: segment bridges, router, external host, node uplinks', () => {
    const f = flattenPlan(plan(2), P);
    expect(f.namespaces.map((n) => [n.kernel, n.role])).toEqual([
      ['pn-c1.fabric', 'fabric'],
      ['pn-c1.r-router', 'router'],
      ['pn-c1.h-external', 'host'],
      ['pn-c1.n-node-1', 'node'],
      ['pn-c1.p-default_p0', 'pod'],
      ['pn-c1.n-node-2', 'node'],
      ['pn-c1.p-default_p1', 'pod'],
    ]);
    const fabricLinks = f.dataplane.links.filter((l) => l.netns === 'pn-c1.fabric');
    expect(fabricLinks.filter((l) => l.kind === 'bridge').map((l) => l.name)).toEqual([
      segmentBridge('192.168.50.0/24'),
      segmentBridge('203.0.113.0/24'),
    ]);
    const uplink = f.dataplane.links.find((l) => l.name === uplinkPort('node-1', 'eth0'));
    expect(uplink).toMatchObject({ kind: 'veth', master: segmentBridge('192.168.50.0/24'), peer: { name: 'eth0', netns: 'pn-c1.n-node-1', mtu: 1500 } });
    expect(f.dataplane.addresses).toContainEqual({ netns: 'pn-c1.r-router', dev: 'eth0', cidr: '192.168.50.254/24' });
    expect(f.dataplane.routes).toContainEqual({ netns: 'pn-c1.h-external', dst: 'default', family: 4, via: '203.0.113.254', dev: 'eth0' });
    expect(f.netfilter.map((n) => n.netns)).toEqual(['pn-c1.n-node-1', 'pn-c1.n-node-2']);
    expect(f.apps.map((a) => [a.key, a.netns])).toEqual([
      ['node-1|workload:default/p0', 'pn-c1.p-default_p0'],
      ['node-2|workload:default/p1', 'pn-c1.p-default_p1'],
    ]);
  });

  it('refuses a pod namespace claimed by two nodes', () => {
    const p = plan(1);
    p.nodes[1].namespaces.push(p.nodes[0].namespaces[1]);
    expect(() => flattenPlan(p, P)).toThrow(PlanConflictError);
  });

  it('refuses an uplink on an unknown segment and objects in undeclared namespaces, naming them', () => {
    const p = plan(1);
    const eth0 = p.nodes[0].links.find((l) => l.kind === 'physical')!;
    if (eth0.kind === 'physical') eth0.segment = '10.1.0.0/16';
    expect(() => flattenPlan(p, P)).toThrow(/node node-1 device eth0 is plugged into unknown underlay segment 10\.1\.0\.0\/16/);
    const q = plan(1);
    q.nodes[1].routes.push({ netns: 'default/ghost', dst: 'default', family: 4 });
    expect(() => flattenPlan(q, P)).toThrow(/node node-2: route default is in netns default\/ghost/);
  });
});

describe('command grouping', () => {
  it('batches ipCommands output per phase and namespace, fabric first', () => {
    const f = flattenPlan(plan(2), P);
    const lines = ipCommands(f.dataplane, { netnsName: (n) => n });
    const groups = groupCommands(lines);
    const phases = groups.map((g) => g.phase);
    expect([...phases].sort((a, b) => a - b)).toEqual(phases);
    expect(groups[0]).toMatchObject({ phase: 0, key: 'netns||' });
    expect(groups[0].lines).toHaveLength(7);
    const devices = groups.filter((g) => g.phase === 1);
    expect(devices[0].key).toBe('ip|pn-c1.fabric|');
    expect(groups.reduce((n, g) => n + g.lines.length, 0)).toBe(lines.length);
    expect(groups.length).toBeLessThan(lines.length / 2);
  });

  it('parses the line forms and refuses others', () => {
    expect(parseCommand('ip -n a -6 route replace default via fe80::1 dev eth0')).toMatchObject({ tool: 'ip', netns: 'a', family6: true, phase: 8, body: 'route replace default via fe80::1 dev eth0' });
    expect(parseCommand('ip netns exec a sysctl -w net.ipv4.ip_forward=1')).toMatchObject({ tool: 'sysctl', phase: 5, body: 'net.ipv4.ip_forward=1' });
    expect(parseCommand('bridge -n a fdb append 02:00:00:00:00:01 dev flannel.1 dst 1.2.3.4 self permanent')).toMatchObject({ tool: 'bridge', phase: 7 });
    expect(parseCommand('ip -n a link set cni0 promisc on').phase).toBe(2);
    expect(parseCommand('ip -n a link set eth0 mtu 1500 up').phase).toBe(3);
    expect(() => parseCommand('ip link add x type dummy')).toThrow(PodnetError);
    expect(() => parseCommand('rm -rf /')).toThrow(/cannot execute command line "rm -rf \/"/);
  });

  it('orders deletions routes first, namespaces last', () => {
    const g = groupCommands(['ip netns del x', 'ip -n x link del v', 'ip -n x route del 10.0.0.0/8'], true);
    expect(g.map((x) => x.phase)).toEqual([8, 1, 0]);
  });
});

/** A kernel that holds exactly the flat plan (what a successful apply leaves). */
function perfectKernel(dp: NodeDataplane): KernelView {
  const netns = new Map<string, ObservedNetns>();
  const ns = (n: string) => {
    let o = netns.get(n);
    if (!o) {
      o = { links: new Map(), addresses: new Set(), routes: new Map(), neighbors: new Map(), fdb: new Set() };
      netns.set(n, o);
    }
    return o;
  };
  for (const n of dp.namespaces) ns(n.name).links.set('lo', { name: 'lo', kind: 'loopback', mtu: 65536, mac: '00:00:00:00:00:00', up: true, promisc: false });
  const put = (n: string, l: ObservedLink) => ns(n).links.set(l.name, { ...ns(n).links.get(l.name), ...l });
  for (const l of dp.links) {
    if (l.kind === 'loopback' || l.kind === 'physical') continue;
    const base = { name: l.name, kind: l.kind, mtu: l.mtu ?? 1500, mac: l.mac ?? '02:00:00:00:00:ff', up: l.up !== false, promisc: false };
    put(l.netns, {
      ...base,
      ...(l.master ? { master: l.master, hairpin: l.hairpin ?? false } : {}),
      ...(l.kind === 'vxlan' ? { vxlan: { vni: l.vni, local: l.local, port: l.dstport, learning: l.learning ?? false, dev: l.dev } } : {}),
    });
    if (l.kind === 'veth') put(l.peer.netns, { name: l.peer.name, kind: 'veth', mtu: l.peer.mtu ?? 1500, mac: l.peer.mac ?? '02:00:00:00:00:fe', up: true, promisc: false });
  }
  for (const a of dp.addresses) ns(a.netns).addresses.add(addressKey(a.dev, a.cidr));
  for (const r of dp.routes) ns(r.netns).routes.set(routeKey(r), { type: r.type ?? 'unicast', via: r.via, dev: r.dev, onlink: r.onlink ?? false });
  for (const n of dp.neighbors) ns(n.netns).neighbors.set(neighborKey(n.dev, n.ip), { lladdr: n.lladdr, state: ['PERMANENT'] });
  for (const f of dp.fdb) ns(f.netns).fdb.add(fdbKey(f.dev, f.lladdr, f.dst));
  const sysctls = new Map<string, Map<string, string>>();
  for (const s of dp.sysctls) {
    const m = sysctls.get(s.netns) ?? new Map<string, string>();
    m.set(s.key, s.value);
    sysctls.set(s.netns, m);
  }
  return { namespaces: new Set(dp.namespaces.map((n) => n.name)), netns, sysctls };
}

describe('reconcile', () => {
  const flat = () => flattenPlan(plan(2), P).dataplane;

  it('on an empty host creates everything, exactly as ipCommands renders it', () => {
    const dp = flat();
    const r = reconcile(dp, undefined, { namespaces: new Set(), netns: new Map(), sysctls: new Map() });
    expect(r.remove).toEqual([]);
    expect(r.add).toEqual(ipCommands(dp, { netnsName: (n) => n }));
  });

  it('against a kernel that holds the plan does nothing', () => {
    const dp = flat();
    expect(reconcile(dp, dp, perfectKernel(dp))).toEqual({ remove: [], add: [], deletedNamespaces: [] });
  });

  it('restores what is missing: a route, an FDB entry, a sysctl', () => {
    const dp = flat();
    const k = perfectKernel(dp);
    const n1 = k.netns.get('pn-c1.n-node-1')!;
    n1.routes.delete(routeKey({ family: 4, dst: '10.244.1.0/24' }));
    n1.fdb.clear();
    (k.sysctls.get('pn-c1.n-node-1') as Map<string, string>).set('net.ipv4.ip_forward', '0');
    const r = reconcile(dp, dp, k);
    expect(r.remove).toEqual([]);
    expect(r.add).toEqual([
      'ip netns exec pn-c1.n-node-1 sysctl -w net.ipv4.ip_forward=1',
      expect.stringMatching(/^bridge -n pn-c1\.n-node-1 fdb append .* dev flannel\.1 dst 192\.168\.50\.11 self permanent$/),
      'ip -n pn-c1.n-node-1 route replace 10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink',
    ]);
  });

  it('recreates a vxlan device whose VNI differs, with everything on it', () => {
    const dp = flat();
    const k = perfectKernel(dp);
    const dev = k.netns.get('pn-c1.n-node-1')!.links.get('flannel.1')!;
    dev.vxlan = { ...dev.vxlan!, vni: 2 };
    const r = reconcile(dp, dp, k);
    expect(r.remove).toEqual(['ip -n pn-c1.n-node-1 link del flannel.1']);
    expect(r.add.filter((l) => l.startsWith('ip -n pn-c1.n-node-1 link add'))).toEqual([
      expect.stringMatching(/^ip -n pn-c1\.n-node-1 link add name flannel\.1 mtu 1450 address \S+ type vxlan id 1 local 192\.168\.50\.10 dev eth0 dstport 8472 nolearning$/),
    ]);
    expect(r.add.some((l) => l.includes('addr add 10.244.0.0/32 dev flannel.1'))).toBe(true);
    expect(r.add.some((l) => l.includes('neigh replace 10.244.1.0'))).toBe(true);
    expect(r.add.some((l) => l.includes('route replace 10.244.1.0/24'))).toBe(true);
  });

  it('corrects a device in place: MTU, master, down', () => {
    const dp = flat();
    const k = perfectKernel(dp);
    const links = k.netns.get('pn-c1.n-node-1')!.links;
    const veth = [...links.values()].find((l) => l.kind === 'veth' && l.master === 'cni0')!;
    links.set(veth.name, { ...veth, mtu: 9000, master: undefined, hairpin: undefined, up: false });
    const r = reconcile(dp, dp, k);
    expect(r.add).toEqual([
      `ip -n pn-c1.n-node-1 link set dev ${veth.name} mtu 1450`,
      `ip -n pn-c1.n-node-1 link set dev ${veth.name} master cni0`,
      `bridge -n pn-c1.n-node-1 link set dev ${veth.name} hairpin on`,
      `ip -n pn-c1.n-node-1 link set dev ${veth.name} up`,
    ]);
  });

  it('removes what only the previous plan had: a pod’s namespace (its veth goes with it), a node’s route', () => {
    const before = flattenPlan(plan(2), P).dataplane;
    const next = plan(2);
    next.nodes[1].namespaces = next.nodes[1].namespaces.filter((n) => n.kind !== 'pod');
    next.nodes[1].links = next.nodes[1].links.filter((l) => l.kind !== 'veth' && l.netns === 'root');
    next.nodes[1].addresses = next.nodes[1].addresses.filter((a) => a.netns === 'root');
    next.nodes[1].routes = next.nodes[1].routes.filter((r) => r.netns === 'root' && r.dst !== '10.244.0.0/24');
    next.nodes[1].sysctls = next.nodes[1].sysctls.filter((s) => s.netns === 'root');
    next.nodes[1].apps = [];
    const dp = flattenPlan(next, P).dataplane;
    const r = reconcile(dp, before, perfectKernel(before));
    expect(r.deletedNamespaces).toEqual(['pn-c1.p-default_p1']);
    expect(r.remove).toEqual(['ip -n pn-c1.n-node-2 route del 10.244.0.0/24', 'ip netns del pn-c1.p-default_p1']);
    expect(r.add).toEqual([]);
  });
});

describe('reading ip -j output', () => {
  it('splits the JSON values a batch prints, strings with brackets included', () => {
    expect(splitJsonValues('[{"a":"]["}]\n[]\n[1,[2]]\n')).toEqual([[{ a: '][' }], [], [1, [2]]]);
  });

  it('keys routes of both families and every table the way plans do', () => {
    const m = parseRoutes([
      { type: 'unicast', dst: '10.244.1.0/24', gateway: '10.244.1.0', dev: 'flannel.1', table: 'main', flags: ['onlink'] },
      { dst: '2001:db8::/64', dev: 'eth0', metric: 1024, flags: [] },
      { type: 'local', dst: '10.244.0.0', dev: 'flannel.1', table: 'local', flags: [] },
      { dst: 'default', gateway: '192.168.50.254', dev: 'eth0', table: '100', flags: [] },
    ]);
    expect([...m.keys()]).toEqual(['main|4|10.244.1.0/24|0', 'main|6|2001:db8::/64|1024', 'local|4|10.244.0.0/32|0', '100|4|default|0']);
    expect(m.get('main|4|10.244.1.0/24|0')).toEqual({ type: 'unicast', via: '10.244.1.0', dev: 'flannel.1', onlink: true });
    expect(routeKey({ family: 6, dst: '2001:db8:0::/64' })).toBe('main|6|2001:db8::/64|1024');
  });
});

/**
 * A hand-rolled ClusterDataplane in flannel's vxlan style (bridge `cni0` + veth per pod, `flannel.1`
 * with a `.0/32` address, static neighbour/FDB entries and onlink routes per remote node), for
 * tests, benchmarks and demos that must not depend on the pod-network and overlay plugins.
 */
import {
  type AppInstance,
  type ClusterDataplane,
  deterministicMac,
  emptyNodeDataplane,
  InvalidArgumentError,
  type NodeDataplane,
  nthAddress,
  parseCidr,
  subnetAt,
  type Underlay,
  type WorkloadConfig,
} from '@podnet/core';

export interface FlannelStyleOptions {
  /** Node count. @default 2 */
  nodes?: number;
  /** Pods per node (`default/pod-<node>-<k>`). @default 1 */
  podsPerNode?: number;
  /** Underlay subnets; nodes are spread over them in blocks (different subnets are joined by the router). @default ['192.168.50.0/24'] */
  subnets?: string[];
  /** Cluster CIDR split into per-node /24s. @default '10.244.0.0/16' */
  clusterCIDR?: string;
  /** Underlay MTU, bytes. @default 1500 */
  underlayMtu?: number;
  /** MTU of cni0 and the pods' veths, bytes. @default underlayMtu - 50 */
  podMtu?: number;
  /** @default 1 */
  vni?: number;
  /** @default 8472 */
  port?: number;
  /** Ports each pod's workload serves. @default [{ port: 80, protocol: 'TCP' }, { port: 5353, protocol: 'UDP' }] */
  ports?: WorkloadConfig['ports'];
  /** Subnet of the `external` host. @default '203.0.113.0/24' */
  externalSubnet?: string;
  /** Dual-stack: also give pods an IPv6 address from this CIDR split into per-node /64s (carried by the same flannel.1). @default none */
  clusterCIDRv6?: string;
}

export function nodeName(i: number): string {
  return `node-${i}`;
}

export function podName(node: number, k: number): string {
  return `pod-${node}-${k}`;
}

/** Underlay with a router on every segment and the `external` host behind it (core's buildFabric conventions). */
export function simpleFabric(subnets: string[], mtu: number, externalSubnet = '203.0.113.0/24'): Underlay {
  const segs = [...subnets, externalSubnet].map((c) => parseCidr(c).text);
  return {
    segments: segs.map((cidr) => ({ name: cidr, cidr, mtu })),
    routers: [
      {
        name: 'router',
        interfaces: segs.map((s) => ({
          segment: s,
          cidr: `${nthAddress(s, -2)}/${parseCidr(s).prefix}`,
          mac: deterministicMac(`router/${s}`),
        })),
      },
    ],
    hosts: [
      {
        name: 'external',
        segment: segs[segs.length - 1],
        cidr: `${nthAddress(segs[segs.length - 1], 10)}/${parseCidr(segs[segs.length - 1]).prefix}`,
        mac: deterministicMac('host/external'),
        gateway: nthAddress(segs[segs.length - 1], -2),
      },
    ],
  };
}

export function flannelStylePlan(options: FlannelStyleOptions = {}): ClusterDataplane {
  const n = options.nodes ?? 2;
  const perNode = options.podsPerNode ?? 1;
  const subnets = (options.subnets ?? ['192.168.50.0/24']).map((s) => parseCidr(s).text);
  const underlayMtu = options.underlayMtu ?? 1500;
  const podMtu = options.podMtu ?? underlayMtu - 50;
  const vni = options.vni ?? 1;
  const port = options.port ?? 8472;
  const cluster = options.clusterCIDR ?? '10.244.0.0/16';
  const workloadPorts = options.ports ?? [
    { port: 80, protocol: 'TCP' },
    { port: 5353, protocol: 'UDP' },
  ];
  if (!Number.isInteger(n) || n < 1)
    throw new InvalidArgumentError('nodes', `${n} must be a positive integer`);
  if (!Number.isInteger(perNode) || perNode < 0 || perNode > 250)
    throw new InvalidArgumentError('podsPerNode', `${perNode} must be 0-250`);
  const block = Math.ceil(n / subnets.length);
  const info = Array.from({ length: n }, (_, i) => {
    const subnet = subnets[Math.floor(i / block)];
    const ip = nthAddress(subnet, 10 + (i % block));
    const podCidr = subnetAt(cluster, 24, i).text;
    const podCidr6 = options.clusterCIDRv6 ? subnetAt(options.clusterCIDRv6, 64, i).text : undefined;
    const net6 = podCidr6 ? nthAddress(podCidr6, 0) : undefined;
    return {
      name: nodeName(i),
      subnet,
      ip,
      podCidr,
      net: podCidr.slice(0, -3),
      podCidr6,
      net6,
      vtep: deterministicMac(`vtep/${nodeName(i)}`),
    };
  });
  const nodes: NodeDataplane[] = info.map((me, i) => {
    const p = emptyNodeDataplane(me.name);
    const prefix = parseCidr(me.subnet).prefix;
    const gw = nthAddress(me.podCidr, 1);
    p.namespaces.push({ name: 'root', kind: 'node' });
    p.links.push(
      { kind: 'loopback', name: 'lo', netns: 'root', mtu: 65536 },
      {
        kind: 'physical',
        name: 'eth0',
        netns: 'root',
        segment: me.subnet,
        mtu: underlayMtu,
        mac: deterministicMac(`node/${me.name}/eth0`),
      },
      { kind: 'bridge', name: 'cni0', netns: 'root', mtu: podMtu },
      {
        kind: 'vxlan',
        name: 'flannel.1',
        netns: 'root',
        vni,
        local: me.ip,
        dstport: port,
        learning: false,
        dev: 'eth0',
        mtu: underlayMtu - 50,
        mac: me.vtep,
      },
    );
    p.addresses.push(
      { netns: 'root', dev: 'lo', cidr: '127.0.0.1/8', scope: 'host' },
      { netns: 'root', dev: 'eth0', cidr: `${me.ip}/${prefix}` },
      { netns: 'root', dev: 'cni0', cidr: `${gw}/24` },
      { netns: 'root', dev: 'flannel.1', cidr: `${me.net}/32` },
    );
    p.routes.push({ netns: 'root', dst: 'default', family: 4, via: nthAddress(me.subnet, -2), dev: 'eth0' });
    p.sysctls.push({ netns: 'root', key: 'net.ipv4.ip_forward', value: '1' });
    const gw6 = me.podCidr6 ? nthAddress(me.podCidr6, 1) : undefined;
    if (me.podCidr6) {
      p.addresses.push(
        { netns: 'root', dev: 'cni0', cidr: `${gw6}/64` },
        { netns: 'root', dev: 'flannel.1', cidr: `${me.net6}/128` },
      );
      p.sysctls.push({ netns: 'root', key: 'net.ipv6.conf.all.forwarding', value: '1' });
    }
    info.forEach((peer, j) => {
      if (j === i) return;
      p.neighbors.push({ netns: 'root', dev: 'flannel.1', ip: peer.net, lladdr: peer.vtep });
      p.fdb.push({ netns: 'root', dev: 'flannel.1', lladdr: peer.vtep, dst: peer.ip });
      p.routes.push({
        netns: 'root',
        dst: peer.podCidr,
        family: 4,
        via: peer.net,
        dev: 'flannel.1',
        onlink: true,
      });
      if (peer.podCidr6 && peer.net6) {
        p.neighbors.push({ netns: 'root', dev: 'flannel.1', ip: peer.net6, lladdr: peer.vtep });
        p.routes.push({
          netns: 'root',
          dst: peer.podCidr6,
          family: 6,
          via: peer.net6,
          dev: 'flannel.1',
          onlink: true,
        });
      }
    });
    for (let k = 0; k < perNode; k++) {
      const pod = { namespace: 'default', name: podName(i, k) };
      const netns = `${pod.namespace}/${pod.name}`;
      p.namespaces.push({ name: netns, kind: 'pod', pod });
      const host = `veth${(k + 1).toString(16).padStart(8, '0')}`;
      p.links.push({
        kind: 'veth',
        name: host,
        netns: 'root',
        master: 'cni0',
        mtu: podMtu,
        peer: { name: 'eth0', netns, mtu: podMtu },
      });
      p.addresses.push({ netns, dev: 'eth0', cidr: `${nthAddress(me.podCidr, 2 + k)}/24` });
      p.routes.push({ netns, dst: 'default', family: 4, via: gw, dev: 'eth0' });
      if (me.podCidr6) {
        p.addresses.push({ netns, dev: 'eth0', cidr: `${nthAddress(me.podCidr6, 2 + k)}/64` });
        p.routes.push({ netns, dst: 'default', family: 6, via: gw6, dev: 'eth0' });
      }
      const app: AppInstance = {
        name: `workload:${netns}`,
        netns,
        app: 'workload',
        config: { pod, ports: workloadPorts } satisfies WorkloadConfig,
        pod,
      };
      p.apps.push(app);
    }
    return p;
  });
  return { nodes, fabric: simpleFabric(subnets, underlayMtu, options.externalSubnet) };
}

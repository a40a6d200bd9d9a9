/**
 * The engine composes plugins into a ClusterDataplane: a base per node (root namespace, loopback,
 * uplink, default route via the fabric's router), then each plugin's fragment in a fixed order,
 * merged with conflict detection, then the built-in workload app for pods no plugin serves.
 */
import {
  type ClusterDataplane,
  emptyNodeDataplane,
  type Link,
  type NodeDataplane,
  podNetnsName,
  ROOT_NETNS,
  type Underlay,
} from './dataplane.js';
import { CapabilityError, PlanConflictError, PodnetError } from './errors.js';
import { cidrContains, ipFamily, nthAddress, parseCidr } from './ip.js';
import type { ClusterState, NodeInfo, PodInfo } from './model.js';
import {
  type AnyRenderingPlugin,
  type DataplaneFragment,
  type PluginSet,
  type RenderContext,
  SPECIFICATION_VERSION,
} from './plugin.js';
import { deterministicMac, sortBy } from './util.js';

export const UPLINK = 'eth0';
export const ROUTER_NAME = 'router';
export const EXTERNAL_HOST = 'external';
const BASE = 'node';

/** Config of the built-in pod workload app (`workload`). */
export interface WorkloadConfig {
  pod: { namespace: string; name: string };
  ports: { port: number; protocol: 'TCP' | 'UDP' | 'SCTP' }[];
  command?: string[];
}

/** The router's address on a segment: the second-to-last address (`192.168.50.254`). */
export function routerAddress(segment: string): string {
  return nthAddress(segment, -2);
}

export function buildFabric(state: ClusterState): Underlay {
  const { underlay } = state.network;
  const prefixOf = (c: string) => parseCidr(c).prefix;
  const segments = [...underlay.subnets, underlay.externalSubnet].map((cidr) => ({
    name: cidr,
    cidr,
    mtu: underlay.mtu,
  }));
  return {
    segments,
    routers: [
      {
        name: ROUTER_NAME,
        interfaces: segments.map((s) => ({
          segment: s.name,
          cidr: `${routerAddress(s.cidr)}/${prefixOf(s.cidr)}`,
          mac: deterministicMac(`router/${s.name}`),
        })),
      },
    ],
    hosts: [
      {
        name: EXTERNAL_HOST,
        segment: underlay.externalSubnet,
        cidr: `${nthAddress(underlay.externalSubnet, 10)}/${prefixOf(underlay.externalSubnet)}`,
        mac: deterministicMac(`host/${EXTERNAL_HOST}`),
        gateway: routerAddress(underlay.externalSubnet),
      },
    ],
  };
}

export function checkCapabilities(state: ClusterState, plugins: PluginSet): void {
  for (const p of allPlugins(plugins)) {
    if (p.specificationVersion !== SPECIFICATION_VERSION) {
      throw new CapabilityError(
        p.name,
        'specificationVersion',
        `plugin ${p.kind}/${p.name} implements specification ${String(p.specificationVersion)}, this core implements ${SPECIFICATION_VERSION}`,
      );
    }
  }
  const { overlay } = plugins;
  const subnets = [...new Set(state.nodes.map((n) => n.underlaySubnet))].sort();
  if (!overlay.capabilities.crossSubnet && subnets.length > 1) {
    throw new CapabilityError(
      overlay.name,
      'crossSubnet',
      `overlay ${overlay.name} needs every node on one L2 segment, but the nodes are on ${subnets.join(' and ')} (joined by a router); use vxlan or udp, or put the nodes on one subnet`,
    );
  }
  if (!overlay.capabilities.ipv6 && state.network.ipFamilies.includes(6)) {
    throw new CapabilityError(
      overlay.name,
      'ipv6',
      `overlay ${overlay.name} does not support IPv6 pod networks`,
    );
  }
}

function allPlugins(plugins: PluginSet): AnyRenderingPlugin[] {
  const list: (AnyRenderingPlugin | undefined)[] = [
    plugins.podNetwork,
    plugins.overlay,
    plugins.serviceProxy,
    plugins.policy,
    plugins.dns,
    plugins.ingress,
    ...(plugins.extra ?? []),
  ];
  return list.filter((p): p is AnyRenderingPlugin => p !== undefined);
}

/** The node's own part: root namespace, loopback, uplink with its underlay address, default route. */
export function baseNodeFragment(state: ClusterState, node: NodeInfo): DataplaneFragment {
  const ip = node.internalIPs[0];
  const seg = node.underlaySubnet;
  const prefix = parseCidr(seg).prefix;
  return {
    namespaces: [{ name: ROOT_NETNS, kind: 'node' }],
    links: [
      { kind: 'loopback', name: 'lo', netns: ROOT_NETNS, mtu: 65536 },
      {
        kind: 'physical',
        name: UPLINK,
        netns: ROOT_NETNS,
        segment: seg,
        mtu: state.network.underlay.mtu,
        mac: deterministicMac(`node/${node.name}/${UPLINK}`),
      },
    ],
    addresses: [
      { netns: ROOT_NETNS, dev: 'lo', cidr: '127.0.0.1/8', scope: 'host' },
      { netns: ROOT_NETNS, dev: UPLINK, cidr: `${ip}/${prefix}` },
    ],
    routes: [
      { netns: ROOT_NETNS, dst: 'default', family: ipFamily(ip), via: routerAddress(seg), dev: UPLINK },
    ],
    sysctls: [
      { netns: ROOT_NETNS, key: 'net.ipv4.ip_forward', value: '1' },
      ...(state.network.ipFamilies.includes(6)
        ? [{ netns: ROOT_NETNS, key: 'net.ipv6.conf.all.forwarding', value: '1' }]
        : []),
    ],
  };
}

/** Merges fragments into one node's dataplane, refusing two owners of one name or address. */
export class NodePlanBuilder {
  readonly plan: NodeDataplane;
  private readonly owners = new Map<string, string>();

  constructor(node: string) {
    this.plan = emptyNodeDataplane(node);
  }

  private claim(key: string, what: string, plugin: string): boolean {
    const prev = this.owners.get(key);
    if (prev !== undefined) throw new PlanConflictError(this.plan.node, what, [prev, plugin]);
    this.owners.set(key, plugin);
    return true;
  }

  add(plugin: string, f: DataplaneFragment): void {
    const p = this.plan;
    for (const ns of f.namespaces ?? []) {
      const existing = p.namespaces.find((x) => x.name === ns.name);
      if (existing) {
        if (JSON.stringify(existing) !== JSON.stringify(ns)) {
          throw new PlanConflictError(p.node, `namespace ${ns.name}`, [
            this.owners.get(`ns|${ns.name}`)!,
            plugin,
          ]);
        }
        continue;
      }
      this.claim(`ns|${ns.name}`, `namespace ${ns.name}`, plugin);
      p.namespaces.push(ns);
    }
    for (const l of f.links ?? []) {
      this.claim(`link|${l.netns}|${l.name}`, `device ${l.name} in netns ${l.netns}`, plugin);
      if (l.kind === 'veth') {
        this.claim(
          `link|${l.peer.netns}|${l.peer.name}`,
          `device ${l.peer.name} in netns ${l.peer.netns}`,
          plugin,
        );
      }
      p.links.push(l);
    }
    for (const a of f.addresses ?? []) {
      const ip = a.cidr.split('/')[0];
      this.claim(`addr|${a.netns}|${ip}`, `address ${ip} in netns ${a.netns}`, plugin);
      p.addresses.push(a);
    }
    for (const r of f.routes ?? []) {
      const key = `route|${r.netns}|${r.table ?? 'main'}|${r.family}|${r.dst}|${r.metric ?? 0}`;
      this.claim(key, `route ${r.dst} in netns ${r.netns}`, plugin);
      p.routes.push(r);
    }
    for (const n of f.neighbors ?? []) {
      this.claim(
        `neigh|${n.netns}|${n.dev}|${n.ip}`,
        `neighbour ${n.ip} on ${n.dev} in netns ${n.netns}`,
        plugin,
      );
      p.neighbors.push(n);
    }
    for (const e of f.fdb ?? []) {
      this.claim(`fdb|${e.netns}|${e.dev}|${e.lladdr}|${e.dst ?? ''}`, `fdb ${e.lladdr} on ${e.dev}`, plugin);
      p.fdb.push(e);
    }
    for (const s of f.sysctls ?? []) {
      const existing = p.sysctls.find((x) => x.netns === s.netns && x.key === s.key);
      if (existing) {
        if (existing.value !== s.value) {
          throw new PlanConflictError(
            p.node,
            `sysctl ${s.key}=${s.value} (already ${existing.value}) in netns ${s.netns}`,
            [this.owners.get(`sysctl|${s.netns}|${s.key}`)!, plugin],
          );
        }
        continue;
      }
      this.claim(`sysctl|${s.netns}|${s.key}`, `sysctl ${s.key}`, plugin);
      p.sysctls.push(s);
    }
    for (const r of f.resolvConfs ?? []) {
      this.claim(`resolv|${r.netns}`, `resolv.conf of netns ${r.netns}`, plugin);
      (p.resolvConfs ??= []).push(r);
    }
    for (const a of f.apps ?? []) {
      this.claim(`app|${a.name}`, `app ${a.name}`, plugin);
      p.apps.push(a);
    }
    p.iptables.ipv4 = joinText(p.iptables.ipv4, f.iptables?.ipv4);
    p.iptables.ipv6 = joinText(p.iptables.ipv6, f.iptables?.ipv6);
    p.nftables = joinText(p.nftables, f.nftables);
    p.ipvs = joinText(p.ipvs, f.ipvs);
    p.ipset = joinText(p.ipset, f.ipset);
  }

  /** Check that every address, route device and bridge master names a device that exists. */
  verify(): void {
    const p = this.plan;
    const devs = new Set<string>();
    for (const l of p.links) {
      devs.add(`${l.netns}|${l.name}`);
      if (l.kind === 'veth') devs.add(`${l.peer.netns}|${l.peer.name}`);
    }
    const nss = new Set(p.namespaces.map((n) => n.name));
    const need = (netns: string, dev: string | undefined, what: string) => {
      if (!nss.has(netns))
        throw new PodnetError('PODNET_PLAN_CONFLICT', `node ${p.node}: ${what} is in unknown netns ${netns}`);
      if (dev !== undefined && !devs.has(`${netns}|${dev}`)) {
        throw new PodnetError(
          'PODNET_PLAN_CONFLICT',
          `node ${p.node}: ${what} names unknown device ${dev} in netns ${netns}`,
        );
      }
    };
    for (const l of p.links) {
      need(l.netns, undefined, `device ${l.name}`);
      if (l.master) need(l.netns, l.master, `device ${l.name}'s master`);
      if (l.kind === 'veth') need(l.peer.netns, undefined, `veth peer ${l.peer.name}`);
    }
    for (const a of p.addresses) need(a.netns, a.dev, `address ${a.cidr}`);
    for (const r of p.routes) need(r.netns, r.dev, `route ${r.dst}`);
    for (const n of p.neighbors) need(n.netns, n.dev, `neighbour ${n.ip}`);
    for (const e of p.fdb) need(e.netns, e.dev, `fdb ${e.lladdr}`);
    for (const a of p.apps) need(a.netns, undefined, `app ${a.name}`);
    for (const r of p.resolvConfs ?? []) need(r.netns, undefined, 'resolv.conf');
  }
}

function joinText(a: string, b: string | undefined): string {
  if (!b) return a;
  if (!a) return b;
  return `${a.endsWith('\n') ? a : `${a}\n`}${b}`;
}

export function podsOnNode(state: ClusterState, node: string): PodInfo[] {
  return sortBy(
    state.pods.filter((p) => p.node === node),
    (p) => `${p.namespace}/${p.name}`,
  );
}

/** The netns a pod lives in: its own, or the node's root namespace for hostNetwork pods. */
export function podNetns(pod: PodInfo): string {
  return pod.hostNetwork ? ROOT_NETNS : podNetnsName(pod);
}

export function workloadApp(pod: PodInfo): NodeDataplane['apps'][number] {
  const ports = pod.containers.flatMap((c) =>
    c.ports.map((p) => ({ port: p.containerPort, protocol: p.protocol })),
  );
  const command = pod.containers.find((c) => c.command)?.command;
  const config: WorkloadConfig = { pod: { namespace: pod.namespace, name: pod.name }, ports };
  if (command) config.command = [...command, ...(pod.containers.find((c) => c.command)?.args ?? [])];
  return {
    name: `workload:${pod.namespace}/${pod.name}`,
    netns: podNetns(pod),
    app: 'workload',
    config,
    pod: { namespace: pod.namespace, name: pod.name },
  };
}

export interface ComposeOptions {
  /** Add the built-in workload app for pods no plugin runs an app for. @default true */
  workloads?: boolean;
}

/** Render every node with every plugin and merge: the whole cluster's desired dataplane. */
export function composeDataplane(
  state: ClusterState,
  plugins: PluginSet,
  options: ComposeOptions = {},
): ClusterDataplane {
  checkCapabilities(state, plugins);
  const fabric = buildFabric(state);
  const podMtu = state.network.underlay.mtu - plugins.overlay.encapOverhead;
  const list = allPlugins(plugins);
  const nodes: NodeDataplane[] = [];
  for (const node of sortBy(state.nodes, (n) => n.name)) {
    if (
      !node.internalIPs[0] ||
      !state.network.underlay.subnets.some((s) => cidrContains(s, node.internalIPs[0]))
    ) {
      throw new PodnetError(
        'PODNET_PLAN_CONFLICT',
        `node ${node.name}: no underlay address inside the underlay subnets`,
      );
    }
    const ctx: RenderContext = {
      state,
      node,
      pods: podsOnNode(state, node.name),
      podMtu,
      uplink: UPLINK,
      fabric,
    };
    const b = new NodePlanBuilder(node.name);
    b.add(BASE, baseNodeFragment(state, node));
    for (const p of list) b.add(`${p.kind}/${p.name}`, p.render(ctx));
    if (options.workloads !== false) {
      const served = new Set(
        b.plan.apps.filter((a) => a.pod).map((a) => `${a.pod!.namespace}/${a.pod!.name}`),
      );
      for (const pod of ctx.pods) {
        if (!served.has(`${pod.namespace}/${pod.name}`)) b.add('workload', { apps: [workloadApp(pod)] });
      }
    }
    b.verify();
    nodes.push(b.plan);
  }
  return { nodes, fabric };
}

/** Every link of a node keyed `netns|name`, including veth peers (as their own veth view). */
export function linkIndex(plan: NodeDataplane): Map<string, Link> {
  const m = new Map<string, Link>();
  for (const l of plan.links) m.set(`${l.netns}|${l.name}`, l);
  return m;
}

/**
 * The declarative dataplane: what the kernel of each node should hold. Plugins render fragments of
 * it; the engine merges them; a backend (emulated or linux) realizes the result. Plain data,
 * diffable, JSON-serialisable.
 *
 * Namespace names are logical: `root` is a node's own namespace, `podNetnsName(pod)` a pod's. The
 * linux backend maps them onto prefixed kernel names.
 */

/** A node's own (initial) network namespace. */
export const ROOT_NETNS = 'root';

export function podNetnsName(pod: { namespace: string; name: string }): string {
  return `${pod.namespace}/${pod.name}`;
}

export interface Netns {
  name: string;
  kind: 'node' | 'pod';
  pod?: { namespace: string; name: string };
}

interface LinkBase {
  name: string;
  netns: string;
  /** Bytes. @default 1500 */
  mtu?: number;
  /** Lowercase colon form; derived deterministically when absent. */
  mac?: string;
  /** @default true */
  up?: boolean;
  /** The bridge this link is a port of (same netns). */
  master?: string;
  /** As a bridge port: reflect frames back out the port they came in on. @default false */
  hairpin?: boolean;
}

export interface LoopbackLink extends LinkBase {
  kind: 'loopback';
}

/** A node's uplink, attached to an underlay segment of the fabric. */
export interface PhysicalLink extends LinkBase {
  kind: 'physical';
  /** Underlay segment name (the subnet CIDR) the link is plugged into. */
  segment: string;
}

export interface VethLink extends LinkBase {
  kind: 'veth';
  peer: { name: string; netns: string; mtu?: number; mac?: string; up?: boolean };
}

export interface BridgeLink extends LinkBase {
  kind: 'bridge';
  /** MAC ageing time, seconds. @default 300 */
  ageingTime?: number;
  /** Promiscuous mode (`ip link set DEV promisc on`). @default false */
  promisc?: boolean;
}

export interface VxlanLink extends LinkBase {
  kind: 'vxlan';
  vni: number;
  /** Local VTEP address (the node's underlay IP). */
  local: string;
  /** UDP destination port. */
  dstport: number;
  /** @default false (flannel creates its device with nolearning) */
  learning?: boolean;
  /** The underlay device. */
  dev?: string;
}

export interface TunLink extends LinkBase {
  kind: 'tun';
  /** The app that holds the TUN open. */
  owner?: string;
}

export interface DummyLink extends LinkBase {
  kind: 'dummy';
}

export type Link = LoopbackLink | PhysicalLink | VethLink | BridgeLink | VxlanLink | TunLink | DummyLink;
export type LinkKind = Link['kind'];

export interface Address {
  netns: string;
  dev: string;
  /** Address with prefix length, e.g. `10.244.1.1/24`. */
  cidr: string;
  scope?: 'global' | 'link' | 'host';
  /** Do not add the prefix route. @default false */
  noprefixroute?: boolean;
}

export interface Route {
  netns: string;
  /** `default` or a CIDR. */
  dst: string;
  /** IP family; required for `default`. */
  family: 4 | 6;
  via?: string;
  dev?: string;
  onlink?: boolean;
  scope?: 'global' | 'link' | 'host';
  metric?: number;
  src?: string;
  /** @default 'main' */
  table?: 'main' | 'local' | number;
  /** @default 'unicast' */
  type?: 'unicast' | 'local' | 'blackhole' | 'unreachable' | 'prohibit';
}

export interface Neighbor {
  netns: string;
  dev: string;
  ip: string;
  lladdr: string;
  /** @default 'permanent' */
  state?: 'permanent' | 'noarp' | 'reachable';
}

export interface FdbEntry {
  netns: string;
  dev: string;
  lladdr: string;
  /** Remote VTEP for a VXLAN device. */
  dst?: string;
  /** @default true */
  permanent?: boolean;
}

export interface Sysctl {
  netns: string;
  /** Dotted key, e.g. `net.ipv4.ip_forward`, `net.ipv4.conf.cni0.proxy_arp`. */
  key: string;
  value: string;
}

/**
 * A process (or emulated handler set) running inside a namespace: the pod workload, a DNS server,
 * the ingress proxy, the UDP overlay daemon, the userspace proxy.
 */
export interface AppInstance {
  /** Unique within the node, e.g. `workload:default/web-0`. */
  name: string;
  netns: string;
  /** The AppModule id that runs it (`workload`, `dns`, `ingress`, `flannel-udp`, ...). */
  app: string;
  /** JSON-serialisable configuration for the app module. */
  config: unknown;
  pod?: { namespace: string; name: string };
}

export interface NodeDataplane {
  node: string;
  namespaces: Netns[];
  links: Link[];
  addresses: Address[];
  routes: Route[];
  neighbors: Neighbor[];
  fdb: FdbEntry[];
  sysctls: Sysctl[];
  /**
   * `iptables-restore` input per family for the node's root namespace, applied with `--noflush`
   * ('' = untouched). Fragments of several plugins are concatenated in plugin order.
   */
  iptables: { ipv4: string; ipv6: string };
  /** `nft -f` input for the node's root namespace ('' = untouched). */
  nftables: string;
  /** `ipvsadm -R` input ('' = none). */
  ipvs: string;
  /** `ipset restore` input ('' = none). */
  ipset: string;
  apps: AppInstance[];
  /**
   * `/etc/resolv.conf` per namespace (the kubelet's, for pods). The linux backend installs it as
   * `/etc/netns/NAME/resolv.conf`, which `ip netns exec` binds over the namespace's view.
   */
  resolvConfs?: { netns: string; content: string }[];
}

export interface UnderlaySegment {
  /** The segment's name: its subnet CIDR. */
  name: string;
  cidr: string;
  mtu: number;
}

export interface UnderlayRouterInterface {
  segment: string;
  /** Address with prefix, e.g. `192.168.50.254/24`. */
  cidr: string;
  mac: string;
}

/** The fabric joining the nodes: L2 segments, a router between them, hosts outside the cluster. */
export interface Underlay {
  segments: UnderlaySegment[];
  routers: { name: string; interfaces: UnderlayRouterInterface[] }[];
  /** Hosts outside the cluster (`external`), each on one segment with a default gateway. */
  hosts: { name: string; segment: string; cidr: string; mac: string; gateway: string }[];
}

export interface ClusterDataplane {
  nodes: NodeDataplane[];
  fabric: Underlay;
}

export function emptyNodeDataplane(node: string): NodeDataplane {
  return {
    node,
    namespaces: [],
    links: [],
    addresses: [],
    routes: [],
    neighbors: [],
    fdb: [],
    sysctls: [],
    iptables: { ipv4: '', ipv6: '' },
    nftables: '',
    ipvs: '',
    ipset: '',
    apps: [],
  };
}

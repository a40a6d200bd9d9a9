/**
 * The plugin contracts. Every plugin carries `specificationVersion` so a core release that changes
 * a contract can refuse (or adapt) plugins written against an older one.
 */
import type { ClusterDataplane, NodeDataplane, Underlay } from './dataplane.js';
import type { ClusterState, NodeInfo, PodInfo } from './model.js';

export const SPECIFICATION_VERSION = 'v1' as const;
export type SpecificationVersion = typeof SPECIFICATION_VERSION;

export type PluginKind = 'pod-network' | 'ipam' | 'overlay' | 'service-proxy' | 'dns' | 'ingress' | 'policy';

export interface PluginBase<Kind extends PluginKind> {
  readonly specificationVersion: SpecificationVersion;
  readonly kind: Kind;
  /** `vxlan`, `iptables`, `bridge`, ... */
  readonly name: string;
}

/** What a plugin adds to one node's dataplane. Every list is optional. */
export type DataplaneFragment = Partial<Omit<NodeDataplane, 'node' | 'iptables'>> & {
  iptables?: { ipv4?: string; ipv6?: string };
};

export interface RenderContext {
  readonly state: ClusterState;
  /** The node being rendered. */
  readonly node: NodeInfo;
  /** Pods scheduled on this node, sorted by namespace/name. */
  readonly pods: readonly PodInfo[];
  /** MTU for pod interfaces: underlay MTU minus the overlay's encapsulation overhead. */
  readonly podMtu: number;
  /** The node's uplink device name in its root namespace (`eth0`). */
  readonly uplink: string;
  readonly fabric: Underlay;
}

export interface RenderingPlugin<Kind extends PluginKind> extends PluginBase<Kind> {
  render(ctx: RenderContext): DataplaneFragment;
}

/** Pod networking: namespaces, veths, the node bridge, the pod's address and routes. */
export interface PodNetworkPlugin extends RenderingPlugin<'pod-network'> {
  /** The host-side device pods attach to, for overlays that route into it (`cni0`). */
  readonly bridgeName?: string;
}

export interface OverlayCapabilities {
  ipv6: boolean;
  /** Can reach nodes on another underlay subnet (across a router). */
  crossSubnet: boolean;
}

/** An overlay backend (flannel's `Backend`): joins the nodes' pod subnets. */
export interface OverlayBackend extends RenderingPlugin<'overlay'> {
  /** Bytes each packet grows by: vxlan 50, udp 28, host-gw 0. */
  readonly encapOverhead: number;
  readonly capabilities: OverlayCapabilities;
}

export type ProxyMode = 'iptables' | 'ipvs' | 'nftables' | 'userspace';

/** A change a service proxy applies without a full resync (kube-proxy's partial restore). */
export interface ProxyUpdate {
  iptables?: { ipv4: string; ipv6: string };
  nftables?: string;
  ipvs?: string;
  ipset?: string;
}

/**
 * What a proxy mode does with traffic to the service range that no Service serves; kube-proxy's
 * modes differ here, and describeServiceProxy checks the declared behaviour.
 */
export interface ServiceProxyCapabilities {
  /**
   * A ClusterIP on a port (or protocol) none of its Service's ports serves: `reject` answers ICMP
   * port unreachable (nftables mode); `pass` has no rule for it, so the packet is routed on like any
   * other (iptables mode).
   */
  unservedClusterIPPort: 'reject' | 'pass';
  /** An address in the service CIDRs that no Service holds: `drop` (nftables mode) or `pass`. */
  unallocatedClusterIP: 'drop' | 'pass';
}

export interface ServiceProxy extends RenderingPlugin<'service-proxy'> {
  readonly mode: ProxyMode;
  /** Absent: `pass` for both (no rules beyond the Services' own). */
  readonly capabilities?: ServiceProxyCapabilities;
  /**
   * The minimal update from the previous state to the current one, as a long-running kube-proxy
   * would write it. Absent: the mode only supports full renders.
   */
  renderUpdate?(ctx: RenderContext, previous: RenderContext): ProxyUpdate;
}

export interface DnsPlugin extends RenderingPlugin<'dns'> {}
export interface IngressPlugin extends RenderingPlugin<'ingress'> {}
export interface PolicyPlugin extends RenderingPlugin<'policy'> {}

export interface IpamRequest {
  containerId: string;
  ifname: string;
  /** Specific addresses asked for (CNI `ips`). */
  ips?: string[];
}

export interface IpamAllocation {
  /** Address with prefix, e.g. `10.244.1.5/24`. */
  address: string;
  gateway?: string;
  family: 4 | 6;
}

/** An address allocator with CNI ADD/DEL/GC semantics. */
export interface IpamPlugin extends PluginBase<'ipam'> {
  allocate(request: IpamRequest): Promise<IpamAllocation[]>;
  /** Idempotent: releasing an unknown attachment is not an error. */
  release(containerId: string, ifname: string): Promise<void>;
  /** Release every reservation whose attachment is not in `live`. Returns what was released. */
  gc(live: readonly { containerId: string; ifname: string }[]): Promise<string[]>;
}

export type AnyRenderingPlugin =
  | PodNetworkPlugin
  | OverlayBackend
  | ServiceProxy
  | DnsPlugin
  | IngressPlugin
  | PolicyPlugin;

/** The plugins one cluster is composed of. */
export interface PluginSet {
  podNetwork: PodNetworkPlugin;
  overlay: OverlayBackend;
  serviceProxy?: ServiceProxy;
  dns?: DnsPlugin;
  ingress?: IngressPlugin;
  policy?: PolicyPlugin;
  /** More rendering plugins, rendered after the ones above in this order. */
  extra?: AnyRenderingPlugin[];
}

export type { ClusterDataplane };

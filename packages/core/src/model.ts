/**
 * The slim model plugins receive. `@podnet/cluster` trims Kubernetes objects to these types at
 * the edge; plugins never see raw manifests. All addresses are canonical text (see ip.ts); all
 * lists are sorted in a stable order so rendering is deterministic.
 */
import type { IpFamily } from './ip.js';

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values: string[];
}

export interface LabelSelector {
  matchLabels: Record<string, string>;
  matchExpressions: LabelSelectorRequirement[];
}

/** `ClusterNetwork.spec.proxy`: `mode` plus options under KubeProxyConfiguration names. */
export interface ProxyConfig {
  mode: string;
  [option: string]: unknown;
}

/** `ClusterNetwork.spec.overlay`: `backend` plus that backend's options. */
export interface OverlayConfig {
  backend: string;
  [option: string]: unknown;
}

export interface DnsConfig {
  /** ClusterIP of `kube-system/kube-dns`. @default 10th address of the first service CIDR */
  serviceIP: string;
  /** TTL of answers, seconds. @default 30 */
  ttl: number;
  /** Pod A records: `insecure` (any a-b-c-d name), `verified` (only existing pod IPs), `disabled`. @default insecure */
  pods: 'insecure' | 'verified' | 'disabled';
  /** Upstream resolvers for names outside the cluster zone (real server). @default [] */
  upstreams: string[];
  /** Static answers for names outside the cluster zone (emulator and tests): name → addresses. */
  staticHosts: Record<string, string[]>;
  [option: string]: unknown;
}

export interface UnderlayConfig {
  /** Underlay L2 segments; nodes on different subnets are joined by a router. */
  subnets: string[];
  /** Underlay MTU, bytes. @default 1500 */
  mtu: number;
  /** Where the `external` client lives, behind the router. @default 203.0.113.0/24 */
  externalSubnet: string;
}

export interface ClusterNetworkConfig {
  name: string;
  clusterCIDRs: string[];
  serviceCIDRs: string[];
  /** Per-node pod subnet size for IPv4. @default 24 */
  nodeCIDRMaskSize: number;
  /** Per-node pod subnet size for IPv6. @default 64 */
  nodeCIDRMaskSizeIPv6: number;
  clusterDomain: string;
  underlay: UnderlayConfig;
  overlay: OverlayConfig;
  proxy: ProxyConfig;
  dns: DnsConfig;
  serviceNodePortRange: { min: number; max: number };
  addons: { dns: boolean; ingressController: 'auto' | boolean };
  /** Families in the cluster, from clusterCIDRs, in order (the first is primary). */
  ipFamilies: IpFamily[];
}

export interface NodeInfo {
  name: string;
  labels: Record<string, string>;
  /** The node's underlay addresses (InternalIP), one per family at most. */
  internalIPs: string[];
  /** The underlay subnet the node's first InternalIP is on (its L2 segment). */
  underlaySubnet: string;
  /** Pod CIDRs assigned to the node, one per cluster family, primary first. */
  podCIDRs: string[];
  ready: boolean;
  unschedulable: boolean;
}

export interface NamespaceInfo {
  name: string;
  labels: Record<string, string>;
}

export interface ContainerPortInfo {
  name?: string;
  containerPort: number;
  protocol: Protocol;
  hostPort?: number;
}

export interface ContainerInfo {
  name: string;
  image?: string;
  ports: ContainerPortInfo[];
  /** For the linux backend: run for real inside the pod's namespace. */
  command?: string[];
  args?: string[];
}

export interface PodDnsConfig {
  nameservers: string[];
  searches: string[];
  options: { name: string; value?: string }[];
}

export interface PodInfo {
  namespace: string;
  name: string;
  uid: string;
  node: string;
  /** Pod IPs, primary family first; for hostNetwork pods the node's IPs. */
  ips: string[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  hostname?: string;
  subdomain?: string;
  hostNetwork: boolean;
  containers: ContainerInfo[];
  dnsPolicy: 'ClusterFirst' | 'ClusterFirstWithHostNet' | 'Default' | 'None';
  dnsConfig?: PodDnsConfig;
  phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
  ready: boolean;
  terminating: boolean;
  /** The controller that made the pod, when it came from a workload object. */
  owner?: { kind: 'Deployment' | 'ReplicaSet' | 'StatefulSet' | 'DaemonSet'; name: string };
}

export interface ServicePortInfo {
  name: string;
  protocol: Protocol;
  port: number;
  targetPort: number | string;
  nodePort?: number;
  appProtocol?: string;
}

export type ServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';

export interface ServiceInfo {
  namespace: string;
  name: string;
  type: ServiceType;
  /** Empty for headless and ExternalName services. */
  clusterIPs: string[];
  headless: boolean;
  ipFamilies: IpFamily[];
  ports: ServicePortInfo[];
  /** Undefined: a Service without selector (endpoints are managed by hand). */
  selector?: Record<string, string>;
  externalIPs: string[];
  loadBalancerIPs: string[];
  loadBalancerSourceRanges: string[];
  externalTrafficPolicy: 'Cluster' | 'Local';
  internalTrafficPolicy: 'Cluster' | 'Local';
  sessionAffinity: 'None' | 'ClientIP';
  /** @default 10800 */
  sessionAffinityTimeoutSeconds: number;
  externalName?: string;
  publishNotReadyAddresses: boolean;
  healthCheckNodePort?: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface EndpointInfo {
  addresses: string[];
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  hostname?: string;
  nodeName?: string;
  zone?: string;
  targetRef?: { kind: string; namespace: string; name: string };
}

export interface EndpointPortInfo {
  name: string;
  port: number;
  protocol: Protocol;
  appProtocol?: string;
}

export interface EndpointSliceInfo {
  namespace: string;
  name: string;
  serviceName: string;
  addressType: 'IPv4' | 'IPv6' | 'FQDN';
  ports: EndpointPortInfo[];
  endpoints: EndpointInfo[];
}

export interface IngressServiceBackend {
  name: string;
  port: { number?: number; name?: string };
}

export interface IngressBackendInfo {
  service?: IngressServiceBackend;
  resource?: { apiGroup?: string; kind: string; name: string };
}

export interface IngressPathInfo {
  path: string;
  pathType: 'Exact' | 'Prefix' | 'ImplementationSpecific';
  backend: IngressBackendInfo;
}

export interface IngressInfo {
  namespace: string;
  name: string;
  ingressClassName?: string;
  defaultBackend?: IngressBackendInfo;
  tls: { hosts: string[]; secretName?: string }[];
  rules: { host?: string; paths: IngressPathInfo[] }[];
  annotations: Record<string, string>;
}

export interface IngressClassInfo {
  name: string;
  controller: string;
  isDefault: boolean;
}

export interface NetworkPolicyPort {
  protocol: Protocol;
  port?: number | string;
  endPort?: number;
}

export interface NetworkPolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except: string[] };
}

export interface NetworkPolicyRule {
  peers: NetworkPolicyPeer[];
  ports: NetworkPolicyPort[];
}

export interface NetworkPolicyInfo {
  namespace: string;
  name: string;
  podSelector: LabelSelector;
  policyTypes: ('Ingress' | 'Egress')[];
  ingress: NetworkPolicyRule[];
  egress: NetworkPolicyRule[];
}

export interface SecretInfo {
  namespace: string;
  name: string;
  type: string;
  /** Decoded data (base64 of the manifest resolved). */
  data: Record<string, Uint8Array>;
}

export interface ManifestWarning {
  file: string;
  object?: string;
  field?: string;
  message: string;
}

/** Everything the plugins render from: the control plane's view of the cluster. Immutable. */
export interface ClusterState {
  readonly network: ClusterNetworkConfig;
  readonly nodes: readonly NodeInfo[];
  readonly namespaces: readonly NamespaceInfo[];
  readonly pods: readonly PodInfo[];
  readonly services: readonly ServiceInfo[];
  readonly endpointSlices: readonly EndpointSliceInfo[];
  readonly ingresses: readonly IngressInfo[];
  readonly ingressClasses: readonly IngressClassInfo[];
  readonly networkPolicies: readonly NetworkPolicyInfo[];
  readonly secrets: readonly SecretInfo[];
  readonly warnings: readonly ManifestWarning[];
}

/** `namespace/name`, the key used for pods, services and the like throughout podnet. */
export function objectKey(o: { namespace: string; name: string }): string {
  return `${o.namespace}/${o.name}`;
}

/** True when `labels` satisfy the selector (Kubernetes semantics; an empty selector matches all). */
export function selectorMatches(selector: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels)) if (labels[k] !== v) return false;
  for (const r of selector.matchExpressions) {
    const has = Object.hasOwn(labels, r.key);
    switch (r.operator) {
      case 'In':
        if (!has || !r.values.includes(labels[r.key])) return false;
        break;
      case 'NotIn':
        if (has && r.values.includes(labels[r.key])) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

/** A Service's equality-based selector as a LabelSelector. */
export function labelSelector(matchLabels: Record<string, string>): LabelSelector {
  return { matchLabels, matchExpressions: [] };
}

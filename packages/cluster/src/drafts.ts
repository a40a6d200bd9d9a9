/**
 * Objects as parsed and validated, before the control plane's derivations (scheduling, addresses,
 * endpoint slices). Each keeps its `source` so later problems still name file, object and field.
 */
import type {
  ContainerInfo,
  EndpointSliceInfo,
  IngressClassInfo,
  IngressInfo,
  IpFamily,
  LabelSelector,
  NetworkPolicyInfo,
  PodDnsConfig,
  PodInfo,
  SecretInfo,
  ServiceInfo,
} from '@podnet/core';
import type { Source } from './issues.js';

export interface NodeDraft {
  source: Source;
  name: string;
  labels: Record<string, string>;
  /** Given InternalIP addresses. */
  internalIPs: string[];
  /** Underlay subnet chosen by label/annotation `podnet.dev/underlay-subnet`. */
  subnet?: string;
  /** Given `spec.podCIDRs` (or `spec.podCIDR`). */
  podCIDRs: string[];
  ready: boolean;
  unschedulable: boolean;
}

export interface NamespaceDraft {
  source: Source;
  name: string;
  labels: Record<string, string>;
}

export interface PodSpecDraft {
  containers: ContainerInfo[];
  hostNetwork: boolean;
  dnsPolicy: PodInfo['dnsPolicy'];
  dnsConfig?: PodDnsConfig;
  nodeSelector: Record<string, string>;
  nodeName?: string;
  hostname?: string;
  subdomain?: string;
}

export interface PodDraft {
  source: Source;
  /** Path of the pod spec in the source object: `spec` or `spec.template.spec`. */
  specPath: string;
  namespace: string;
  name: string;
  uid: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  spec: PodSpecDraft;
  /** Given `status.podIPs`. */
  ips: string[];
  /** Where the given IPs were written: `status.podIPs` or `status.podIP`. */
  ipsPath: string;
  phase: PodInfo['phase'];
  ready: boolean;
  terminating: boolean;
  owner?: PodInfo['owner'];
}

export interface PodTemplateDraft {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  spec: PodSpecDraft;
  /** The template as written, for `pod-template-hash`. */
  raw: unknown;
}

export interface WorkloadDraft {
  source: Source;
  kind: 'Deployment' | 'ReplicaSet' | 'StatefulSet' | 'DaemonSet';
  namespace: string;
  name: string;
  replicas: number;
  selector: LabelSelector;
  template: PodTemplateDraft;
  /** StatefulSet `spec.serviceName`. */
  serviceName?: string;
  /** StatefulSet `spec.ordinals.start`. */
  ordinalStart: number;
}

export interface ServiceDraft {
  source: Source;
  /** `clusterIPs` holds the given addresses only; the rest are allocated. */
  info: ServiceInfo;
  ipFamilyPolicy: 'SingleStack' | 'PreferDualStack' | 'RequireDualStack';
  allocateLoadBalancerNodePorts: boolean;
}

export interface EndpointSliceDraft {
  source: Source;
  info: EndpointSliceInfo;
}

export interface Drafts {
  nodes: NodeDraft[];
  namespaces: NamespaceDraft[];
  pods: PodDraft[];
  workloads: WorkloadDraft[];
  services: ServiceDraft[];
  endpointSlices: EndpointSliceDraft[];
  ingresses: { source: Source; info: IngressInfo }[];
  ingressClasses: { source: Source; info: IngressClassInfo }[];
  networkPolicies: { source: Source; info: NetworkPolicyInfo }[];
  secrets: { source: Source; info: SecretInfo }[];
  /** `Kind/namespace/name` of objects that were refused, so references to them do not cascade. */
  refused: Set<string>;
}

export function emptyDrafts(): Drafts {
  return {
    nodes: [],
    namespaces: [],
    pods: [],
    workloads: [],
    services: [],
    endpointSlices: [],
    ingresses: [],
    ingressClasses: [],
    networkPolicies: [],
    secrets: [],
    refused: new Set(),
  };
}

export function familyName(f: IpFamily): 'IPv4' | 'IPv6' {
  return f === 4 ? 'IPv4' : 'IPv6';
}

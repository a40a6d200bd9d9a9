/**
 * Small ClusterStates built directly in the slim model, for plugin and backend tests that must not
 * depend on `@podnet/cluster`. Addresses follow the defaults: node i on 192.168.50.(10+i), pod
 * CIDR 10.244.i.0/24, pod j at 10.244.i.(2+j).
 */
import { defaultClusterNetwork } from '../defaults.js';
import { nthAddress, parseCidr, subnetAt } from '../ip.js';
import type {
  ClusterNetworkConfig,
  ClusterState,
  EndpointSliceInfo,
  NodeInfo,
  PodInfo,
  ServiceInfo,
  ServicePortInfo,
} from '../model.js';

export interface FixtureNode {
  name: string;
  /** Underlay subnet. @default the first underlay subnet */
  subnet?: string;
}

export interface FixturePod {
  namespace?: string;
  name: string;
  node: string;
  labels?: Record<string, string>;
  ports?: { port: number; protocol?: 'TCP' | 'UDP'; name?: string }[];
  hostNetwork?: boolean;
  ready?: boolean;
}

export interface FixtureService {
  namespace?: string;
  name: string;
  selector: Record<string, string>;
  ports: { port: number; targetPort?: number | string; protocol?: 'TCP' | 'UDP'; name?: string; nodePort?: number }[];
  type?: ServiceInfo['type'];
  clusterIP?: string;
  externalTrafficPolicy?: 'Cluster' | 'Local';
  sessionAffinity?: 'None' | 'ClientIP';
  /** LoadBalancer ingress IPs (`status.loadBalancer.ingress[].ip`). @default [] */
  loadBalancerIPs?: string[];
  /** @default [] */
  loadBalancerSourceRanges?: string[];
  /** Health check node port of a LoadBalancer with externalTrafficPolicy Local. */
  healthCheckNodePort?: number;
}

export interface FixtureSpec {
  network?: Partial<ClusterNetworkConfig>;
  nodes: FixtureNode[];
  pods?: FixturePod[];
  services?: FixtureService[];
}

export function fixtureCluster(spec: FixtureSpec): ClusterState {
  const network: ClusterNetworkConfig = { ...defaultClusterNetwork(), ...spec.network };
  const subnetCounters = new Map<string, number>();
  const nodes: NodeInfo[] = spec.nodes.map((n, i) => {
    const subnet = n.subnet ?? network.underlay.subnets[0];
    const k = subnetCounters.get(subnet) ?? 0;
    subnetCounters.set(subnet, k + 1);
    return {
      name: n.name,
      labels: { 'kubernetes.io/hostname': n.name },
      internalIPs: [nthAddress(subnet, 10 + k)],
      underlaySubnet: parseCidr(subnet).text,
      podCIDRs: network.clusterCIDRs.map((c) =>
        subnetAt(c, parseCidr(c).family === 4 ? network.nodeCIDRMaskSize : network.nodeCIDRMaskSizeIPv6, i).text,
      ),
      ready: true,
      unschedulable: false,
    };
  });
  const perNode = new Map<string, number>();
  const pods: PodInfo[] = (spec.pods ?? []).map((p) => {
    const node = nodes.find((n) => n.name === p.node);
    if (!node) throw new Error(`fixture: pod ${p.name} on unknown node ${p.node}`);
    const j = perNode.get(node.name) ?? 0;
    perNode.set(node.name, j + 1);
    return {
      namespace: p.namespace ?? 'default',
      name: p.name,
      uid: `uid-${p.namespace ?? 'default'}-${p.name}`,
      node: node.name,
      ips: p.hostNetwork ? [...node.internalIPs] : node.podCIDRs.map((c) => nthAddress(c, 2 + j)),
      labels: p.labels ?? {},
      annotations: {},
      hostNetwork: p.hostNetwork ?? false,
      containers: [
        {
          name: 'main',
          ports: (p.ports ?? []).map((x) => ({ name: x.name, containerPort: x.port, protocol: x.protocol ?? 'TCP' })),
        },
      ],
      dnsPolicy: 'ClusterFirst',
      phase: 'Running',
      ready: p.ready ?? true,
      terminating: false,
    };
  });
  const services: ServiceInfo[] = [];
  const endpointSlices: EndpointSliceInfo[] = [];
  (spec.services ?? []).forEach((s, i) => {
    const ns = s.namespace ?? 'default';
    const ports: ServicePortInfo[] = s.ports.map((p) => ({
      name: p.name ?? '',
      protocol: p.protocol ?? 'TCP',
      port: p.port,
      targetPort: p.targetPort ?? p.port,
      nodePort: p.nodePort,
    }));
    services.push({
      namespace: ns,
      name: s.name,
      type: s.type ?? 'ClusterIP',
      clusterIPs: [s.clusterIP ?? nthAddress(network.serviceCIDRs[0], 100 + i)],
      headless: false,
      ipFamilies: [4],
      ports,
      selector: s.selector,
      externalIPs: [],
      loadBalancerIPs: s.loadBalancerIPs ?? [],
      loadBalancerSourceRanges: s.loadBalancerSourceRanges ?? [],
      externalTrafficPolicy: s.externalTrafficPolicy ?? 'Cluster',
      internalTrafficPolicy: 'Cluster',
      sessionAffinity: s.sessionAffinity ?? 'None',
      sessionAffinityTimeoutSeconds: 10800,
      publishNotReadyAddresses: false,
      ...(s.healthCheckNodePort !== undefined ? { healthCheckNodePort: s.healthCheckNodePort } : {}),
      labels: {},
      annotations: {},
    });
    const selected = pods.filter(
      (p) => p.namespace === ns && Object.entries(s.selector).every(([k, v]) => p.labels[k] === v),
    );
    endpointSlices.push({
      namespace: ns,
      name: `${s.name}-fixture`,
      serviceName: s.name,
      addressType: 'IPv4',
      ports: ports.map((p) => ({
        name: p.name,
        protocol: p.protocol,
        port: typeof p.targetPort === 'number' ? p.targetPort : p.port,
      })),
      endpoints: selected.map((p) => ({
        addresses: [p.ips[0]],
        ready: p.ready,
        serving: p.ready,
        terminating: false,
        nodeName: p.node,
        targetRef: { kind: 'Pod', namespace: p.namespace, name: p.name },
      })),
    });
  });
  return {
    network,
    nodes,
    namespaces: [...new Set(['default', 'kube-system', ...pods.map((p) => p.namespace)])].map((name) => ({
      name,
      labels: { 'kubernetes.io/metadata.name': name },
    })),
    pods,
    services,
    endpointSlices,
    ingresses: [],
    ingressClasses: [],
    networkPolicies: [],
    secrets: [],
    warnings: [],
  };
}

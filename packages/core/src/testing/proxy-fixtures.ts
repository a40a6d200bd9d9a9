/**
 * kube-proxy's unit-test world (NewFakeProxier in pkg/proxy/iptables and pkg/proxy/nftables
 * proxier_test.go: node "test-node" at 192.168.0.2, pods in 10.0.0.0/8, ClusterIPs in
 * 172.30.0.0/16) built in podnet's slim model, with the service sets the proxy modes' tests share.
 */
import { defaultClusterNetwork } from '../defaults.js';
import type {
  ClusterNetworkConfig,
  ClusterState,
  EndpointInfo,
  EndpointSliceInfo,
  NodeInfo,
  ServiceInfo,
  ServicePortInfo,
} from '../model.js';
import type { RenderContext } from '../plugin.js';

export const FAKE_NODE = 'test-node';
export const FAKE_NODE_IP = '192.168.0.2';

/** A single-stack ClusterIP service without ports, with `patch` over it. */
export function fakeService(namespace: string, name: string, patch: Partial<ServiceInfo> = {}): ServiceInfo {
  return {
    namespace,
    name,
    type: 'ClusterIP',
    clusterIPs: [],
    headless: false,
    ipFamilies: [4],
    ports: [],
    selector: {},
    externalIPs: [],
    loadBalancerIPs: [],
    loadBalancerSourceRanges: [],
    externalTrafficPolicy: 'Cluster',
    internalTrafficPolicy: 'Cluster',
    sessionAffinity: 'None',
    sessionAffinityTimeoutSeconds: 10800,
    publishNotReadyAddresses: false,
    labels: {},
    annotations: {},
    ...patch,
  };
}

/** A TCP service port whose targetPort is the port. */
export function fakePort(name: string, p: number, patch: Partial<ServicePortInfo> = {}): ServicePortInfo {
  return { name, protocol: 'TCP', port: p, targetPort: p, ...patch };
}

/** A ready endpoint on no node (not local to FAKE_NODE). */
export function fakeEndpoint(ip: string, patch: Partial<EndpointInfo> = {}): EndpointInfo {
  return { addresses: [ip], ready: true, serving: true, terminating: false, ...patch };
}

/** The EndpointSlice of a service, named after it and its address type. */
export function fakeSlice(
  namespace: string,
  serviceName: string,
  endpoints: EndpointInfo[],
  ports: { name: string; port: number; protocol?: 'TCP' | 'UDP' | 'SCTP' }[],
  addressType: 'IPv4' | 'IPv6' = 'IPv4',
): EndpointSliceInfo {
  return {
    namespace,
    name: `${serviceName}-${addressType.toLowerCase()}`,
    serviceName,
    addressType,
    ports: ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol ?? 'TCP' })),
    endpoints,
  };
}

export interface FakeWorldSpec {
  services: ServiceInfo[];
  slices?: EndpointSliceInfo[];
  network?: Partial<ClusterNetworkConfig>;
  node?: Partial<NodeInfo>;
}

/** The RenderContext of FAKE_NODE in kube-proxy's fake-proxier world. */
export function fakeWorld(spec: FakeWorldSpec): RenderContext {
  const network: ClusterNetworkConfig = {
    ...defaultClusterNetwork(),
    clusterCIDRs: ['10.0.0.0/8'],
    serviceCIDRs: ['172.30.0.0/16'],
    underlay: { subnets: ['192.168.0.0/24'], mtu: 1500, externalSubnet: '203.0.113.0/24' },
    ...spec.network,
  };
  const node: NodeInfo = {
    name: FAKE_NODE,
    labels: {},
    internalIPs: [FAKE_NODE_IP],
    underlaySubnet: '192.168.0.0/24',
    podCIDRs: ['10.0.0.0/24'],
    ready: true,
    unschedulable: false,
    ...spec.node,
  };
  const state: ClusterState = {
    network,
    nodes: [node],
    namespaces: [],
    pods: [],
    services: spec.services,
    endpointSlices: spec.slices ?? [],
    ingresses: [],
    ingressClasses: [],
    networkPolicies: [],
    secrets: [],
    warnings: [],
  };
  return {
    state,
    node,
    pods: [],
    podMtu: 1450,
    uplink: 'eth0',
    fabric: { segments: [], routers: [], hosts: [] },
  };
}

/** The service set of kube-proxy's TestOverallIPTablesRules / TestOverallNFTablesRules. */
export function fakeOverallWorld(network: Partial<ClusterNetworkConfig> = {}): RenderContext {
  const p80 = (patch: Partial<ServicePortInfo> = {}) => fakePort('p80', 80, patch);
  const eps = (ns: string, name: string, list: EndpointInfo[]) =>
    fakeSlice(ns, name, list, [{ name: 'p80', port: 80 }]);
  return fakeWorld({
    network,
    services: [
      fakeService('ns1', 'svc1', { clusterIPs: ['172.30.0.41'], ports: [p80()] }),
      fakeService('ns2', 'svc2', {
        type: 'LoadBalancer',
        externalTrafficPolicy: 'Local',
        clusterIPs: ['172.30.0.42'],
        ports: [p80({ nodePort: 3001 })],
        loadBalancerIPs: ['1.2.3.4'],
        externalIPs: ['192.168.99.22'],
        healthCheckNodePort: 30000,
      }),
      fakeService('ns3', 'svc3', {
        type: 'NodePort',
        clusterIPs: ['172.30.0.43'],
        ports: [p80({ nodePort: 3003 })],
      }),
      fakeService('ns4', 'svc4', {
        type: 'NodePort',
        clusterIPs: ['172.30.0.44'],
        externalIPs: ['192.168.99.33'],
        ports: [p80()],
      }),
      fakeService('ns5', 'svc5', {
        type: 'LoadBalancer',
        clusterIPs: ['172.30.0.45'],
        ports: [p80({ nodePort: 3002 })],
        loadBalancerIPs: ['5.6.7.8'],
        healthCheckNodePort: 30000,
        loadBalancerSourceRanges: [' 203.0.113.0/25'],
        sessionAffinity: 'ClientIP',
        sessionAffinityTimeoutSeconds: 10800,
      }),
      fakeService('ns6', 'svc6', { clusterIPs: ['172.30.0.46'], ports: [p80()] }),
    ],
    slices: [
      eps('ns1', 'svc1', [fakeEndpoint('10.180.0.1')]),
      eps('ns2', 'svc2', [fakeEndpoint('10.180.0.2')]),
      eps('ns3', 'svc3', [fakeEndpoint('10.180.0.3')]),
      eps('ns4', 'svc4', [fakeEndpoint('10.180.0.4'), fakeEndpoint('10.180.0.5', { nodeName: FAKE_NODE })]),
      eps('ns5', 'svc5', [fakeEndpoint('10.180.0.3')]),
    ],
  });
}

/** Service ns1/svc1 at 172.30.0.41, port p80 (80/TCP), with `patch` over it, and its endpoints. */
export function fakeOneServiceWorld(
  patch: Partial<ServiceInfo>,
  endpoints: EndpointInfo[] = [fakeEndpoint('10.180.0.1')],
  network: Partial<ClusterNetworkConfig> = {},
): RenderContext {
  return fakeWorld({
    network,
    services: [
      fakeService('ns1', 'svc1', { clusterIPs: ['172.30.0.41'], ports: [fakePort('p80', 80)], ...patch }),
    ],
    slices: [fakeSlice('ns1', 'svc1', endpoints, [{ name: 'p80', port: 80 }])],
  });
}

const DUAL_STACK: Partial<ClusterNetworkConfig> = {
  clusterCIDRs: ['10.0.0.0/8', 'fd00:10::/64'],
  ipFamilies: [4, 6],
  serviceCIDRs: ['172.30.0.0/16', 'fd00:30::/112'],
};
const DUAL_STACK_NODE: Partial<NodeInfo> = { internalIPs: [FAKE_NODE_IP, '2001:db8::2'] };

/**
 * A dual-stack world: ns1/svc1 at 172.30.0.41 and fd00:30::41 (p80), endpoint 10.180.0.1 on another
 * node and fd00:10::5 on FAKE_NODE.
 */
export function fakeDualStackWorld(): RenderContext {
  const p80 = [{ name: 'p80', port: 80 }];
  return fakeWorld({
    network: DUAL_STACK,
    node: DUAL_STACK_NODE,
    services: [
      fakeService('ns1', 'svc1', {
        clusterIPs: ['172.30.0.41', 'fd00:30::41'],
        ipFamilies: [4, 6],
        ports: [fakePort('p80', 80)],
      }),
    ],
    slices: [
      fakeSlice('ns1', 'svc1', [fakeEndpoint('10.180.0.1')], p80),
      fakeSlice('ns1', 'svc1', [fakeEndpoint('fd00:10::5', { nodeName: FAKE_NODE })], p80, 'IPv6'),
    ],
  });
}

/**
 * A dual-stack LoadBalancer ns1/web (port http 80 → 8080, NodePort 30080, source ranges, ClientIP
 * affinity, externalTrafficPolicy Local) with the given endpoints: IPv4 ones on FAKE_NODE, IPv6
 * ones elsewhere.
 */
export function fakeDualStackLoadBalancerWorld(endpoints: string[]): RenderContext {
  const http = [{ name: 'http', port: 8080 }];
  return fakeWorld({
    network: DUAL_STACK,
    node: DUAL_STACK_NODE,
    services: [
      fakeService('ns1', 'web', {
        type: 'LoadBalancer',
        clusterIPs: ['172.30.0.41', 'fd00:30::41'],
        ipFamilies: [4, 6],
        ports: [fakePort('http', 80, { nodePort: 30080 })],
        loadBalancerIPs: ['5.6.7.8', '2001:db8:99::8'],
        loadBalancerSourceRanges: ['203.0.113.0/25', '2001:db8:77::/48'],
        sessionAffinity: 'ClientIP',
        externalTrafficPolicy: 'Local',
        healthCheckNodePort: 32000,
      }),
    ],
    slices: [
      fakeSlice(
        'ns1',
        'web',
        endpoints.filter((e) => !e.includes(':')).map((ip) => fakeEndpoint(ip, { nodeName: FAKE_NODE })),
        http,
      ),
      fakeSlice(
        'ns1',
        'web',
        endpoints.filter((e) => e.includes(':')).map((ip) => fakeEndpoint(ip)),
        http,
        'IPv6',
      ),
    ],
  });
}

/** One service of a generated world (property tests draw these). */
export interface GeneratedService {
  type: 'ClusterIP' | 'NodePort' | 'LoadBalancer';
  etpLocal: boolean;
  itpLocal: boolean;
  affinity: boolean;
  /** A loadBalancerSourceRanges entry (203.0.113.0/25). */
  ranges: boolean;
  /** Endpoints by last octet: 10.2.I.E. */
  eps: number[];
  /** The endpoint octet that is on FAKE_NODE (none when not among eps). */
  local: number;
}

/** Service ns/sI at 172.30.2.I (port p 80, NodePort 3000I) per non-null entry I, with its endpoints. */
export function fakeGeneratedWorld(specs: readonly (GeneratedService | null)[]): RenderContext {
  const services: ServiceInfo[] = [];
  const slices: EndpointSliceInfo[] = [];
  for (const [i, s] of specs.entries()) {
    if (!s) continue;
    services.push(
      fakeService('ns', `s${i}`, {
        type: s.type,
        clusterIPs: [`172.30.2.${i}`],
        ports: [fakePort('p', 80, s.type === 'ClusterIP' ? {} : { nodePort: 30000 + i })],
        externalTrafficPolicy: s.etpLocal ? 'Local' : 'Cluster',
        internalTrafficPolicy: s.itpLocal ? 'Local' : 'Cluster',
        sessionAffinity: s.affinity ? 'ClientIP' : 'None',
        loadBalancerIPs: s.type === 'LoadBalancer' ? [`5.6.7.${i}`] : [],
        loadBalancerSourceRanges: s.ranges ? ['203.0.113.0/25'] : [],
        healthCheckNodePort: s.type === 'LoadBalancer' && s.etpLocal ? 32000 + i : undefined,
      }),
    );
    const eps = s.eps.map((e) =>
      fakeEndpoint(`10.2.${i}.${e}`, e === s.local ? { nodeName: FAKE_NODE } : {}),
    );
    slices.push(fakeSlice('ns', `s${i}`, eps, [{ name: 'p', port: 80 }]));
  }
  return fakeWorld({ services, slices });
}

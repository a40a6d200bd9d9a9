/**
 * A hand-built cluster for the DNS tests, shaped after CoreDNS's kubernetes plugin test data
 * (testns: svc1, svcempty, svc6, hdls1, hdlsprtls, external, external-to-service) plus podnet
 * cases: a StatefulSet-style headless service, not-ready endpoints, publishNotReadyAddresses,
 * dual-stack, the kube-dns Service and a headless service with many endpoints.
 */
import {
  type ClusterState,
  defaultClusterNetwork,
  type EndpointInfo,
  type EndpointSliceInfo,
  type PodInfo,
  type ServiceInfo,
  type ServicePortInfo,
} from '@podnet/core';

export function service(
  namespace: string,
  name: string,
  spec: Partial<Omit<ServiceInfo, 'ports'>> & { ports?: Partial<ServicePortInfo>[] },
): ServiceInfo {
  return {
    namespace,
    name,
    type: 'ClusterIP',
    clusterIPs: [],
    headless: false,
    ipFamilies: [4],
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
    ...spec,
    ports: (spec.ports ?? []).map((p) => ({
      name: p.name ?? '',
      protocol: p.protocol ?? 'TCP',
      port: p.port ?? 80,
      targetPort: p.targetPort ?? p.port ?? 80,
    })),
  };
}

export function endpoint(addresses: string[], extra: Partial<EndpointInfo> = {}): EndpointInfo {
  return { addresses, ready: true, serving: true, terminating: false, ...extra };
}

export function slice(
  namespace: string,
  serviceName: string,
  endpoints: EndpointInfo[],
  ports: { name: string; port: number; protocol?: 'TCP' | 'UDP' }[] = [{ name: 'http', port: 80 }],
  addressType: EndpointSliceInfo['addressType'] = 'IPv4',
  suffix = 'abc',
): EndpointSliceInfo {
  return {
    namespace,
    name: `${serviceName}-${suffix}`,
    serviceName,
    addressType,
    ports: ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol ?? 'TCP' })),
    endpoints,
  };
}

export function pod(namespace: string, name: string, ips: string[], extra: Partial<PodInfo> = {}): PodInfo {
  return {
    namespace,
    name,
    uid: `uid-${namespace}-${name}`,
    node: 'node-1',
    ips,
    labels: {},
    annotations: {},
    hostNetwork: false,
    containers: [{ name: 'main', ports: [] }],
    dnsPolicy: 'ClusterFirst',
    phase: 'Running',
    ready: true,
    terminating: false,
    ...extra,
  };
}

export function testCluster(): ClusterState {
  const network = { ...defaultClusterNetwork(), dns: { ...defaultClusterNetwork().dns, ttl: 5 } };
  const services: ServiceInfo[] = [
    service('testns', 'svc1', { clusterIPs: ['10.0.0.1'], ports: [{ name: 'http', port: 80 }] }),
    service('testns', 'svcempty', { clusterIPs: ['10.0.0.2'], ports: [{ name: 'http', port: 80 }] }),
    service('testns', 'svc6', {
      clusterIPs: ['1234:abcd::1'],
      ipFamilies: [6],
      ports: [{ name: 'http', port: 80 }],
    }),
    service('testns', 'dual', {
      clusterIPs: ['10.0.0.3', 'fd00:96::3'],
      ipFamilies: [4, 6],
      ports: [
        { name: 'http', port: 80 },
        { name: 'https', port: 443 },
      ],
    }),
    service('testns', 'unnamed', { clusterIPs: ['10.0.0.4'], ports: [{ name: '', port: 8080 }] }),
    service('testns', 'hdls1', { headless: true, ports: [{ name: 'http', port: 80 }] }),
    service('testns', 'hdlsprtls', { headless: true }),
    service('testns', 'hdlsempty', { headless: true, ports: [{ name: 'http', port: 80 }] }),
    service('testns', 'external', { type: 'ExternalName', externalName: 'ext.interwebs.test' }),
    service('testns', 'external-to-service', {
      type: 'ExternalName',
      externalName: 'svc1.testns.svc.cluster.local.',
    }),
    service('testns', 'external-static', { type: 'ExternalName', externalName: 'static.example.com' }),
    service('testns', 'external-loop', {
      type: 'ExternalName',
      externalName: 'external-loop.testns.svc.cluster.local',
    }),
    service('db', 'pg', { headless: true, ports: [{ name: 'pg', port: 5432 }] }),
    service('db', 'pg-unready', {
      headless: true,
      publishNotReadyAddresses: true,
      ports: [{ name: 'pg', port: 5432 }],
    }),
    service('kube-system', 'kube-dns', {
      clusterIPs: ['10.96.0.10'],
      ports: [
        { name: 'dns', port: 53, protocol: 'UDP' },
        { name: 'dns-tcp', port: 53, protocol: 'TCP' },
      ],
    }),
    service('big', 'many', { headless: true, ports: [{ name: 'http', port: 8080 }] }),
  ];
  const endpointSlices: EndpointSliceInfo[] = [
    slice('testns', 'svc1', [endpoint(['172.0.0.1'], { hostname: 'ep1a' })]),
    slice('testns', 'svcempty', []),
    slice('testns', 'hdls1', [
      endpoint(['172.0.0.2']),
      endpoint(['172.0.0.3']),
      endpoint(['172.0.0.4'], { hostname: 'dup-name' }),
      endpoint(['172.0.0.5'], { hostname: 'dup-name' }),
    ]),
    slice(
      'testns',
      'hdls1',
      [endpoint(['5678:abcd::1']), endpoint(['5678:abcd::2'])],
      [{ name: 'http', port: 80 }],
      'IPv6',
      'v6',
    ),
    slice('testns', 'hdlsprtls', [endpoint(['172.0.0.20'])], []),
    slice('testns', 'hdlsempty', [endpoint(['172.0.0.30'], { ready: false, serving: false })]),
    slice(
      'db',
      'pg',
      [
        endpoint(['10.244.1.10'], { hostname: 'pg-0' }),
        endpoint(['10.244.2.10'], { hostname: 'pg-1' }),
        endpoint(['10.244.1.11'], { hostname: 'pg-2', ready: false, serving: false }),
      ],
      [{ name: 'pg', port: 5432 }],
    ),
    slice(
      'db',
      'pg-unready',
      [endpoint(['10.244.1.12'], { hostname: 'pgu-0', ready: false, serving: false })],
      [{ name: 'pg', port: 5432 }],
    ),
    slice(
      'kube-system',
      'kube-dns',
      [endpoint(['10.244.0.2'], { targetRef: { kind: 'Pod', namespace: 'kube-system', name: 'coredns-0' } })],
      [
        { name: 'dns', port: 53, protocol: 'UDP' },
        { name: 'dns-tcp', port: 53, protocol: 'TCP' },
      ],
    ),
    slice(
      'big',
      'many',
      Array.from({ length: 100 }, (_, i) => endpoint([`10.244.${10 + (i >> 8)}.${i & 255}`])),
      [{ name: 'http', port: 8080 }],
    ),
  ];
  const pods: PodInfo[] = [
    pod('podns', 'foo', ['10.240.0.1']),
    pod('kube-system', 'coredns-0', ['10.244.0.2'], { labels: { 'k8s-app': 'kube-dns' } }),
    pod('default', 'client', ['10.244.1.50']),
  ];
  const namespaces = ['default', 'kube-system', 'testns', 'podns', 'db', 'big', 'emptyns'].map((name) => ({
    name,
    labels: {},
  }));
  return {
    network: {
      ...network,
      dns: { ...network.dns, staticHosts: { 'static.example.com': ['192.0.2.53', '2001:db8::53'] } },
    },
    nodes: [],
    namespaces,
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

/** Whitespace-normalised dig lines, sorted, for comparing record sets. */
export function lines(xs: readonly string[]): string[] {
  return xs.map((x) => x.trim().split(/\s+/).join(' ')).sort();
}

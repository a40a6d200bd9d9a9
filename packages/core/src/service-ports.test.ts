import { describe, expect, it } from 'vitest';
import type { EndpointInfo, EndpointSliceInfo, ServiceInfo } from './model.js';
import { categorizeEndpoints, changedServices, routeServicePort, servicePortTable } from './service-ports.js';
import { fixtureCluster } from './testing/cluster-fixture.js';

const state = fixtureCluster({
  nodes: [{ name: 'node-1' }, { name: 'node-2' }],
  pods: [
    { name: 'a', node: 'node-1', labels: { app: 'web' }, ports: [{ port: 8080 }] },
    { name: 'b', node: 'node-2', labels: { app: 'web' }, ports: [{ port: 8080 }] },
  ],
  services: [
    {
      name: 'web',
      type: 'NodePort',
      externalTrafficPolicy: 'Local',
      selector: { app: 'web' },
      ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30080 }],
    },
  ],
});
const [node1] = state.nodes;

function withEndpoints(endpoints: EndpointInfo[]): readonly EndpointSliceInfo[] {
  return state.endpointSlices.map((s) => ({ ...s, endpoints }));
}

const ep = (ip: string, node: string, flags: Partial<EndpointInfo> = {}): EndpointInfo => ({
  addresses: [ip],
  ready: true,
  serving: true,
  terminating: false,
  nodeName: node,
  ...flags,
});

describe('servicePortTable', () => {
  it('joins each service port with its endpoints for one family, sorted by ip:port, local ones marked', () => {
    const [entry] = servicePortTable(state.services, state.endpointSlices, node1, 4);
    expect(entry.sp).toMatchObject({
      nameString: 'default/web:http',
      proto: 'tcp',
      clusterIP: '10.96.0.100',
      port: 80,
      nodePort: 30080,
      externalPolicyLocal: true,
      internalPolicyLocal: false,
    });
    expect(entry.endpoints.map((e) => [e.key, e.isLocal])).toEqual([
      ['10.244.0.2:8080', true],
      ['10.244.1.2:8080', false],
    ]);
    expect(servicePortTable(state.services, state.endpointSlices, node1, 6)).toEqual([]);
  });

  it('skips headless and ExternalName services; keeps one endpoint per ip:port, a non-terminating one', () => {
    const headless: ServiceInfo = { ...state.services[0], name: 'h', headless: true, clusterIPs: [] };
    const slices = withEndpoints([
      ep('10.244.0.2', 'node-1'),
      ep('10.244.0.2', 'node-1', { ready: false, terminating: true }),
    ]);
    const table = servicePortTable([headless, ...state.services], slices, node1, 4);
    expect(table.map((e) => e.sp.name)).toEqual(['web']);
    expect(table[0].endpoints).toHaveLength(1);
    expect(table[0].endpoints[0]).toMatchObject({ ready: true, terminating: false });
  });
});

describe('categorizeEndpoints', () => {
  it('externalTrafficPolicy Local: cluster endpoints for internal traffic, local ones for external', () => {
    const [entry] = servicePortTable(state.services, state.endpointSlices, node1, 4);
    const c = categorizeEndpoints(entry.sp, entry.endpoints);
    expect(c.cluster.map((e) => e.ip)).toEqual(['10.244.0.2', '10.244.1.2']);
    expect(c.local.map((e) => e.ip)).toEqual(['10.244.0.2']);
    expect(c.hasAny).toBe(true);
  });

  it('falls back to serving terminating endpoints when none is ready', () => {
    const slices = withEndpoints([
      ep('10.244.0.2', 'node-1', { ready: false, serving: true, terminating: true }),
      ep('10.244.1.2', 'node-2', { ready: false, serving: false, terminating: true }),
    ]);
    const [entry] = servicePortTable(state.services, slices, node1, 4);
    const c = categorizeEndpoints(entry.sp, entry.endpoints);
    expect(c.cluster.map((e) => e.ip)).toEqual(['10.244.0.2']);
    expect(c.local.map((e) => e.ip)).toEqual(['10.244.0.2']);
    expect(c.allReachable.map((e) => e.ip)).toEqual(['10.244.0.2']);
  });
});

describe('routeServicePort', () => {
  const route = (patch: Partial<ServiceInfo>, endpoints: EndpointInfo[]) => {
    const svc = { ...state.services[0], ...patch };
    const [entry] = servicePortTable([svc], withEndpoints(endpoints), node1, 4);
    return routeServicePort(entry.sp, entry.endpoints);
  };
  const flags = (r: ReturnType<typeof routeServicePort>) => [
    r.hasInternal,
    r.hasExternal,
    r.usesClusterChain,
    r.usesLocalChain,
    r.usesExternalChain,
  ];
  const both = [ep('10.244.0.2', 'node-1'), ep('10.244.1.2', 'node-2')];
  const remote = [ep('10.244.1.2', 'node-2')];

  it('externalTrafficPolicy Local: cluster, local and external chains while this node has an endpoint', () => {
    const r = route({}, both);
    expect(r.cluster.map((e) => e.ip)).toEqual(['10.244.0.2', '10.244.1.2']);
    expect(flags(r)).toEqual([true, true, true, true, true]);
    expect(flags(route({}, remote))).toEqual([true, false, true, false, true]);
  });

  it('internalTrafficPolicy Local on a ClusterIP service: only the local chain, none without a local endpoint', () => {
    const clusterIP: Partial<ServiceInfo> = {
      type: 'ClusterIP',
      internalTrafficPolicy: 'Local',
      externalTrafficPolicy: 'Cluster',
      ports: [{ ...state.services[0].ports[0], nodePort: undefined }],
    };
    expect(flags(route(clusterIP, both))).toEqual([true, true, false, true, false]);
    expect(flags(route(clusterIP, remote))).toEqual([false, true, false, false, false]);
  });

  it('no usable endpoint: nothing has an endpoint and no chain is written', () => {
    expect(flags(route({}, []))).toEqual([false, false, false, false, false]);
  });
});

describe('changedServices', () => {
  it('names the services whose ports or endpoints changed, and those that are gone', () => {
    const before = servicePortTable(state.services, state.endpointSlices, node1, 4);
    const moved = servicePortTable(state.services, withEndpoints([ep('10.244.1.2', 'node-2')]), node1, 4);
    expect(changedServices(before, before)).toEqual(new Set());
    expect(changedServices(before, moved)).toEqual(new Set(['default/web']));
    expect(changedServices(before, [])).toEqual(new Set(['default/web']));
  });
});

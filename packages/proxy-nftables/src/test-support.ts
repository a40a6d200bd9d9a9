/**
 * Test support (not exported): kube-proxy's unit-test world (pkg/proxy/nftables/proxier_test.go
 * NewFakeProxier: node "test-node" at 192.168.0.2, pods in 10.0.0.0/8, ClusterIPs in 172.30.0.0/16)
 * built in podnet's slim model; a strict in-memory model of the kube-proxy table that applies a
 * transaction the way the kernel would (knftables.Fake's role); the upstream order normalisation.
 */
import {
  type ClusterNetworkConfig,
  type ClusterState,
  defaultClusterNetwork,
  type EndpointInfo,
  type EndpointSliceInfo,
  type NodeInfo,
  type RenderContext,
  type ServiceInfo,
  type ServicePortInfo,
} from '@podnet/core';

export const TEST_NODE = 'test-node';
export const TEST_NODE_IP = '192.168.0.2';

export function service(namespace: string, name: string, patch: Partial<ServiceInfo> = {}): ServiceInfo {
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

export function port(name: string, p: number, patch: Partial<ServicePortInfo> = {}): ServicePortInfo {
  return { name, protocol: 'TCP', port: p, targetPort: p, ...patch };
}

export function endpoint(ip: string, patch: Partial<EndpointInfo> = {}): EndpointInfo {
  return { addresses: [ip], ready: true, serving: true, terminating: false, ...patch };
}

export function slice(
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

export interface WorldSpec {
  services: ServiceInfo[];
  slices?: EndpointSliceInfo[];
  network?: Partial<ClusterNetworkConfig>;
  node?: Partial<NodeInfo>;
}

/** A RenderContext for kube-proxy's fake-proxier world. */
export function world(spec: WorldSpec): RenderContext {
  const network: ClusterNetworkConfig = {
    ...defaultClusterNetwork(),
    clusterCIDRs: ['10.0.0.0/8'],
    serviceCIDRs: ['172.30.0.0/16'],
    underlay: { subnets: ['192.168.0.0/24'], mtu: 1500, externalSubnet: '203.0.113.0/24' },
    ...spec.network,
  };
  const node: NodeInfo = {
    name: TEST_NODE,
    labels: {},
    internalIPs: [TEST_NODE_IP],
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
export function overallWorld(network: Partial<ClusterNetworkConfig> = {}): RenderContext {
  const p80 = (patch: Partial<ServicePortInfo> = {}) => port('p80', 80, patch);
  const eps = (ns: string, name: string, list: EndpointInfo[]) =>
    slice(ns, name, list, [{ name: 'p80', port: 80 }]);
  return world({
    network,
    services: [
      service('ns1', 'svc1', { clusterIPs: ['172.30.0.41'], ports: [p80()] }),
      service('ns2', 'svc2', {
        type: 'LoadBalancer',
        externalTrafficPolicy: 'Local',
        clusterIPs: ['172.30.0.42'],
        ports: [p80({ nodePort: 3001 })],
        loadBalancerIPs: ['1.2.3.4'],
        externalIPs: ['192.168.99.22'],
        healthCheckNodePort: 30000,
      }),
      service('ns3', 'svc3', {
        type: 'NodePort',
        clusterIPs: ['172.30.0.43'],
        ports: [p80({ nodePort: 3003 })],
      }),
      service('ns4', 'svc4', {
        type: 'NodePort',
        clusterIPs: ['172.30.0.44'],
        externalIPs: ['192.168.99.33'],
        ports: [p80()],
      }),
      service('ns5', 'svc5', {
        type: 'LoadBalancer',
        clusterIPs: ['172.30.0.45'],
        ports: [p80({ nodePort: 3002 })],
        loadBalancerIPs: ['5.6.7.8'],
        healthCheckNodePort: 30000,
        loadBalancerSourceRanges: [' 203.0.113.0/25'],
        sessionAffinity: 'ClientIP',
        sessionAffinityTimeoutSeconds: 10800,
      }),
      service('ns6', 'svc6', { clusterIPs: ['172.30.0.46'], ports: [p80()] }),
    ],
    slices: [
      eps('ns1', 'svc1', [endpoint('10.180.0.1')]),
      eps('ns2', 'svc2', [endpoint('10.180.0.2')]),
      eps('ns3', 'svc3', [endpoint('10.180.0.3')]),
      eps('ns4', 'svc4', [endpoint('10.180.0.4'), endpoint('10.180.0.5', { nodeName: TEST_NODE })]),
      eps('ns5', 'svc5', [endpoint('10.180.0.3')]),
    ],
  });
}

/** objectOrder of kube-proxy's helpers_test.go (higher sorts first). */
const OBJECT_ORDER: Record<string, number> = { table: 10, chain: 9, rule: 8, set: 7, map: 6, element: 5 };

/** kube-proxy's sortNFTablesTransaction (helpers_test.go). */
export function sortNftablesTransaction(tx: string): string {
  const lines = tx.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  const words = new Map(lines.map((l) => [l, l.split(' ')]));
  return lines
    .map((line, index) => ({ line, index }))
    .sort((a, b) => {
      const wi = words.get(a.line) as string[];
      const wj = words.get(b.line) as string[];
      if (wi.length < 5 || wj.length < 5) return a.index - b.index;
      if (wi[1] !== wj[1]) return (OBJECT_ORDER[wj[1]] ?? 0) - (OBJECT_ORDER[wi[1]] ?? 0);
      if (wi[4] !== wj[4]) return wi[4] < wj[4] ? -1 : 1;
      if (wi[1] === 'rule') return a.index - b.index;
      return a.line < b.line ? -1 : a.line > b.line ? 1 : a.index - b.index;
    })
    .map((x) => x.line)
    .join('\n');
}

interface FakeChain {
  spec: string;
  rules: string[];
}
interface FakeContainer {
  type: 'set' | 'map';
  spec: string;
  elements: Map<string, { value: string; comment?: string }>;
}
interface FakeTable {
  comment: string;
  chains: Map<string, FakeChain>;
  containers: Map<string, FakeContainer>;
}

const LINE = /^(add|flush|delete) (table|chain|rule|set|map|element) (ip6?) kube-proxy(.*)$/;

/**
 * The kube-proxy tables after applying transactions, refusing what nft would refuse: objects used
 * before they exist, flushing or deleting what is not there, deleting what is still referenced.
 * `add element` of an existing key keeps the old value, as the kernel does.
 */
export class NftFake {
  readonly tables = new Map<string, FakeTable>();
  /** Operations in the last applied transaction (knftables' LastTransaction.NumOperations()). */
  lastOperations = 0;

  apply(text: string): void {
    const lines = text.split('\n').filter((l) => l !== '');
    for (const line of lines) this.op(line);
    this.lastOperations = lines.length;
  }

  private op(line: string): void {
    const m = LINE.exec(line);
    if (!m) throw new Error(`cannot parse: ${line}`);
    const [, verb, type, family, rest] = m;
    if (type === 'table') {
      if (verb !== 'add') throw new Error(`unsupported: ${line}`);
      if (!this.tables.has(family))
        this.tables.set(family, { comment: rest, chains: new Map(), containers: new Map() });
      return;
    }
    const t = this.tables.get(family);
    if (!t) throw new Error(`no table ${family} kube-proxy: ${line}`);
    const name = rest.trim().split(' ')[0];
    const spec = rest.trim().slice(name.length);
    const fail = (why: string) => {
      throw new Error(`${why}: ${line}`);
    };
    if (type === 'chain') {
      const c = t.chains.get(name);
      if (verb === 'add') {
        if (!c) t.chains.set(name, { spec, rules: [] });
      } else if (!c) fail('no such chain');
      else if (verb === 'flush') c.rules = [];
      else {
        if (this.referencesChain(t, name)) fail('chain is still referenced');
        t.chains.delete(name);
      }
      return;
    }
    if (type === 'rule') {
      const c = t.chains.get(name) ?? fail('rule for missing chain');
      const body = spec.trim();
      for (const [, target] of body.matchAll(/(?:jump|goto) (\S+)/g))
        if (!t.chains.has(target)) fail(`jump to missing chain ${target}`);
      for (const [, set] of body.matchAll(/@(\S+)/g)) if (!t.containers.has(set)) fail(`missing set ${set}`);
      c.rules.push(body);
      return;
    }
    if (type === 'set' || type === 'map') {
      const c = t.containers.get(name);
      if (verb === 'add') {
        if (!c) t.containers.set(name, { type, spec, elements: new Map() });
      } else if (!c || c.type !== type) fail(`no such ${type}`);
      else if (verb === 'flush') c.elements.clear();
      else {
        const used = [...t.chains.values()].some((ch) =>
          ch.rules.some((r) => r.includes(`@${name} `) || r.endsWith(`@${name}`)),
        );
        if (used) fail(`${type} is still referenced`);
        t.containers.delete(name);
      }
      return;
    }
    const c = t.containers.get(name) ?? fail('element of missing set/map');
    const em = /^ \{ (.*?)(?: comment ("[^"]*"))?(?: : (.*))? \}$/.exec(spec) ?? fail('bad element');
    const [, key, comment, value = ''] = em;
    if (verb === 'add') {
      for (const [, target] of value.matchAll(/goto (\S+)/g))
        if (!t.chains.has(target)) fail(`goto missing chain ${target}`);
      if (!c.elements.has(key))
        c.elements.set(key, { value, comment: comment === undefined ? undefined : JSON.parse(comment) });
    } else if (!c.elements.delete(key)) fail('no such element');
  }

  private referencesChain(t: FakeTable, chain: string): boolean {
    const escaped = chain.replace(/[.*+?^$()|[\]\\/{}]/g, (c) => `\\${c}`);
    const word = new RegExp(`(?:jump|goto) ${escaped}(?: |$)`);
    for (const c of t.chains.values()) if (c.rules.some((r) => word.test(r))) return true;
    for (const s of t.containers.values())
      for (const e of s.elements.values()) if (word.test(e.value)) return true;
    return false;
  }

  /** Every object as an `add` line, like knftables.Fake.Dump(). */
  dump(): string {
    const out: string[] = [];
    for (const [family, t] of this.tables) {
      const p = (type: string) => `add ${type} ${family} kube-proxy`;
      out.push(`${p('table')}${t.comment}`);
      for (const [name, c] of t.chains) out.push(`${p('chain')} ${name}${c.spec}`);
      for (const [name, c] of t.chains) for (const r of c.rules) out.push(`${p('rule')} ${name} ${r}`);
      for (const [name, s] of t.containers) out.push(`${p(s.type)} ${name}${s.spec}`);
      for (const [name, s] of t.containers) {
        for (const [key, e] of s.elements) {
          const comment = e.comment === undefined ? '' : ` comment ${JSON.stringify(e.comment)}`;
          out.push(`${p('element')} ${name} { ${key}${comment}${e.value ? ` : ${e.value}` : ''} }`);
        }
      }
    }
    return out.join('\n');
  }

  chainRules(chain: string, family = 'ip'): string[] {
    return this.tables.get(family)?.chains.get(chain)?.rules ?? [];
  }

  element(container: string, key: string, family = 'ip'): string | undefined {
    return this.tables.get(family)?.containers.get(container)?.elements.get(key)?.value;
  }

  has(type: 'chain' | 'set' | 'map', name: string, family = 'ip'): boolean {
    const t = this.tables.get(family);
    return type === 'chain' ? t?.chains.has(name) === true : t?.containers.get(name)?.type === type;
  }
}

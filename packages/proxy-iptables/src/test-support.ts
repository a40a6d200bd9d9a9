/**
 * Test support (not exported): kube-proxy's unit-test world (pkg/proxy/iptables/proxier_test.go
 * NewFakeProxier: node "test-node" at 192.168.0.2, pods in 10.0.0.0/8, ClusterIPs in 172.30.0.0/16)
 * built in podnet's slim model, and ports of the upstream test helpers that normalise rule order.
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

interface DumpChain {
  name: string;
  rules: string[];
  deleted: boolean;
}
interface DumpTable {
  name: string;
  chains: DumpChain[];
}

/** kube-proxy's iptablestest.ParseIPTablesDump (strict about undeclared chains). */
export function parseIptablesDump(text: string): DumpTable[] {
  const tables: DumpTable[] = [];
  let table: DumpTable | undefined;
  let declaring = false;
  for (const raw of text.trim().split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (!table) {
      if (!line.startsWith('*')) throw new Error(`expected a table, got ${line}`);
      table = { name: line.slice(1), chains: [] };
      tables.push(table);
      declaring = true;
      continue;
    }
    const decl = /^:(\S+) - \[\d+:\d+\]$/.exec(line);
    if (declaring && decl) {
      table.chains.push({ name: decl[1], rules: [], deleted: false });
      continue;
    }
    declaring = false;
    const chainOf = (name: string) => {
      const c = table?.chains.find((x) => x.name === name);
      if (!c) throw new Error(`rule for undeclared chain ${name}: ${line}`);
      return c;
    };
    const add = /^-A (\S+) /.exec(line);
    const del = /^-X (\S+)$/.exec(line);
    if (add) chainOf(add[1]).rules.push(line);
    else if (del) chainOf(del[1]).deleted = true;
    else if (line === 'COMMIT') table = undefined;
    else throw new Error(`cannot parse ${line}`);
  }
  if (table) throw new Error('no COMMIT line');
  return tables;
}

function dumpString(tables: DumpTable[]): string {
  const out: string[] = [];
  for (const t of tables) {
    out.push(`*${t.name}`);
    for (const c of t.chains) out.push(`:${c.name} - [0:0]`);
    for (const c of t.chains) out.push(...c.rules);
    for (const c of t.chains) if (c.deleted) out.push(`-X ${c.name}`);
    out.push('COMMIT');
  }
  return `${out.join('\n')}\n`;
}

function commentOf(rule: string): string | undefined {
  const m = /--comment ("[^"]*"|\S+)/.exec(rule);
  return m ? m[1].replace(/"/g, '') : undefined;
}

function serviceNameOfComment(comment: string): string {
  const i = comment.search(/[ :]/);
  return i === -1 ? comment : comment.slice(0, i);
}

function byServiceName(a: string, b: string): number {
  const ca = commentOf(a);
  const cb = commentOf(b);
  if (ca === undefined || cb === undefined) return 0;
  const x = serviceNameOfComment(ca);
  const y = serviceNameOfComment(cb);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** kube-proxy's sortIPTablesRules (proxier_test.go): the order normalisation its goldens assume. */
export function sortIptablesRules(text: string): string {
  const tables = parseIptablesDump(text);
  tables.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const rank = (n: string) =>
    n === 'KUBE-NODEPORTS' ? 0 : n === 'KUBE-SERVICES' ? 1 : n.startsWith('KUBE-') ? 2 : 3;
  for (const t of tables) {
    t.chains.sort((a, b) => rank(a.name) - rank(b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const c of t.chains) {
      if (c.name === 'KUBE-NODEPORTS' || (c.name === 'KUBE-SERVICES' && t.name === 'filter'))
        c.rules.sort(byServiceName);
      if (c.name === 'KUBE-SERVICES' && t.name === 'nat') {
        const last = (r: string) => commentOf(r)?.includes('must be the last rule') === true;
        c.rules.sort((a, b) => (last(a) ? (last(b) ? 0 : 1) : last(b) ? -1 : byServiceName(a, b)));
      }
    }
  }
  return dumpString(tables);
}

/** The restore data kube-proxy itself feeds to iptables-restore (without podnet's EnsureRule block). */
export function restoreData(text: string, marker: string): string {
  const i = text.indexOf(marker);
  return i === -1 ? text : text.slice(0, i);
}

/** Rules of one chain of one table, in order. */
export function chainRules(text: string, table: string, chain: string): string[] {
  const t = parseIptablesDump(restoreData(text, '# podnet:')).find((x) => x.name === table);
  return t?.chains.find((c) => c.name === chain)?.rules ?? [];
}

const BUILTIN_CHAINS = new Set(['INPUT', 'OUTPUT', 'FORWARD', 'PREROUTING', 'POSTROUTING']);
const TARGETS = new Set(['ACCEPT', 'DROP', 'REJECT', 'RETURN', 'MARK', 'DNAT', 'SNAT', 'MASQUERADE']);

/**
 * The kernel's tables after `iptables-restore --noflush` of each text in turn, refusing what
 * iptables-restore refuses (rules for or jumps to missing chains, deleting a referenced chain).
 * Returns table → chain → rules, with kube-proxy's chains sorted for comparison.
 */
export function applyRestore(texts: string[]): Map<string, Map<string, string[]>> {
  const tables = new Map<string, Map<string, string[]>>();
  for (const text of texts) {
    let chains: Map<string, string[]> | undefined;
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      if (line.startsWith('*')) {
        const name = line.slice(1);
        if (!tables.has(name)) tables.set(name, new Map([...BUILTIN_CHAINS].map((c) => [c, []])));
        chains = tables.get(name);
        continue;
      }
      if (!chains) throw new Error(`line outside a table: ${line}`);
      if (line === 'COMMIT') {
        chains = undefined;
        continue;
      }
      const decl = /^:(\S+) - \[0:0\]$/.exec(line);
      if (decl) {
        chains.set(decl[1], []);
        continue;
      }
      const m = /^-([AIX]) (\S+)(.*)$/.exec(line);
      if (!m) throw new Error(`cannot parse ${line}`);
      const [, op, chain, rest] = m;
      const rules = chains.get(chain);
      if (!rules) throw new Error(`no chain ${chain}: ${line}`);
      if (op === 'X') {
        for (const [name, list] of chains) {
          if (list.some((r) => ` ${r} `.includes(` -j ${chain} `))) {
            throw new Error(`chain ${chain} is referenced from ${name}`);
          }
        }
        chains.delete(chain);
        continue;
      }
      const target = /-j (\S+)/.exec(rest)?.[1];
      if (target && !TARGETS.has(target) && !chains.has(target))
        throw new Error(`jump to missing chain ${target}: ${line}`);
      if (op === 'A') rules.push(rest.trim());
      else rules.unshift(rest.trim());
    }
    if (chains) throw new Error('no COMMIT');
  }
  return tables;
}

/** A readable, order-normalised rendering of applyRestore's result. */
export function tablesText(tables: Map<string, Map<string, string[]>>): string {
  const out: string[] = [];
  for (const t of [...tables.keys()].sort()) {
    out.push(`*${t}`);
    const chains = tables.get(t) as Map<string, string[]>;
    for (const c of [...chains.keys()].sort()) {
      out.push(`:${c}`);
      for (const r of chains.get(c) as string[]) out.push(`  ${r}`);
    }
  }
  return out.join('\n');
}

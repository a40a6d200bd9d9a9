/**
 * One family's syncProxyRules, as kube-proxy's nftables proxier writes it: an `nft -f` transaction
 * on table `ip kube-proxy` / `ip6 kube-proxy`. A full sync first sets the table up (base chains,
 * sets, maps, the fixed rules); a partial sync writes only the changed services' chains and the
 * set/map elements that differ from what the previous sync left.
 */
import {
  cidrContains,
  type Endpoint,
  type IpFamily,
  resolveNodePortAddresses,
  routeServicePort,
  type ServicePort,
  type ServicePortEntry,
} from '@podnet/core';
import type { ResolvedOptions } from './nftables-options.js';
import { endpointChainNameBase, type ServiceChains, serviceChainNames } from './nftables-names.js';

export const TABLE = 'kube-proxy';

const SERVICES = 'services';
const SERVICE_IPS = 'service-ips';
const SERVICE_NODEPORTS = 'service-nodeports';
const NODEPORT_IPS = 'nodeport-ips';
const CLUSTER_IPS = 'cluster-ips';
const SERVICE_ENDPOINTS_CHECK = 'service-endpoints-check';
const NODEPORT_ENDPOINTS_CHECK = 'nodeport-endpoints-check';
const NO_ENDPOINT_SERVICES = 'no-endpoint-services';
const NO_ENDPOINT_NODEPORTS = 'no-endpoint-nodeports';
const REJECT_CHAIN = 'reject-chain';
const CLUSTER_IPS_CHECK = 'cluster-ips-check';
const FIREWALL_IPS = 'firewall-ips';
const FIREWALL_CHECK = 'firewall-check';
const MARK_MASQ = 'mark-for-masquerade';
const MASQUERADING = 'masquerading';

/** Base chains: name, type, hook, priority (numeric: nft 1.0.6 refuses `dstnat-10`). */
const BASE_CHAINS: readonly [string, string, string, number][] = [
  ['filter-prerouting-pre-dnat', 'filter', 'prerouting', -110],
  ['filter-output-pre-dnat', 'filter', 'output', -110],
  ['filter-input', 'filter', 'input', 0],
  ['filter-forward', 'filter', 'forward', 0],
  ['filter-output', 'filter', 'output', 0],
  ['nat-prerouting', 'nat', 'prerouting', -100],
  ['nat-output', 'nat', 'output', -100],
  ['nat-postrouting', 'nat', 'postrouting', 100],
];

/** Regular chains jumped to from base chains: target, source, match. */
const JUMPS: readonly [string, string, string][] = [
  [NODEPORT_ENDPOINTS_CHECK, 'filter-input', 'ct state new'],
  [SERVICE_ENDPOINTS_CHECK, 'filter-input', 'ct state new'],
  [SERVICE_ENDPOINTS_CHECK, 'filter-forward', 'ct state new'],
  [SERVICE_ENDPOINTS_CHECK, 'filter-output', 'ct state new'],
  [FIREWALL_CHECK, 'filter-prerouting-pre-dnat', 'ct state new'],
  [FIREWALL_CHECK, 'filter-output-pre-dnat', 'ct state new'],
  [SERVICES, 'nat-output', ''],
  [SERVICES, 'nat-prerouting', ''],
  [MASQUERADING, 'nat-postrouting', ''],
  [CLUSTER_IPS_CHECK, 'filter-forward', 'ct state new'],
  [CLUSTER_IPS_CHECK, 'filter-output', 'ct state new'],
];

/** The set and maps whose elements kube-proxy tracks between syncs (nftElementStorage), in its order. */
export const CONTAINERS = [
  CLUSTER_IPS,
  SERVICE_IPS,
  FIREWALL_IPS,
  NO_ENDPOINT_SERVICES,
  NO_ENDPOINT_NODEPORTS,
  SERVICE_NODEPORTS,
] as const;
type Container = (typeof CONTAINERS)[number];

/** What one sync leaves in the kernel that the next sync diffs against. */
export interface FamilyNftState {
  chains: Set<string>;
  affinitySets: Set<string>;
  /** Per container: element key → value ('' for set elements). */
  elements: Record<Container, Map<string, string>>;
}

export interface NftSyncInput {
  family: IpFamily;
  entries: readonly ServicePortEntry[];
  options: ResolvedOptions;
  /** The node's own addresses of this family (InternalIPs). */
  nodeIPs: readonly string[];
  /** Service CIDRs of this family (the unallocated-ClusterIP drop rule). */
  serviceCIDRs: readonly string[];
  /** What the previous sync left; its chains and affinity sets that are gone get flushed / deleted. */
  previous?: FamilyNftState;
  /** Partial sync: only these services (`namespace/name`) get their chains rewritten. Needs `previous`. */
  changed?: ReadonlySet<string>;
  /** Only compute the resulting state (no lines). */
  stateOnly?: boolean;
}

export interface NftSyncOutput {
  lines: string[];
  state: FamilyNftState;
  /** Service chains this sync flushed because they are gone; kube-proxy deletes them a sync later. */
  staleChains: string[];
}

const quote = (s: string) => JSON.stringify(s);

/** Transaction lines in knftables' format. */
class Tx {
  readonly lines: string[] = [];
  constructor(
    private readonly family: 'ip' | 'ip6',
    private readonly record = true,
  ) {}

  private op(verb: string, type: string, rest: string): void {
    if (this.record) this.lines.push(`${verb} ${type} ${this.family} ${TABLE}${rest}`);
  }
  table(comment: string): void {
    this.op('add', 'table', ` { comment ${quote(comment)} ; }`);
  }
  chain(verb: 'add' | 'flush' | 'delete', name: string, spec = ''): void {
    this.op(verb, 'chain', ` ${name}${spec}`);
  }
  rule(chain: string, rule: string, comment?: string): void {
    this.op('add', 'rule', ` ${chain} ${rule}${comment === undefined ? '' : ` comment ${quote(comment)}`}`);
  }
  container(verb: 'add' | 'flush' | 'delete', type: 'set' | 'map', name: string, spec = ''): void {
    this.op(verb, type, ` ${name}${spec}`);
  }
  element(verb: 'add' | 'delete', name: string, key: string, value: string, comment?: string): void {
    const c = verb === 'add' && comment !== undefined ? ` comment ${quote(comment)}` : '';
    this.op(verb, 'element', ` ${name} { ${key}${c}${value ? ` : ${value}` : ''} }`);
  }
}

function emptyElements(): Record<Container, Map<string, string>> {
  return Object.fromEntries(CONTAINERS.map((c) => [c, new Map<string, string>()])) as Record<
    Container,
    Map<string, string>
  >;
}

function setup(tx: Tx, input: NftSyncInput, ipX: string, addr: string): void {
  const mark = input.options.masqueradeMark;
  const noLocalhost = input.family === 4 ? 'ip daddr != 127.0.0.0/8' : 'ip6 daddr != ::1';
  const npa = resolveNodePortAddresses(input.options.nodePortAddresses, input.family, input.nodeIPs);
  tx.table('rules for kube-proxy');
  // A starting kube-proxy adds and deletes its base chains once, so that changed properties
  // (a new priority) do not fail the transaction, then recreates and flushes them.
  for (const [name] of BASE_CHAINS) {
    tx.chain('add', name);
    tx.chain('delete', name);
  }
  for (const [name, type, hook, priority] of BASE_CHAINS) {
    tx.chain('add', name, ` { type ${type} hook ${hook} priority ${priority} ; }`);
    tx.chain('flush', name);
  }
  const created = new Set<string>();
  const ensure = (name: string) => {
    if (created.has(name)) return;
    created.add(name);
    tx.chain('add', name);
    tx.chain('flush', name);
  };
  for (const [target, source, match] of JUMPS) {
    ensure(target);
    tx.rule(source, `${match ? `${match} ` : ''}jump ${target}`);
  }
  for (const name of [SERVICES, CLUSTER_IPS_CHECK, MASQUERADING, MARK_MASQ]) ensure(name);
  tx.rule(MARK_MASQ, `mark set mark or ${mark}`);
  tx.rule(MASQUERADING, `mark and ${mark} == 0 return`);
  tx.rule(MASQUERADING, `mark set mark xor ${mark}`);
  tx.rule(MASQUERADING, 'masquerade fully-random');

  tx.container('add', 'set', CLUSTER_IPS, ` { type ${addr} ; comment ${quote('Active ClusterIPs')} ; }`);
  tx.rule(
    CLUSTER_IPS_CHECK,
    `${ipX} daddr @${CLUSTER_IPS} reject`,
    'Reject traffic to invalid ports of ClusterIPs',
  );
  if (input.serviceCIDRs.length > 0) {
    tx.rule(
      CLUSTER_IPS_CHECK,
      `${ipX} daddr { ${input.serviceCIDRs.join(',')} } drop`,
      'Drop traffic to unallocated ClusterIPs',
    );
  }

  tx.container(
    'add',
    'set',
    NODEPORT_IPS,
    ` { type ${addr} ; comment ${quote('IPs that accept NodePort traffic')} ; }`,
  );
  if (npa.matchAll) tx.container('delete', 'set', NODEPORT_IPS);
  else {
    tx.container('flush', 'set', NODEPORT_IPS);
    for (const ip of npa.ips) if (ip !== '127.0.0.1' && ip !== '::1') tx.element('add', NODEPORT_IPS, ip, '');
  }

  const vmap = (key: string, comment: string) => ` { type ${key} : verdict ; comment ${quote(comment)} ; }`;
  tx.container(
    'add',
    'map',
    NO_ENDPOINT_SERVICES,
    vmap(
      `${addr} . inet_proto . inet_service`,
      'vmap to drop or reject packets to services with no endpoints',
    ),
  );
  tx.container(
    'add',
    'map',
    NO_ENDPOINT_NODEPORTS,
    vmap(
      'inet_proto . inet_service',
      'vmap to drop or reject packets to service nodeports with no endpoints',
    ),
  );
  tx.chain(
    'add',
    REJECT_CHAIN,
    ` { comment ${quote('helper for @no-endpoint-services / @no-endpoint-nodeports')} ; }`,
  );
  tx.chain('flush', REJECT_CHAIN);
  tx.rule(REJECT_CHAIN, 'reject');
  tx.rule(SERVICE_ENDPOINTS_CHECK, `${ipX} daddr . meta l4proto . th dport vmap @${NO_ENDPOINT_SERVICES}`);
  tx.rule(
    NODEPORT_ENDPOINTS_CHECK,
    `${npa.matchAll ? noLocalhost : `${ipX} daddr @${NODEPORT_IPS}`} meta l4proto . th dport vmap @${NO_ENDPOINT_NODEPORTS}`,
  );

  tx.container(
    'add',
    'map',
    FIREWALL_IPS,
    vmap(`${addr} . inet_proto . inet_service`, 'destinations that are subject to LoadBalancerSourceRanges'),
  );
  ensure(FIREWALL_CHECK);
  tx.rule(FIREWALL_CHECK, `${ipX} daddr . meta l4proto . th dport vmap @${FIREWALL_IPS}`);

  tx.container(
    'add',
    'map',
    SERVICE_IPS,
    vmap(`${addr} . inet_proto . inet_service`, 'ClusterIP, ExternalIP and LoadBalancer IP traffic'),
  );
  tx.container('add', 'map', SERVICE_NODEPORTS, vmap('inet_proto . inet_service', 'NodePort traffic'));
  tx.rule(SERVICES, `${ipX} daddr . meta l4proto . th dport vmap @${SERVICE_IPS}`);
  tx.rule(
    SERVICES,
    `${npa.matchAll ? `fib daddr type local ${noLocalhost}` : `${ipX} daddr @${NODEPORT_IPS}`} meta l4proto . th dport vmap @${SERVICE_NODEPORTS}`,
  );

  // nftElementStorage.reset(): the elements are rewritten below.
  for (const c of CONTAINERS) tx.container('flush', c === CLUSTER_IPS ? 'set' : 'map', c);
}

export function syncFamily(input: NftSyncInput): NftSyncOutput {
  const { family, options: o } = input;
  const ipX = family === 4 ? 'ip' : 'ip6';
  const addr = family === 4 ? 'ipv4_addr' : 'ipv6_addr';
  const tx = new Tx(ipX, !input.stateOnly);
  const partial = input.changed !== undefined && input.previous !== undefined;
  if (!partial) setup(tx, input, ipX, addr);
  const detector = o.detectLocal[family];

  // Element storage: what the kernel holds (empty after setup's flush), and what is not yet confirmed.
  const held = partial ? cloneElements((input.previous as FamilyNftState).elements) : emptyElements();
  const leftover = Object.fromEntries(CONTAINERS.map((c) => [c, new Set(held[c].keys())])) as Record<
    Container,
    Set<string>
  >;
  const ensureElem = (c: Container, key: string, value: string, comment?: string) => {
    const existing = held[c].get(key);
    if (existing !== undefined) {
      if (existing !== value) {
        tx.element('delete', c, key, value);
        tx.element('add', c, key, value, comment);
        held[c].set(key, value);
      }
      leftover[c].delete(key);
    } else {
      tx.element('add', c, key, value, comment);
      held[c].set(key, value);
    }
  };

  const active = new Set<string>();
  const activeAffinity = new Set<string>();

  for (const { sp, endpoints } of input.entries) {
    const { proto } = sp;
    const skip = partial && !(input.changed as ReadonlySet<string>).has(`${sp.namespace}/${sp.name}`);
    const ensureChain = (name: string) => {
      if (active.has(name)) return;
      active.add(name);
      if (skip) return;
      tx.chain('add', name);
      tx.chain('flush', name);
    };
    const chains: ServiceChains = serviceChainNames(sp.namespace, sp.name, proto, sp.portName);
    const route = routeServicePort(sp, endpoints);
    const { cluster, local, allReachable, hasAny, hasInternal, hasExternal } = route;
    const epChain = (ep: Endpoint) => endpointNames(sp, ep);

    for (const ep of allReachable) {
      ensureChain(epChain(ep).chain);
      if (sp.clientIPAffinity) activeAffinity.add(epChain(ep).affinity);
    }
    if (route.usesClusterChain) ensureChain(chains.service);
    if (route.usesLocalChain) ensureChain(chains.local);
    const internalChain = sp.internalPolicyLocal ? chains.local : chains.service;
    const externalPolicyChain = sp.externalPolicyLocal ? chains.local : chains.service;
    if (route.usesExternalChain) ensureChain(chains.external);

    let internalVerdict = '';
    let externalVerdict = '';
    if (!hasAny) internalVerdict = externalVerdict = `goto ${REJECT_CHAIN}`;
    else {
      if (!hasInternal) internalVerdict = 'drop';
      if (!hasExternal) externalVerdict = 'drop';
    }
    const dest = (ip: string) => `${ip} . ${proto} . ${sp.port}`;

    ensureElem(CLUSTER_IPS, sp.clusterIP, '');
    if (hasInternal) ensureElem(SERVICE_IPS, dest(sp.clusterIP), `goto ${internalChain}`);
    else ensureElem(NO_ENDPOINT_SERVICES, dest(sp.clusterIP), internalVerdict, sp.nameString);

    for (const ip of sp.externalIPs) {
      if (hasAny) ensureElem(SERVICE_IPS, dest(ip), `goto ${chains.external}`);
      if (!hasExternal) ensureElem(NO_ENDPOINT_SERVICES, dest(ip), externalVerdict, sp.nameString);
    }
    const usesFwChain = sp.loadBalancerVIPs.length > 0 && sp.loadBalancerSourceRanges.length > 0;
    if (usesFwChain) ensureChain(chains.firewall);
    for (const ip of sp.loadBalancerVIPs) {
      if (hasAny) ensureElem(SERVICE_IPS, dest(ip), `goto ${chains.external}`);
      if (usesFwChain) ensureElem(FIREWALL_IPS, dest(ip), `goto ${chains.firewall}`);
    }
    if (!hasExternal) {
      for (const ip of sp.loadBalancerVIPs)
        ensureElem(NO_ENDPOINT_SERVICES, dest(ip), externalVerdict, sp.nameString);
    }
    if (sp.nodePort !== 0) {
      const key = `${proto} . ${sp.nodePort}`;
      if (hasAny) ensureElem(SERVICE_NODEPORTS, key, `goto ${chains.external}`);
      if (!hasExternal) ensureElem(NO_ENDPOINT_NODEPORTS, key, externalVerdict, sp.nameString);
    }

    if (skip) continue;

    if (hasInternal) {
      if (o.masqueradeAll) tx.rule(internalChain, `${ipX} daddr ${sp.clusterIP} jump ${MARK_MASQ}`);
      else if (detector)
        tx.rule(internalChain, `${ipX} daddr ${sp.clusterIP} ${detector.ifNotLocal} jump ${MARK_MASQ}`);
    }
    if (route.usesExternalChain) {
      if (!sp.externalPolicyLocal) tx.rule(chains.external, `jump ${MARK_MASQ}`);
      else {
        if (detector)
          tx.rule(chains.external, `${detector.ifLocal} goto ${chains.service}`, 'short-circuit pod traffic');
        tx.rule(chains.external, `fib saddr type local jump ${MARK_MASQ}`, 'masquerade local traffic');
        tx.rule(
          chains.external,
          `fib saddr type local goto ${chains.service}`,
          'short-circuit local traffic',
        );
      }
      if (hasExternal) tx.rule(chains.external, `goto ${externalPolicyChain}`);
    }
    if (usesFwChain) {
      const sources = [...sp.loadBalancerSourceRanges];
      const nodeIP = input.nodeIPs[0];
      if (nodeIP !== undefined && sp.loadBalancerSourceRanges.some((c) => cidrContains(c, nodeIP))) {
        sources.push(...sp.loadBalancerVIPs);
      }
      tx.rule(chains.firewall, `${ipX} saddr != { ${sources.join(' , ')} } drop`);
    }
    if (sp.clientIPAffinity) {
      for (const ep of allReachable) {
        tx.container(
          'add',
          'set',
          epChain(ep).affinity,
          ` { type ${addr} ; flags dynamic,timeout ; timeout ${sp.stickyMaxAgeSeconds}s ; }`,
        );
      }
    }
    if (route.usesClusterChain) writeServiceToEndpointRules(tx, sp, ipX, chains.service, cluster);
    if (route.usesLocalChain) writeServiceToEndpointRules(tx, sp, ipX, chains.local, local);
    for (const ep of allReachable) {
      const names = epChain(ep);
      tx.rule(names.chain, `${ipX} saddr ${ep.ip} jump ${MARK_MASQ}`);
      if (sp.clientIPAffinity) tx.rule(names.chain, `update @${names.affinity} { ${ipX} saddr }`);
      tx.rule(names.chain, `meta l4proto ${proto} dnat to ${ep.key}`);
    }
  }

  // Chains that are gone are flushed now and deleted a sync later (kernels before 6.2 notice only
  // after a moment that a chain no map element points to is unreferenced); affinity sets go now.
  const staleChains: string[] = [];
  if (input.previous) {
    for (const chain of [...input.previous.chains].sort()) {
      if (active.has(chain)) continue;
      tx.chain('flush', chain);
      staleChains.push(chain);
    }
    for (const set of [...input.previous.affinitySets].sort()) {
      if (!activeAffinity.has(set)) tx.container('delete', 'set', set);
    }
  }
  for (const c of CONTAINERS) {
    for (const key of leftover[c]) {
      tx.element('delete', c, key, '');
      held[c].delete(key);
    }
  }
  return {
    lines: tx.lines,
    state: { chains: active, affinitySets: activeAffinity, elements: held },
    staleChains,
  };
}

function cloneElements(e: Record<Container, Map<string, string>>): Record<Container, Map<string, string>> {
  return Object.fromEntries(CONTAINERS.map((c) => [c, new Map(e[c])])) as Record<
    Container,
    Map<string, string>
  >;
}

const endpointNameCache = new WeakMap<Endpoint, { chain: string; affinity: string }>();

function endpointNames(sp: ServicePort, ep: Endpoint): { chain: string; affinity: string } {
  const cached = endpointNameCache.get(ep);
  if (cached) return cached;
  const base = endpointChainNameBase(sp.namespace, sp.name, sp.proto, sp.portName, ep.ip, ep.port);
  const names = { chain: `endpoint-${base}`, affinity: `affinity-${base}` };
  endpointNameCache.set(ep, names);
  return names;
}

function writeServiceToEndpointRules(
  tx: Tx,
  sp: ServicePort,
  ipX: string,
  chain: string,
  endpoints: readonly Endpoint[],
): void {
  if (sp.clientIPAffinity) {
    for (const ep of endpoints) {
      const names = endpointNames(sp, ep);
      tx.rule(chain, `${ipX} saddr @${names.affinity} goto ${names.chain}`);
    }
  }
  const elements = endpoints.map((ep, i) => `${i} : goto ${endpointNames(sp, ep).chain}`).join(' , ');
  tx.rule(chain, `numgen random mod ${endpoints.length} vmap { ${elements} }`);
}

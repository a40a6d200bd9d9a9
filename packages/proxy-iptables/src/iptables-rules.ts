/**
 * One family's syncProxyRules, as kube-proxy's iptables proxier writes it: the iptables-restore
 * input (`*filter` then `*nat`, chain declarations before rules) for a full sync, or for a partial
 * sync in which only the chains of changed services are declared and rewritten.
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
import type { ResolvedOptions } from './iptables-options.js';
import {
  endpointChainName,
  isServiceChainName,
  probability,
  type ServiceChains,
  serviceChainNames,
} from './iptables-names.js';

/** kube-proxy drops rule comments above this many endpoints (large cluster mode). */
export const LARGE_CLUSTER_ENDPOINTS_THRESHOLD = 1000;

const SERVICES = 'KUBE-SERVICES';
const EXTERNAL_SERVICES = 'KUBE-EXTERNAL-SERVICES';
const NODEPORTS = 'KUBE-NODEPORTS';
const POSTROUTING = 'KUBE-POSTROUTING';
const MARK_MASQ = 'KUBE-MARK-MASQ';
const FORWARD = 'KUBE-FORWARD';
const PROXY_FIREWALL = 'KUBE-PROXY-FIREWALL';
const KUBELET_FIREWALL = 'KUBE-FIREWALL';
const CANARY = 'KUBE-PROXY-CANARY';
const NFACCT_INVALID = 'ct_state_invalid_dropped_pkts';
const NFACCT_LOCALHOST_NODEPORT = 'localhost_nps_accepted_pkts';

/** The jumps kube-proxy installs with EnsureRule(Prepend, ...) on every full sync, in its order. */
const JUMPS: readonly [table: 'filter' | 'nat', chain: string, args: string, target: string][] = [
  [
    'filter',
    'INPUT',
    '-m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals"',
    EXTERNAL_SERVICES,
  ],
  [
    'filter',
    'FORWARD',
    '-m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals"',
    EXTERNAL_SERVICES,
  ],
  ['filter', 'INPUT', '-m comment --comment "kubernetes health check service ports"', NODEPORTS],
  [
    'filter',
    'FORWARD',
    '-m conntrack --ctstate NEW -m comment --comment "kubernetes service portals"',
    SERVICES,
  ],
  [
    'filter',
    'OUTPUT',
    '-m conntrack --ctstate NEW -m comment --comment "kubernetes service portals"',
    SERVICES,
  ],
  ['filter', 'FORWARD', '-m comment --comment "kubernetes forwarding rules"', FORWARD],
  [
    'filter',
    'INPUT',
    '-m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall"',
    PROXY_FIREWALL,
  ],
  [
    'filter',
    'OUTPUT',
    '-m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall"',
    PROXY_FIREWALL,
  ],
  [
    'filter',
    'FORWARD',
    '-m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall"',
    PROXY_FIREWALL,
  ],
  ['nat', 'OUTPUT', '-m comment --comment "kubernetes service portals"', SERVICES],
  ['nat', 'PREROUTING', '-m comment --comment "kubernetes service portals"', SERVICES],
  ['nat', 'POSTROUTING', '-m comment --comment "kubernetes postrouting rules"', POSTROUTING],
  // kubelet's anti-martian chain, which kube-proxy also ensures (no comment).
  ['filter', 'INPUT', '', KUBELET_FIREWALL],
  ['filter', 'OUTPUT', '', KUBELET_FIREWALL],
];

/** The comment line that separates kube-proxy's restore data from its EnsureChain/EnsureRule part. */
export const ENSURE_MARKER = '# podnet: kube-proxy EnsureChain/EnsureRule calls (full sync only)';

export interface FamilySyncInput {
  family: IpFamily;
  entries: readonly ServicePortEntry[];
  options: ResolvedOptions;
  /** The node's own addresses of this family (InternalIPs). */
  nodeIPs: readonly string[];
  /** Partial sync: the services (`namespace/name`) whose chains are rewritten, and the NAT chains that exist. */
  partial?: { changed: ReadonlySet<string>; existingNatChains: ReadonlySet<string> };
  /** Only compute activeNatChains (the text is ''). */
  stateOnly?: boolean;
}

export interface FamilySyncOutput {
  /** kube-proxy's iptables-restore input (plus, for a full sync, the EnsureRule block). */
  text: string;
  /** Service and endpoint chains this sync keeps (kube-proxy's activeNATChains). */
  activeNatChains: Set<string>;
}

const isLoopback = (ip: string) => ip === '::1' || ip.startsWith('127.');

/** Lines appended with spaces between words, as kube-proxy's LineBuffer writes them. */
type Lines = string[];

export function syncFamily(input: FamilySyncInput): FamilySyncOutput {
  const { family, entries, options: o } = input;
  const ipv6 = family === 6;
  const mark = o.masqueradeMark;
  const npa = resolveNodePortAddresses(o.nodePortAddresses, family, input.nodeIPs);
  const localhostNodePorts = !ipv6 && o.localhostNodePorts && npa.containsIPv4Loopback;
  const detector = o.detectLocal[family];

  const filterChains: Lines = [];
  const filterRules: Lines = [];
  const natChains: Lines = [];
  const natRules: Lines = [];
  const skipped: Lines = [];
  for (const c of [SERVICES, EXTERNAL_SERVICES, FORWARD, NODEPORTS, PROXY_FIREWALL])
    filterChains.push(`:${c} - [0:0]`);
  for (const c of [SERVICES, NODEPORTS, POSTROUTING, MARK_MASQ]) natChains.push(`:${c} - [0:0]`);

  natRules.push(`-A ${POSTROUTING} -m mark ! --mark ${mark}/${mark} -j RETURN`);
  natRules.push(`-A ${POSTROUTING} -j MARK --xor-mark ${mark}`);
  natRules.push(
    `-A ${POSTROUTING} -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE${o.randomFully ? ' --random-fully' : ''}`,
  );
  natRules.push(`-A ${MARK_MASQ} -j MARK --or-mark ${mark}`);

  if (localhostNodePorts) {
    filterChains.push(`:${KUBELET_FIREWALL} - [0:0]`);
    filterRules.push(
      `-A ${KUBELET_FIREWALL} -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`,
    );
  }

  const active = new Set<string>();
  let totalEndpoints = 0;
  for (const e of entries) totalEndpoints += e.endpoints.length;
  const largeClusterMode = totalEndpoints > LARGE_CLUSTER_ENDPOINTS_THRESHOLD;
  const comment = (text: string) => (largeClusterMode ? '' : ` -m comment --comment ${text}`);

  for (const { sp, endpoints } of entries) {
    const { proto } = sp;
    const name = sp.nameString;
    const chains: ServiceChains = serviceChainNames(name, proto);
    const route = routeServicePort(sp, endpoints);
    const { cluster, local, allReachable, hasAny, hasInternal, hasExternal } = route;
    const seps = new Map(allReachable.map((ep) => [ep.key, endpointChainName(name, proto, ep.key)]));
    const sepOf = (ep: Endpoint) => seps.get(ep.key) ?? endpointChainName(name, proto, ep.key);
    const internalChain = sp.internalPolicyLocal ? chains.svl : chains.svc;
    const externalPolicyChain = sp.externalPolicyLocal ? chains.svl : chains.svc;
    const usesFwChain = hasAny && sp.loadBalancerVIPs.length > 0 && sp.loadBalancerSourceRanges.length > 0;
    const lbChain = usesFwChain ? chains.fw : chains.ext;

    let internalTarget = '';
    let internalComment = '';
    let externalTarget = '';
    let externalComment = '';
    if (!hasAny) {
      internalTarget = externalTarget = 'REJECT';
      internalComment = externalComment = `"${name} has no endpoints"`;
    } else {
      if (!hasInternal) {
        internalTarget = 'DROP';
        internalComment = `"${name} has no local endpoints"`;
      }
      if (!hasExternal) {
        externalTarget = 'DROP';
        externalComment = `"${name} has no local endpoints"`;
      }
    }
    const protoMatch = `-m ${proto} -p ${proto}`;

    // Capture the clusterIP.
    if (hasInternal) {
      natRules.push(
        `-A ${SERVICES} -m comment --comment "${name} cluster IP" ${protoMatch} -d ${sp.clusterIP} --dport ${sp.port} -j ${internalChain}`,
      );
    } else {
      filterRules.push(
        `-A ${SERVICES} -m comment --comment ${internalComment} ${protoMatch} -d ${sp.clusterIP} --dport ${sp.port} -j ${internalTarget}`,
      );
    }
    // Capture externalIPs.
    for (const ip of sp.externalIPs) {
      if (hasAny) {
        natRules.push(
          `-A ${SERVICES} -m comment --comment "${name} external IP" ${protoMatch} -d ${ip} --dport ${sp.port} -j ${chains.ext}`,
        );
      }
      if (!hasExternal) {
        filterRules.push(
          `-A ${EXTERNAL_SERVICES} -m comment --comment ${externalComment} ${protoMatch} -d ${ip} --dport ${sp.port} -j ${externalTarget}`,
        );
      }
    }
    // Capture load-balancer ingress.
    for (const ip of sp.loadBalancerVIPs) {
      if (hasAny) {
        natRules.push(
          `-A ${SERVICES} -m comment --comment "${name} loadbalancer IP" ${protoMatch} -d ${ip} --dport ${sp.port} -j ${lbChain}`,
        );
      }
      if (usesFwChain) {
        filterRules.push(
          `-A ${PROXY_FIREWALL} -m comment --comment "${name} traffic not accepted by ${chains.fw}" ${protoMatch} -d ${ip} --dport ${sp.port} -j DROP`,
        );
      }
    }
    if (!hasExternal) {
      for (const ip of sp.loadBalancerVIPs) {
        filterRules.push(
          `-A ${EXTERNAL_SERVICES} -m comment --comment ${externalComment} ${protoMatch} -d ${ip} --dport ${sp.port} -j ${externalTarget}`,
        );
      }
    }
    // Capture nodeports.
    if (sp.nodePort !== 0) {
      if (hasAny) {
        if (localhostNodePorts && o.nfacct) {
          natRules.push(
            `-A ${NODEPORTS} -m comment --comment ${name} ${protoMatch} -d 127.0.0.0/8 --dport ${sp.nodePort} -m nfacct --nfacct-name ${NFACCT_LOCALHOST_NODEPORT} -j ${chains.ext}`,
          );
        }
        natRules.push(
          `-A ${NODEPORTS} -m comment --comment ${name} ${protoMatch} --dport ${sp.nodePort} -j ${chains.ext}`,
        );
      }
      if (!hasExternal) {
        filterRules.push(
          `-A ${EXTERNAL_SERVICES} -m comment --comment ${externalComment} -m addrtype --dst-type LOCAL ${protoMatch} --dport ${sp.nodePort} -j ${externalTarget}`,
        );
      }
    }
    // Capture healthCheckNodePorts.
    if (sp.healthCheckNodePort !== 0) {
      filterRules.push(
        `-A ${NODEPORTS} -m comment --comment "${name} health check node port" -m tcp -p tcp --dport ${sp.healthCheckNodePort} -j ACCEPT`,
      );
    }

    // Unchanged services keep their chains in a partial sync: nothing below is written for them.
    const rewrite = !input.partial || input.partial.changed.has(`${sp.namespace}/${sp.name}`);
    const nc = rewrite ? natChains : skipped;
    const nr = rewrite ? natRules : skipped;

    // Internal traffic handling.
    if (hasInternal) {
      const args = `-m comment --comment "${name} cluster IP" ${protoMatch} -d ${sp.clusterIP} --dport ${sp.port}`;
      if (o.masqueradeAll) nr.push(`-A ${internalChain} ${args} -j ${MARK_MASQ}`);
      else if (detector) nr.push(`-A ${internalChain} ${args} ${detector.ifNotLocal} -j ${MARK_MASQ}`);
    }
    // External traffic handling.
    if (route.usesExternalChain) {
      nc.push(`:${chains.ext} - [0:0]`);
      active.add(chains.ext);
      if (!sp.externalPolicyLocal) {
        nr.push(
          `-A ${chains.ext} -m comment --comment "masquerade traffic for ${name} external destinations" -j ${MARK_MASQ}`,
        );
      } else {
        if (detector) {
          nr.push(
            `-A ${chains.ext} -m comment --comment "pod traffic for ${name} external destinations" ${detector.ifLocal} -j ${chains.svc}`,
          );
        }
        nr.push(
          `-A ${chains.ext} -m comment --comment "masquerade LOCAL traffic for ${name} external destinations" -m addrtype --src-type LOCAL -j ${MARK_MASQ}`,
        );
        nr.push(
          `-A ${chains.ext} -m comment --comment "route LOCAL traffic for ${name} external destinations" -m addrtype --src-type LOCAL -j ${chains.svc}`,
        );
      }
      if (hasExternal) nr.push(`-A ${chains.ext} -j ${externalPolicyChain}`);
    }
    // Firewall chain (loadBalancerSourceRanges).
    if (usesFwChain) {
      nc.push(`:${chains.fw} - [0:0]`);
      active.add(chains.fw);
      const args = `-A ${chains.fw} -m comment --comment "${name} loadbalancer IP"`;
      let allowFromNode = false;
      for (const cidr of sp.loadBalancerSourceRanges) {
        nr.push(`${args} -s ${cidr} -j ${chains.ext}`);
        if (input.nodeIPs[0] !== undefined && cidrContains(cidr, input.nodeIPs[0])) allowFromNode = true;
      }
      if (allowFromNode) for (const ip of sp.loadBalancerVIPs) nr.push(`${args} -s ${ip} -j ${chains.ext}`);
      nr.push(
        `-A ${chains.fw} -m comment --comment "other traffic to ${name} will be dropped by KUBE-PROXY-FIREWALL"`,
      );
    }
    if (route.usesClusterChain) {
      nc.push(`:${chains.svc} - [0:0]`);
      active.add(chains.svc);
      writeServiceToEndpointRules(nr, sp, chains.svc, cluster, sepOf, comment);
    }
    if (route.usesLocalChain) {
      nc.push(`:${chains.svl} - [0:0]`);
      active.add(chains.svl);
      writeServiceToEndpointRules(nr, sp, chains.svl, local, sepOf, comment);
    }
    // Per-endpoint chains.
    for (const ep of allReachable) {
      const sep = sepOf(ep);
      nc.push(`:${sep} - [0:0]`);
      active.add(sep);
      const head = `-A ${sep}${comment(name)}`;
      nr.push(`${head} -s ${ep.ip} -j ${MARK_MASQ}`);
      const affinity = sp.clientIPAffinity ? ` -m recent --name ${sep} --set` : '';
      nr.push(`${head}${affinity} -m ${proto} -p ${proto} -j DNAT --to-destination ${ep.key}`);
    }
    skipped.length = 0;
    if (input.stateOnly) filterRules.length = natChains.length = natRules.length = 0;
  }
  if (input.stateOnly) return { text: '', activeNatChains: active };

  // Delete the service chains that are gone (kube-proxy finds them with iptables-save).
  if (input.partial) {
    for (const chain of [...input.partial.existingNatChains].sort()) {
      if (active.has(chain) || !isServiceChainName(chain)) continue;
      natChains.push(`:${chain} - [0:0]`);
      natRules.push(`-X ${chain}`);
    }
  }

  // Tail-call to the nodeports chain: this must stay the last rule of KUBE-SERVICES.
  const last = `-A ${SERVICES} -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain"`;
  if (npa.matchAll) {
    let dest = '-m addrtype --dst-type LOCAL';
    if (ipv6) dest += ' ! -d ::1/128';
    else if (!localhostNodePorts) dest += ' ! -d 127.0.0.0/8';
    natRules.push(`${last} ${dest} -j ${NODEPORTS}`);
  } else {
    for (const ip of npa.ips) {
      if (isLoopback(ip) && (ipv6 || !localhostNodePorts)) continue;
      natRules.push(`${last} -d ${ip} -j ${NODEPORTS}`);
    }
  }

  if (!o.tcpBeLiberal) {
    const nfacct = o.nfacct ? ` -m nfacct --nfacct-name ${NFACCT_INVALID}` : '';
    filterRules.push(`-A ${FORWARD} -m conntrack --ctstate INVALID${nfacct} -j DROP`);
  }
  filterRules.push(
    `-A ${FORWARD} -m comment --comment "kubernetes forwarding rules" -m mark --mark ${mark}/${mark} -j ACCEPT`,
  );
  filterRules.push(
    `-A ${FORWARD} -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
  );

  const out: string[] = [
    '*filter',
    ...filterChains,
    ...filterRules,
    'COMMIT',
    '*nat',
    ...natChains,
    ...natRules,
    'COMMIT',
  ];
  if (!input.partial) out.push(...ensureBlock(filterChains));
  return { text: `${out.join('\n')}\n`, activeNatChains: active };
}

function writeServiceToEndpointRules(
  nr: Lines,
  sp: ServicePort,
  chain: string,
  endpoints: readonly Endpoint[],
  sepOf: (ep: Endpoint) => string,
  comment: (text: string) => string,
): void {
  const name = sp.nameString;
  if (sp.clientIPAffinity) {
    for (const ep of endpoints) {
      const sep = sepOf(ep);
      nr.push(
        `-A ${chain}${comment(`"${name} -> ${ep.key}"`)} -m recent --name ${sep} --rcheck --seconds ${sp.stickyMaxAgeSeconds} --reap -j ${sep}`,
      );
    }
  }
  const n = endpoints.length;
  endpoints.forEach((ep, i) => {
    const sep = sepOf(ep);
    const stat = i < n - 1 ? ` -m statistic --mode random --probability ${probability(n - i)}` : '';
    nr.push(`-A ${chain}${comment(`"${name} -> ${ep.key}"`)}${stat} -j ${sep}`);
  });
}

/**
 * What kube-proxy does outside iptables-restore on a full sync, as restore input after its data:
 * the KUBE-PROXY-CANARY chains its iptables monitor creates in mangle, nat and filter, EnsureChain
 * of KUBE-FIREWALL where the restore data did not declare it, and the EnsureRule(Prepend) jumps
 * from the built-in chains, inserted in kube-proxy's order (so the last one ends up first).
 */
function ensureBlock(filterChains: readonly string[]): string[] {
  const lines = [ENSURE_MARKER, '*mangle', `:${CANARY} - [0:0]`, 'COMMIT', '*filter', `:${CANARY} - [0:0]`];
  if (!filterChains.includes(`:${KUBELET_FIREWALL} - [0:0]`)) lines.push(`:${KUBELET_FIREWALL} - [0:0]`);
  const insert = ([, chain, args, target]: (typeof JUMPS)[number]) =>
    `-I ${chain} ${args ? `${args} ` : ''}-j ${target}`;
  for (const j of JUMPS) if (j[0] === 'filter') lines.push(insert(j));
  lines.push('COMMIT', '*nat', `:${CANARY} - [0:0]`);
  for (const j of JUMPS) if (j[0] === 'nat') lines.push(insert(j));
  lines.push('COMMIT');
  return lines;
}

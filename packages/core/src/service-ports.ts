/**
 * The part of kube-proxy every mode shares (its pkg/proxy: ServicePortMap, EndpointsMap,
 * CategorizeEndpoints), computed from podnet's slim model for one IP family. Proxy modes import it
 * from @podnet/core because plugins may not depend on each other.
 */
import { canonicalIp, type IpFamily, intToIpv4, ipv4ToInt, isCidr, isIp, parseCidr } from './ip.js';
import type { EndpointSliceInfo, NodeInfo, Protocol, ServiceInfo } from './model.js';

/** One service port as one family's kube-proxy sees it (BaseServicePortInfo). */
export interface ServicePort {
  namespace: string;
  name: string;
  portName: string;
  protocol: Protocol;
  /** `tcp`, `udp` or `sctp`. */
  proto: string;
  /** ServicePortName.String(): `ns/name:port`, or `ns/name` for an unnamed port. */
  nameString: string;
  clusterIP: string;
  port: number;
  /** 0: none. */
  nodePort: number;
  externalIPs: string[];
  loadBalancerVIPs: string[];
  /** Canonical network CIDRs of this family. */
  loadBalancerSourceRanges: string[];
  clientIPAffinity: boolean;
  stickyMaxAgeSeconds: number;
  externalPolicyLocal: boolean;
  internalPolicyLocal: boolean;
  /** 0: none. */
  healthCheckNodePort: number;
}

export interface Endpoint {
  ip: string;
  port: number;
  /** `ip:port`, `[ip]:port` for IPv6 (Go's net.JoinHostPort). */
  key: string;
  isLocal: boolean;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
}

export interface ServicePortEntry {
  sp: ServicePort;
  /** Sorted by key, as kube-proxy's EndpointsMap keeps them. */
  endpoints: Endpoint[];
}

export function externallyAccessible(sp: ServicePort): boolean {
  return sp.nodePort !== 0 || sp.loadBalancerVIPs.length > 0 || sp.externalIPs.length > 0;
}

export function usesClusterEndpoints(sp: ServicePort): boolean {
  return !sp.internalPolicyLocal || externallyAccessible(sp);
}

export function usesLocalEndpoints(sp: ServicePort): boolean {
  return sp.internalPolicyLocal || (sp.externalPolicyLocal && externallyAccessible(sp));
}

export function joinHostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

const sliceType = { 4: 'IPv4', 6: 'IPv6' } as const;

/** An address's family and canonical text (Go's ParseIPSloppy + String), IPv4 on a fast path. */
function address(text: string): { family: IpFamily; ip: string } | undefined {
  const n = ipv4ToInt(text);
  if (n >= 0) return { family: 4, ip: intToIpv4(n) };
  return text.includes(':') && isIp(text) ? { family: 6, ip: canonicalIp(text) } : undefined;
}

function ofFamily(list: readonly string[], family: IpFamily): string[] {
  const out: string[] = [];
  for (const text of list) {
    const a = address(text);
    if (a?.family === family) out.push(a.ip);
  }
  return out;
}

function servicePorts(svc: ServiceInfo, family: IpFamily): ServicePort[] {
  if (svc.type === 'ExternalName' || svc.headless) return [];
  const clusterIP = ofFamily(svc.clusterIPs, family)[0];
  if (clusterIP === undefined) return [];
  const externallyVisibleType = svc.type === 'NodePort' || svc.type === 'LoadBalancer';
  const externalIPs = ofFamily(svc.externalIPs, family);
  const loadBalancerVIPs = ofFamily(svc.loadBalancerIPs, family);
  const loadBalancerSourceRanges: string[] = [];
  for (const raw of svc.loadBalancerSourceRanges) {
    // kube-proxy trims whitespace and ignores what does not parse (TestBadIPs upstream).
    const text = raw.trim();
    if (!isCidr(text)) continue;
    const c = parseCidr(text);
    if (c.family === family) loadBalancerSourceRanges.push(c.text);
  }
  const externalPolicyLocal =
    (externallyVisibleType || (svc.type === 'ClusterIP' && svc.externalIPs.length > 0)) &&
    svc.externalTrafficPolicy === 'Local';
  const needsHealthCheck = svc.type === 'LoadBalancer' && svc.externalTrafficPolicy === 'Local';
  return svc.ports.map((p) => ({
    namespace: svc.namespace,
    name: svc.name,
    portName: p.name,
    protocol: p.protocol,
    proto: p.protocol.toLowerCase(),
    nameString: `${svc.namespace}/${svc.name}${p.name ? `:${p.name}` : ''}`,
    clusterIP,
    port: p.port,
    nodePort: p.nodePort ?? 0,
    externalIPs,
    loadBalancerVIPs,
    loadBalancerSourceRanges,
    clientIPAffinity: svc.sessionAffinity === 'ClientIP',
    stickyMaxAgeSeconds: svc.sessionAffinity === 'ClientIP' ? svc.sessionAffinityTimeoutSeconds : 0,
    externalPolicyLocal,
    internalPolicyLocal: svc.internalTrafficPolicy === 'Local',
    healthCheckNodePort: needsHealthCheck ? (svc.healthCheckNodePort ?? 0) : 0,
  }));
}

function endpointsFor(
  sp: ServicePort,
  slices: readonly EndpointSliceInfo[],
  family: IpFamily,
  node: string,
): Endpoint[] {
  const byKey = new Map<string, Endpoint>();
  for (const slice of slices) {
    if (slice.addressType !== sliceType[family]) continue;
    for (const port of slice.ports) {
      if (port.name !== sp.portName || port.protocol !== sp.protocol || !(port.port > 0)) continue;
      for (const ep of slice.endpoints) {
        const first = ep.addresses[0] === undefined ? undefined : address(ep.addresses[0]);
        if (first?.family !== family) continue;
        const { ip } = first;
        const key = joinHostPort(ip, port.port);
        // As kube-proxy's EndpointSliceCache: one endpoint per ip:port, a non-terminating one wins.
        if (byKey.has(key) && ep.terminating) continue;
        byKey.set(key, {
          ip,
          port: port.port,
          key,
          isLocal: ep.nodeName !== undefined && ep.nodeName === node,
          ready: ep.ready,
          serving: ep.serving,
          terminating: ep.terminating,
        });
      }
    }
  }
  return [...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** kube-proxy's ServicePortMap joined with its EndpointsMap, for one family, in state order. */
export function servicePortTable(
  services: readonly ServiceInfo[],
  endpointSlices: readonly EndpointSliceInfo[],
  node: NodeInfo,
  family: IpFamily,
): ServicePortEntry[] {
  const slicesByService = new Map<string, EndpointSliceInfo[]>();
  for (const s of endpointSlices) {
    const key = `${s.namespace}/${s.serviceName}`;
    const list = slicesByService.get(key);
    if (list) list.push(s);
    else slicesByService.set(key, [s]);
  }
  const out: ServicePortEntry[] = [];
  for (const svc of services) {
    const slices = slicesByService.get(`${svc.namespace}/${svc.name}`) ?? [];
    for (const sp of servicePorts(svc, family)) {
      out.push({ sp, endpoints: endpointsFor(sp, slices, family, node.name) });
    }
  }
  return out;
}

export interface CategorizedEndpoints {
  cluster: Endpoint[];
  local: Endpoint[];
  /** Union of cluster and local, sorted by key. */
  allReachable: Endpoint[];
  hasAny: boolean;
}

/**
 * kube-proxy's CategorizeEndpoints without topology hints (podnet's model carries none): Ready
 * endpoints, falling back to Serving+Terminating ones, independently for Cluster and Local policy.
 */
export function categorizeEndpoints(sp: ServicePort, endpoints: Endpoint[]): CategorizedEndpoints {
  let cluster: Endpoint[] = [];
  let local: Endpoint[] = [];
  let hasAny = false;
  if (usesClusterEndpoints(sp)) {
    cluster = endpoints.filter((ep) => ep.ready);
    if (cluster.length === 0) cluster = endpoints.filter((ep) => ep.serving && ep.terminating);
    hasAny = cluster.length > 0;
  }
  if (!usesLocalEndpoints(sp)) return { cluster, local, allReachable: cluster, hasAny };
  let localReady = false;
  let localTerminating = false;
  for (const ep of endpoints) {
    if (ep.ready) {
      hasAny = true;
      if (ep.isLocal) localReady = true;
    } else if (ep.serving && ep.terminating) {
      hasAny = true;
      if (ep.isLocal) localTerminating = true;
    }
  }
  if (localReady) local = endpoints.filter((ep) => ep.isLocal && ep.ready);
  else if (localTerminating) local = endpoints.filter((ep) => ep.isLocal && ep.serving && ep.terminating);
  if (!usesClusterEndpoints(sp)) return { cluster, local, allReachable: local, hasAny };
  if (!localTerminating || localReady) return { cluster, local, allReachable: cluster, hasAny };
  const merged = new Map<string, Endpoint>();
  for (const ep of [...cluster, ...local]) merged.set(ep.key, ep);
  const allReachable = [...merged.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { cluster, local, allReachable, hasAny };
}

/** What every kube-proxy mode decides for one service port from its categorized endpoints. */
export interface ServicePortRouting extends CategorizedEndpoints {
  /** ClusterIP traffic has an endpoint under internalTrafficPolicy (a local one for Local). */
  hasInternal: boolean;
  /** External traffic has an endpoint under externalTrafficPolicy (a local one for Local). */
  hasExternal: boolean;
  /** The mode writes the chain over `cluster` endpoints (KUBE-SVC-, service-). */
  usesClusterChain: boolean;
  /** The mode writes the chain over `local` endpoints (KUBE-SVL-, local-). */
  usesLocalChain: boolean;
  /** The mode writes the external-traffic chain (KUBE-EXT-, external-). */
  usesExternalChain: boolean;
}

/** categorizeEndpoints plus the per-port decisions kube-proxy's iptables and nftables proxiers share. */
export function routeServicePort(sp: ServicePort, endpoints: Endpoint[]): ServicePortRouting {
  const c = categorizeEndpoints(sp, endpoints);
  const noLocal = c.local.length === 0;
  return {
    ...c,
    hasInternal: c.hasAny && !(sp.internalPolicyLocal && noLocal),
    hasExternal: c.hasAny && !(sp.externalPolicyLocal && noLocal),
    usesClusterChain: c.cluster.length > 0 && usesClusterEndpoints(sp),
    usesLocalChain: !noLocal && usesLocalEndpoints(sp),
    usesExternalChain: c.hasAny && externallyAccessible(sp),
  };
}

/**
 * What kube-proxy's change trackers compare to decide a service changed between two syncs: its
 * ports as this family sees them and its endpoints. Keyed by `namespace/name`.
 */
export function serviceSignatures(table: readonly ServicePortEntry[]): Map<string, string> {
  const parts = new Map<string, string[]>();
  for (const { sp, endpoints } of table) {
    const key = `${sp.namespace}/${sp.name}`;
    const text = JSON.stringify([sp, endpoints]);
    const list = parts.get(key);
    if (list) list.push(text);
    else parts.set(key, [text]);
  }
  return new Map([...parts].map(([k, v]) => [k, v.join('\n')]));
}

/** Services whose ports or endpoints differ between two tables (kube-proxy's UpdatedServices). */
export function changedServices(
  previous: readonly ServicePortEntry[],
  current: readonly ServicePortEntry[],
): Set<string> {
  const a = serviceSignatures(previous);
  const b = serviceSignatures(current);
  const changed = new Set<string>();
  for (const [k, v] of b) if (a.get(k) !== v) changed.add(k);
  for (const k of a.keys()) if (!b.has(k)) changed.add(k);
  return changed;
}

/**
 * The control plane's allocators, kept small and sequential so a later change can move them onto
 * @podnet/ipam: node underlay addresses, node podCIDRs, pod IPs, Service ClusterIPs and NodePorts.
 * Each takes its inputs in a stable order, honours what the manifests already give, and reports a
 * conflict or an exhausted range as a problem of the object that needed the address.
 */
import {
  cidrContains,
  cidrsOverlap,
  cidrSize,
  type ClusterNetworkConfig,
  type IpFamily,
  ipFamily,
  type NodeInfo,
  nthAddress,
  objectKey,
  parseCidr,
  sortBy,
  subnetAt,
  subnetCount,
} from '@podnet/core';
import type { NodeDraft, PodDraft, ServiceDraft } from './drafts.js';
import type { Issues } from './issues.js';

/** First host offset for nodes without an InternalIP: nthAddress(subnet, 10 + i). */
export const FIRST_NODE_OFFSET = 10;
/** First pod offset in a node's podCIDR (`.1` is the bridge gateway). */
export const FIRST_POD_OFFSET = 2;

function familyOf(cidr: string): IpFamily {
  return parseCidr(cidr).family;
}

/** The last usable offset in a CIDR: IPv4 keeps its broadcast address free. */
function lastOffset(cidr: string): bigint {
  const size = cidrSize(cidr);
  return familyOf(cidr) === 4 ? size - 2n : size - 1n;
}

/**
 * Underlay addresses of nodes that give none: the i-th such node of a subnet (in node-name order)
 * gets nthAddress(subnet, 10 + i), moving past addresses other nodes already hold.
 */
export function allocateNodeAddresses(
  nodes: readonly NodeDraft[],
  network: ClusterNetworkConfig,
  issues: Issues,
): Map<string, { internalIPs: string[]; subnet: string }> {
  const out = new Map<string, { internalIPs: string[]; subnet: string }>();
  const holder = new Map<string, string>();
  const sorted = sortBy(nodes, (n) => n.name);
  for (const n of sorted) {
    for (const [i, ip] of n.internalIPs.entries()) {
      const prev = holder.get(ip);
      if (prev)
        issues.at(n.source, `status.addresses[${i}].address`, `${ip} is already the address of Node ${prev}`);
      else holder.set(ip, n.name);
    }
  }
  const index = new Map<string, number>();
  for (const n of sorted) {
    const subnet = n.subnet ?? network.underlay.subnets[0];
    if (n.internalIPs.length > 0) {
      out.set(n.name, { internalIPs: [...n.internalIPs], subnet });
      continue;
    }
    const i = index.get(subnet) ?? 0;
    index.set(subnet, i + 1);
    let offset = BigInt(FIRST_NODE_OFFSET + i);
    while (offset <= lastOffset(subnet) && holder.has(nthAddress(subnet, offset))) offset++;
    if (offset > lastOffset(subnet)) {
      issues.at(n.source, 'status.addresses', `no free address left in underlay subnet ${subnet}`);
      continue;
    }
    const ip = nthAddress(subnet, offset);
    holder.set(ip, n.name);
    out.set(n.name, { internalIPs: [ip], subnet });
  }
  return out;
}

/**
 * Node podCIDRs as kube-controller-manager's range allocator assigns them: each cluster CIDR split
 * into nodeCIDRMaskSize subnets, handed out in node-name order, skipping subnets given nodes hold.
 */
export function allocateNodeCidrs(
  nodes: readonly NodeDraft[],
  network: ClusterNetworkConfig,
  issues: Issues,
): Map<string, string[]> {
  const sorted = sortBy(nodes, (n) => n.name);
  const held: { cidr: string; node: string }[] = [];
  for (const n of sorted) {
    n.podCIDRs.forEach((c, i) => {
      const clash = held.find((h) => cidrsOverlap(h.cidr, c));
      if (clash)
        issues.at(
          n.source,
          `spec.podCIDRs[${i}]`,
          `${c} overlaps the podCIDR ${clash.cidr} of Node ${clash.node}`,
        );
      else held.push({ cidr: c, node: n.name });
    });
  }
  const out = new Map<string, string[]>(sorted.map((n) => [n.name, [] as string[]]));
  for (const clusterCidr of network.clusterCIDRs) {
    const fam = familyOf(clusterCidr);
    const mask = fam === 4 ? network.nodeCIDRMaskSize : network.nodeCIDRMaskSizeIPv6;
    const count = subnetCount(clusterCidr, mask);
    let next = 0n;
    for (const n of sorted) {
      const given = n.podCIDRs.find((c) => familyOf(c) === fam);
      if (given) {
        out.get(n.name)?.push(given);
        continue;
      }
      while (next < count && held.some((h) => cidrsOverlap(h.cidr, subnetAt(clusterCidr, mask, next))))
        next++;
      if (next >= count) {
        issues.at(
          n.source,
          'spec.podCIDRs',
          `no free /${mask} left in clusterCIDR ${clusterCidr} (${count} node subnets)`,
        );
        continue;
      }
      const cidr = subnetAt(clusterCidr, mask, next).text;
      held.push({ cidr, node: n.name });
      out.get(n.name)?.push(cidr);
      next++;
    }
  }
  return out;
}

/**
 * Pod IPs: per node, pods in name order take `.2` upward of each podCIDR (`.1` is the gateway);
 * given `status.podIPs` are kept; hostNetwork pods have the node's addresses.
 */
export function allocatePodIps(
  pods: readonly PodDraft[],
  placement: ReadonlyMap<PodDraft, string>,
  nodes: readonly NodeInfo[],
  issues: Issues,
): Map<PodDraft, string[]> {
  const out = new Map<PodDraft, string[]>();
  for (const node of nodes) {
    const onNode = sortBy(
      pods.filter((p) => placement.get(p) === node.name),
      objectKey,
    );
    for (const p of onNode) out.set(p, p.spec.hostNetwork ? [...node.internalIPs] : []);
    const regular = onNode.filter((p) => !p.spec.hostNetwork);
    for (const cidr of node.podCIDRs) {
      const fam = familyOf(cidr);
      const used = new Map<string, string>([[nthAddress(cidr, 1), 'the node gateway']]);
      for (const p of regular) {
        const ip = p.ips.find((x) => ipFamily(x) === fam);
        if (ip === undefined) continue;
        const field = p.ipsPath;
        if (!cidrContains(cidr, ip))
          issues.at(p.source, field, `${ip} is not in the podCIDR ${cidr} of Node ${node.name}`);
        else if (used.has(ip)) issues.at(p.source, field, `${ip} is already used by ${used.get(ip)}`);
        else {
          used.set(ip, `Pod ${objectKey(p)}`);
          out.get(p)?.push(ip);
        }
      }
      let offset = BigInt(FIRST_POD_OFFSET);
      const last = lastOffset(cidr);
      for (const p of regular) {
        if (p.ips.some((x) => ipFamily(x) === fam)) continue;
        while (offset <= last && used.has(nthAddress(cidr, offset))) offset++;
        if (offset > last) {
          issues.at(p.source, p.specPath, `no free address left in the podCIDR ${cidr} of Node ${node.name}`);
          continue;
        }
        const ip = nthAddress(cidr, offset);
        used.set(ip, `Pod ${objectKey(p)}`);
        out.get(p)?.push(ip);
      }
    }
  }
  return out;
}

/**
 * ClusterIPs: given addresses are reserved first (a clash is an error), then each service in
 * namespace/name order without one gets the lowest free address of its family's service CIDR,
 * skipping the network address and the DNS service IP (reserved for kube-system/kube-dns).
 */
export function allocateClusterIps(
  services: readonly ServiceDraft[],
  network: ClusterNetworkConfig,
  issues: Issues,
): void {
  const sorted = sortBy(services, (s) => objectKey(s.info));
  const owner = new Map<string, string>();
  const dnsIP = network.dns.serviceIP;
  const isDns = (s: ServiceDraft) => s.info.namespace === 'kube-system' && s.info.name === 'kube-dns';
  owner.set(dnsIP, 'kube-system/kube-dns (dns.serviceIP)');
  for (const s of sorted) {
    s.info.clusterIPs.forEach((ip, i) => {
      const field = s.info.clusterIPs.length > 1 ? `spec.clusterIPs[${i}]` : 'spec.clusterIP';
      const cidr = network.serviceCIDRs.find((c) => cidrContains(c, ip));
      if (cidr && nthAddress(cidr, 0) === ip)
        issues.at(s.source, field, `${ip} is the network address of ${cidr}`);
      else if (ip === dnsIP && isDns(s)) return;
      else if (owner.has(ip))
        issues.at(s.source, field, `${ip} is already allocated to Service ${owner.get(ip)}`);
      else owner.set(ip, objectKey(s.info));
    });
  }
  for (const s of sorted) {
    if (s.info.headless || s.info.type === 'ExternalName') continue;
    const ips: string[] = [];
    for (const fam of s.info.ipFamilies) {
      const given = s.info.clusterIPs.find((ip) => ipFamily(ip) === fam);
      if (given) {
        ips.push(given);
        continue;
      }
      const cidr = network.serviceCIDRs.find((c) => familyOf(c) === fam);
      if (!cidr) continue;
      if (isDns(s) && ipFamily(dnsIP) === fam && cidrContains(cidr, dnsIP)) {
        ips.push(dnsIP);
        continue;
      }
      let offset = 1n;
      const last = lastOffset(cidr);
      while (offset <= last && owner.has(nthAddress(cidr, offset))) offset++;
      if (offset > last) {
        issues.at(s.source, 'spec.clusterIP', `no free address left in service CIDR ${cidr}`);
        continue;
      }
      const ip = nthAddress(cidr, offset);
      owner.set(ip, objectKey(s.info));
      ips.push(ip);
    }
    s.info.clusterIPs = ips;
  }
}

/**
 * NodePorts for NodePort and LoadBalancer services (and health-check ports for LoadBalancer with
 * externalTrafficPolicy Local): given ports are reserved, the rest take the lowest free port of
 * serviceNodePortRange. Ports are shared only within one Service (kube's allocator is per number).
 */
export function allocateNodePorts(
  services: readonly ServiceDraft[],
  network: ClusterNetworkConfig,
  issues: Issues,
): void {
  const { min, max } = network.serviceNodePortRange;
  const sorted = sortBy(services, (s) => objectKey(s.info));
  const owner = new Map<number, string>();
  const reserve = (s: ServiceDraft, port: number, field: string) => {
    const key = objectKey(s.info);
    const prev = owner.get(port);
    if (prev !== undefined && prev !== key)
      issues.at(s.source, field, `${port} is already allocated to Service ${prev}`);
    else owner.set(port, key);
  };
  for (const s of sorted) {
    s.info.ports.forEach((p, i) => {
      if (p.nodePort !== undefined) reserve(s, p.nodePort, `spec.ports[${i}].nodePort`);
    });
    if (s.info.healthCheckNodePort !== undefined)
      reserve(s, s.info.healthCheckNodePort, 'spec.healthCheckNodePort');
  }
  let next = min;
  const take = (s: ServiceDraft, field: string): number | undefined => {
    while (next <= max && owner.has(next)) next++;
    if (next > max) {
      issues.at(s.source, field, `no free port left in serviceNodePortRange ${min}-${max}`);
      return undefined;
    }
    owner.set(next, objectKey(s.info));
    return next;
  };
  for (const s of sorted) {
    const { type } = s.info;
    const wants = type === 'NodePort' || (type === 'LoadBalancer' && s.allocateLoadBalancerNodePorts);
    if (wants) {
      s.info.ports.forEach((p, i) => {
        if (p.nodePort !== undefined) return;
        const same = s.info.ports.find((q) => q !== p && q.port === p.port && q.nodePort !== undefined);
        const port = same?.nodePort ?? take(s, `spec.ports[${i}].nodePort`);
        if (port !== undefined) p.nodePort = port;
      });
    }
    if (
      type === 'LoadBalancer' &&
      s.info.externalTrafficPolicy === 'Local' &&
      s.info.healthCheckNodePort === undefined
    ) {
      const port = take(s, 'spec.healthCheckNodePort');
      if (port !== undefined) s.info.healthCheckNodePort = port;
    }
  }
}

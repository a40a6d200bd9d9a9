/**
 * The control plane's allocators: node underlay addresses, node podCIDRs, pod IPs, Service
 * ClusterIPs and NodePorts. PodCIDRs, ClusterIPs and NodePorts come from @podnet/ipam's allocators
 * (kube-controller-manager's and kube-apiserver's semantics); pod IPs follow host-local's order
 * (gateway .1, then .2 upward) per node.
 * Each takes its inputs in a stable order, honours what the manifests already give, and reports a
 * conflict or an exhausted range as a problem of the object that needed the address.
 */
import {
  cidrContains,
  cidrsOverlap,
  cidrSize,
  PodnetError,
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
import { NodeCidrAllocator, PortAllocator, ServiceIpAllocator } from '@podnet/ipam';
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
 * Node podCIDRs from @podnet/ipam's NodeCidrAllocator, as kube-controller-manager's range
 * allocator assigns them: podCIDRs the manifests give are occupied first, then each other node
 * (in node-name order) takes the next free nodeCIDRMaskSize subnet of every cluster CIDR.
 */
export function allocateNodeCidrs(
  nodes: readonly NodeDraft[],
  network: ClusterNetworkConfig,
  issues: Issues,
): Map<string, string[]> {
  const sorted = sortBy(nodes, (n) => n.name);
  const allocator = new NodeCidrAllocator(network.clusterCIDRs, {
    maskSizeV4: network.nodeCIDRMaskSize,
    maskSizeV6: network.nodeCIDRMaskSizeIPv6,
  });
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
      else {
        held.push({ cidr: c, node: n.name });
        if (network.clusterCIDRs.some((cc) => cidrsOverlap(cc, c))) allocator.occupy(c);
      }
    });
  }
  const out = new Map<string, string[]>();
  for (const n of sorted) {
    if (n.podCIDRs.length > 0) {
      out.set(n.name, [...n.podCIDRs]);
      continue;
    }
    try {
      out.set(n.name, allocator.allocate());
    } catch (e) {
      if (!PodnetError.is(e)) throw e;
      issues.at(n.source, 'spec.podCIDRs', e.message);
      out.set(n.name, []);
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
 * ClusterIPs from @podnet/ipam's ServiceIpAllocator, as kube-apiserver allocates them: given
 * addresses are reserved first (a clash or an address outside the range is an error), then each
 * service in namespace/name order without one gets a free address from the upper (dynamic) band,
 * chosen by a seeded generator so the same manifests always get the same addresses. The DNS
 * service IP is reserved for kube-system/kube-dns.
 */
export function allocateClusterIps(
  services: readonly ServiceDraft[],
  network: ClusterNetworkConfig,
  issues: Issues,
): void {
  const sorted = sortBy(services, (s) => objectKey(s.info));
  const allocators = new Map<IpFamily, ServiceIpAllocator>();
  for (const cidr of network.serviceCIDRs) {
    const fam = familyOf(cidr);
    if (!allocators.has(fam)) allocators.set(fam, new ServiceIpAllocator(cidr));
  }
  const owner = new Map<string, string>();
  const dnsIP = network.dns.serviceIP;
  const dnsAllocator = allocators.get(ipFamily(dnsIP));
  if (dnsAllocator?.contains(dnsIP)) dnsAllocator.allocate(dnsIP);
  owner.set(dnsIP, 'kube-system/kube-dns (dns.serviceIP)');
  const isDns = (s: ServiceDraft) => s.info.namespace === 'kube-system' && s.info.name === 'kube-dns';
  for (const s of sorted) {
    s.info.clusterIPs.forEach((ip, i) => {
      const field = s.info.clusterIPs.length > 1 ? `spec.clusterIPs[${i}]` : 'spec.clusterIP';
      if (ip === dnsIP && isDns(s)) return;
      if (owner.has(ip)) {
        issues.at(s.source, field, `${ip} is already allocated to Service ${owner.get(ip)}`);
        return;
      }
      const allocator = allocators.get(ipFamily(ip));
      if (allocator && !allocator.contains(ip)) {
        const cidr = network.serviceCIDRs.find((c) => cidrContains(c, ip));
        if (cidr) {
          issues.at(
            s.source,
            field,
            `${ip} is the ${ip === nthAddress(cidr, 0) ? 'network' : 'broadcast'} address of ${cidr}`,
          );
          return;
        }
      }
      if (allocator?.contains(ip)) allocator.allocate(ip);
      owner.set(ip, objectKey(s.info));
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
      if (isDns(s) && ipFamily(dnsIP) === fam && dnsAllocator?.contains(dnsIP)) {
        ips.push(dnsIP);
        continue;
      }
      const allocator = allocators.get(fam);
      if (!allocator) continue;
      try {
        const ip = allocator.allocate();
        owner.set(ip, objectKey(s.info));
        ips.push(ip);
      } catch (e) {
        if (!PodnetError.is(e)) throw e;
        issues.at(s.source, 'spec.clusterIP', `no free address left in service CIDR ${allocator.cidr}`);
      }
    }
    s.info.clusterIPs = ips;
  }
}

/**
 * NodePorts for NodePort and LoadBalancer services (and health-check ports for LoadBalancer with
 * externalTrafficPolicy Local) from @podnet/ipam's PortAllocator: given ports are reserved, the
 * rest come from the upper band of serviceNodePortRange (seeded, deterministic). Ports are shared
 * only within one Service.
 */
export function allocateNodePorts(
  services: readonly ServiceDraft[],
  network: ClusterNetworkConfig,
  issues: Issues,
): void {
  const { min, max } = network.serviceNodePortRange;
  const allocator = new PortAllocator({ min, max });
  const sorted = sortBy(services, (s) => objectKey(s.info));
  const owner = new Map<number, string>();
  const reserve = (s: ServiceDraft, port: number, field: string) => {
    const key = objectKey(s.info);
    const prev = owner.get(port);
    if (prev !== undefined && prev !== key)
      issues.at(s.source, field, `${port} is already allocated to Service ${prev}`);
    else if (prev === undefined) {
      owner.set(port, key);
      if (allocator.contains(port)) allocator.allocate(port);
    }
  };
  for (const s of sorted) {
    s.info.ports.forEach((p, i) => {
      if (p.nodePort !== undefined) reserve(s, p.nodePort, `spec.ports[${i}].nodePort`);
    });
    if (s.info.healthCheckNodePort !== undefined)
      reserve(s, s.info.healthCheckNodePort, 'spec.healthCheckNodePort');
  }
  const take = (s: ServiceDraft, field: string): number | undefined => {
    try {
      const port = allocator.allocate();
      owner.set(port, objectKey(s.info));
      return port;
    } catch (e) {
      if (!PodnetError.is(e)) throw e;
      issues.at(s.source, field, `no free port left in serviceNodePortRange ${min}-${max}`);
      return undefined;
    }
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

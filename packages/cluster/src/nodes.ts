/** Nodes as the control plane sees them: underlay addresses and podCIDRs filled in. */
import { type ClusterNetworkConfig, type NodeInfo, sortBy } from '@podnet/core';
import { allocateNodeAddresses, allocateNodeCidrs } from './allocate.js';
import type { NodeDraft } from './drafts.js';
import type { Issues } from './issues.js';

export function resolveNodes(
  drafts: readonly NodeDraft[],
  network: ClusterNetworkConfig,
  issues: Issues,
): NodeInfo[] {
  const addresses = allocateNodeAddresses(drafts, network, issues);
  const cidrs = allocateNodeCidrs(drafts, network, issues);
  const nodes: NodeInfo[] = [];
  for (const d of sortBy(drafts, (n) => n.name)) {
    const addr = addresses.get(d.name);
    const podCIDRs = cidrs.get(d.name) ?? [];
    if (!addr || podCIDRs.length !== network.clusterCIDRs.length) continue;
    nodes.push({
      name: d.name,
      labels: d.labels,
      internalIPs: addr.internalIPs,
      underlaySubnet: addr.subnet,
      podCIDRs,
      ready: d.ready,
      unschedulable: d.unschedulable,
    });
  }
  return nodes;
}

/** Nodes the scheduler may place new pods on: Ready and not cordoned. */
export function schedulable(node: NodeInfo): boolean {
  return node.ready && !node.unschedulable;
}

/**
 * A deterministic scheduler: a pod without `spec.nodeName` goes to the eligible node (Ready, not
 * cordoned, matching its nodeSelector) with the fewest pods, ties broken by node name. Pods are
 * placed in namespace/name order, after every pod that names its node. A pod that already has an
 * IP (`status.podIPs`) goes to the node whose podCIDR holds it.
 */
import {
  cidrContains,
  type LabelSelector,
  type NodeInfo,
  objectKey,
  selectorMatches,
  sortBy,
} from '@podnet/core';
import type { PodDraft } from './drafts.js';
import type { Issues } from './issues.js';
import { schedulable } from './nodes.js';

export function schedulePods(
  pods: readonly PodDraft[],
  nodes: readonly NodeInfo[],
  refusedNodes: ReadonlySet<string>,
  issues: Issues,
): Map<PodDraft, string> {
  const placement = new Map<PodDraft, string>();
  const load = new Map(nodes.map((n) => [n.name, 0]));
  const pending: PodDraft[] = [];
  for (const p of sortBy(pods, objectKey)) {
    const nodeName = p.spec.nodeName;
    if (nodeName === undefined) {
      pending.push(p);
      continue;
    }
    if (load.has(nodeName)) {
      placement.set(p, nodeName);
      load.set(nodeName, (load.get(nodeName) ?? 0) + 1);
    } else if (!refusedNodes.has(`Node//${nodeName}`)) {
      issues.at(
        p.source,
        `${p.specPath}.nodeName`,
        `Node ${JSON.stringify(nodeName)} not found (nodes: ${nodes.map((n) => n.name).join(', ') || 'none'})`,
      );
    }
  }
  for (const p of pending) {
    const owning =
      p.ips.length > 0 ? nodes.find((n) => n.podCIDRs.some((c) => cidrContains(c, p.ips[0]))) : undefined;
    if (owning) {
      placement.set(p, owning.name);
      load.set(owning.name, (load.get(owning.name) ?? 0) + 1);
      continue;
    }
    const selector: LabelSelector = { matchLabels: p.spec.nodeSelector, matchExpressions: [] };
    let best: NodeInfo | undefined;
    for (const n of nodes) {
      if (!schedulable(n) || !selectorMatches(selector, n.labels)) continue;
      const l = load.get(n.name) ?? 0;
      const bl = best ? (load.get(best.name) ?? 0) : Number.POSITIVE_INFINITY;
      if (l < bl || (l === bl && best && n.name < best.name)) best = n;
    }
    if (!best) {
      if (Object.keys(p.spec.nodeSelector).length > 0) {
        const wanted = Object.entries(p.spec.nodeSelector)
          .map(([k, v]) => `${k}=${v}`)
          .join(',');
        issues.at(p.source, `${p.specPath}.nodeSelector`, `no Ready, schedulable node matches ${wanted}`);
      } else
        issues.at(
          p.source,
          p.specPath,
          'no Ready, schedulable node to run on (all are cordoned or NotReady)',
        );
      continue;
    }
    placement.set(p, best.name);
    load.set(best.name, (load.get(best.name) ?? 0) + 1);
  }
  return placement;
}

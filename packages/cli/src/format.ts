/** kubectl's cell formats for the objects podnet prints (shared by `get` and `validate`). */
import type { ClusterState, LabelSelector, NodeInfo, PodInfo, ServiceInfo } from '@podnet/core';

export function nodeStatus(n: NodeInfo): string {
  return `${n.ready ? 'Ready' : 'NotReady'}${n.unschedulable ? ',SchedulingDisabled' : ''}`;
}

export function nodeRoles(n: NodeInfo): string {
  const prefix = 'node-role.kubernetes.io/';
  const roles = Object.keys(n.labels)
    .filter((k) => k.startsWith(prefix))
    .map((k) => k.slice(prefix.length))
    .filter((r) => r !== '')
    .sort();
  return roles.length > 0 ? roles.join(',') : '<none>';
}

export function podReady(p: PodInfo): string {
  const n = p.containers.length;
  return `${p.ready ? n : 0}/${n}`;
}

export function podStatus(p: PodInfo): string {
  return p.terminating ? 'Terminating' : p.phase;
}

/** PORT(S) as kubectl prints it: `80/TCP`, `80:30080/TCP`. */
export function servicePorts(s: ServiceInfo): string {
  if (s.ports.length === 0) return '<none>';
  return s.ports
    .map((p) => `${p.port}${p.nodePort !== undefined ? `:${p.nodePort}` : ''}/${p.protocol}`)
    .join(',');
}

export function clusterIP(s: ServiceInfo): string {
  if (s.type === 'ExternalName') return '<none>';
  if (s.headless) return 'None';
  return s.clusterIPs[0] ?? '<none>';
}

export function externalIP(s: ServiceInfo): string {
  if (s.type === 'ExternalName') return s.externalName ?? '<none>';
  const ips = [...s.loadBalancerIPs, ...s.externalIPs];
  if (ips.length > 0) return ips.join(',');
  return s.type === 'LoadBalancer' ? '<pending>' : '<none>';
}

export function mapSelector(sel: Record<string, string> | undefined): string {
  const entries = Object.entries(sel ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return entries.length > 0 ? entries.map(([k, v]) => `${k}=${v}`).join(',') : '<none>';
}

/** A LabelSelector as kubectl describes it: `app=web,tier in (a,b),!legacy`. */
export function labelSelectorText(sel: LabelSelector): string {
  const parts = Object.entries(sel.matchLabels).map(([k, v]) => `${k}=${v}`);
  for (const r of sel.matchExpressions) {
    if (r.operator === 'In') parts.push(`${r.key} in (${r.values.join(',')})`);
    else if (r.operator === 'NotIn') parts.push(`${r.key} notin (${r.values.join(',')})`);
    else if (r.operator === 'Exists') parts.push(r.key);
    else parts.push(`!${r.key}`);
  }
  return parts.length > 0 ? parts.join(',') : '<none>';
}

/** Addresses where the ingress controller is reached: the node IPs of its pods. */
export function ingressAddress(state: ClusterState, controllerNamespace: string): string {
  const nodes = new Set(state.pods.filter((p) => p.namespace === controllerNamespace).map((p) => p.node));
  return state.nodes
    .filter((n) => nodes.has(n.name))
    .map((n) => n.internalIPs[0])
    .join(',');
}

/** Manifests → ClusterState: parse, add addons, then derive what the control plane would. */
import { type ClusterState, type NamespaceInfo, objectKey, type PodInfo, sortBy } from '@podnet/core';
import { addonDocuments } from './addons.js';
import { allocateClusterIps, allocateNodePorts, allocatePodIps } from './allocate.js';
import type { PodDraft } from './drafts.js';
import { buildEndpointSlices } from './endpoint-slices.js';
import { Issues } from './issues.js';
import { type LoadOptions, loadManifests, type ManifestDocument } from './loader.js';
import { resolveNodes } from './nodes.js';
import { parseObjects } from './objects.js';
import { checkReferences } from './references.js';
import { schedulePods } from './scheduling.js';
import { expandWorkloads } from './workloads.js';

const BUILTIN_NAMESPACES = ['default', 'kube-node-lease', 'kube-public', 'kube-system'];

function toPodInfo(p: PodDraft, node: string, ips: string[]): PodInfo {
  const info: PodInfo = {
    namespace: p.namespace,
    name: p.name,
    uid: p.uid,
    node,
    ips,
    labels: p.labels,
    annotations: p.annotations,
    hostNetwork: p.spec.hostNetwork,
    containers: p.spec.containers,
    dnsPolicy: p.spec.dnsPolicy,
    phase: p.phase,
    ready: p.ready,
    terminating: p.terminating,
  };
  if (p.spec.hostname) info.hostname = p.spec.hostname;
  if (p.spec.subdomain) info.subdomain = p.spec.subdomain;
  if (p.spec.dnsConfig) info.dnsConfig = p.spec.dnsConfig;
  if (p.owner) info.owner = p.owner;
  return info;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !ArrayBuffer.isView(value) && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * The cluster the manifests describe. Pure: the same documents give the same state, every list
 * sorted. Throws `ManifestErrors` with every problem found; warnings are in `state.warnings`.
 */
export function buildClusterState(docs: ManifestDocument[]): ClusterState {
  const issues = new Issues();
  const parsed = parseObjects(docs, issues);
  if (!parsed.networkValid) issues.throwIfErrors();
  const { network, drafts } = parsed;
  parseObjects(addonDocuments(network, drafts, new Set(parsed.seen.keys())), issues, parsed);

  const nodes = resolveNodes(drafts.nodes, network, issues);
  if (drafts.nodes.length === 0 && ![...drafts.refused].some((k) => k.startsWith('Node/'))) {
    const files = [...new Set(docs.map((d) => d.file))];
    issues.error(
      { file: files.join(', ') || '(no manifests)' },
      'no Node objects: declare at least one v1 Node (podnet does not invent nodes)',
    );
  }

  const podDrafts = [...drafts.pods, ...expandWorkloads(drafts.workloads, nodes, drafts.pods, issues)];
  const placement = schedulePods(podDrafts, nodes, drafts.refused, issues);
  const ips = allocatePodIps(podDrafts, placement, nodes, issues);
  const pods = sortBy(
    podDrafts.flatMap((p) => {
      const node = placement.get(p);
      return node === undefined ? [] : [toPodInfo(p, node, ips.get(p) ?? [])];
    }),
    objectKey,
  );

  allocateClusterIps(drafts.services, network, issues);
  allocateNodePorts(drafts.services, network, issues);
  checkReferences(drafts, network.dns.serviceIP, issues);
  const endpointSlices = buildEndpointSlices(drafts.services, pods, nodes, drafts.endpointSlices, issues);
  issues.throwIfErrors();

  const namespaces = new Map<string, NamespaceInfo>();
  const used = [
    ...BUILTIN_NAMESPACES,
    ...pods.map((p) => p.namespace),
    ...drafts.services.map((s) => s.info.namespace),
    ...drafts.workloads.map((w) => w.namespace),
    ...drafts.ingresses.map((i) => i.info.namespace),
    ...drafts.networkPolicies.map((n) => n.info.namespace),
    ...drafts.secrets.map((s) => s.info.namespace),
    ...endpointSlices.map((s) => s.namespace),
  ];
  for (const name of used) namespaces.set(name, { name, labels: { 'kubernetes.io/metadata.name': name } });
  for (const n of drafts.namespaces)
    namespaces.set(n.name, { name: n.name, labels: { ...n.labels, 'kubernetes.io/metadata.name': n.name } });

  return deepFreeze({
    network,
    nodes,
    namespaces: sortBy([...namespaces.values()], (n) => n.name),
    pods,
    services: sortBy(
      drafts.services.map((s) => s.info),
      objectKey,
    ),
    endpointSlices,
    ingresses: sortBy(
      drafts.ingresses.map((i) => i.info),
      objectKey,
    ),
    ingressClasses: sortBy(
      drafts.ingressClasses.map((c) => c.info),
      (c) => c.name,
    ),
    networkPolicies: sortBy(
      drafts.networkPolicies.map((n) => n.info),
      objectKey,
    ),
    secrets: sortBy(
      drafts.secrets.map((s) => s.info),
      objectKey,
    ),
    warnings: issues.warnings,
  });
}

/** `loadManifests` then `buildClusterState`. */
export async function loadCluster(inputs: string[], options: LoadOptions = {}): Promise<ClusterState> {
  return buildClusterState(await loadManifests(inputs, options));
}

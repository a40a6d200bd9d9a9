/**
 * Workload controllers: Deployments (through their ReplicaSet), ReplicaSets, StatefulSets and
 * DaemonSets expand into pods named as the controllers name them, with deterministic suffixes.
 */
import { type NodeInfo, objectKey, selectorMatches, sortBy } from '@podnet/core';
import type { PodDraft, WorkloadDraft } from './drafts.js';
import type { Issues } from './issues.js';
import { deterministicUid, generateNames, podTemplateHash } from './names.js';
import { schedulable } from './nodes.js';
import { READY_ANNOTATION } from './object-context.js';

function podFrom(
  w: WorkloadDraft,
  name: string,
  extraLabels: Record<string, string>,
  owner: PodDraft['owner'],
): PodDraft {
  const { template } = w;
  const pod: PodDraft = {
    source: w.source,
    specPath: 'spec.template.spec',
    namespace: w.namespace,
    name,
    uid: deterministicUid('Pod', w.namespace, name),
    labels: { ...template.labels, ...extraLabels },
    annotations: { ...template.annotations },
    spec: {
      ...template.spec,
      containers: template.spec.containers.map((c) => ({ ...c, ports: c.ports.map((p) => ({ ...p })) })),
    },
    ips: [],
    ipsPath: 'status.podIPs',
    phase: 'Running',
    ready: template.annotations[READY_ANNOTATION] !== 'false',
    terminating: false,
  };
  if (owner) pod.owner = owner;
  return pod;
}

function replicaSetPods(
  w: WorkloadDraft,
  rsName: string,
  extra: Record<string, string>,
  taken: ReadonlySet<string>,
): PodDraft[] {
  const seeds = Array.from({ length: w.replicas }, (_, i) => `${w.namespace}/${rsName}/${i}`);
  const owner = { kind: w.kind === 'Deployment' ? 'Deployment' : 'ReplicaSet', name: w.name } as const;
  return generateNames(`${rsName}-`, seeds, taken).map((n) => podFrom(w, n, extra, owner));
}

export function expandWorkload(
  w: WorkloadDraft,
  nodes: readonly NodeInfo[],
  taken: ReadonlySet<string>,
): PodDraft[] {
  switch (w.kind) {
    case 'Deployment': {
      const hash = podTemplateHash(w.template.raw);
      return replicaSetPods(w, `${w.name}-${hash}`, { 'pod-template-hash': hash }, taken);
    }
    case 'ReplicaSet':
      return replicaSetPods(w, w.name, {}, taken);
    case 'StatefulSet': {
      const revision = `${w.name}-${podTemplateHash(w.template.raw)}`;
      return Array.from({ length: w.replicas }, (_, i) => {
        const ordinal = w.ordinalStart + i;
        const name = `${w.name}-${ordinal}`;
        const pod = podFrom(
          w,
          name,
          {
            'apps.kubernetes.io/pod-index': String(ordinal),
            'controller-revision-hash': revision,
            'statefulset.kubernetes.io/pod-name': name,
          },
          { kind: 'StatefulSet', name: w.name },
        );
        pod.spec.hostname = name;
        if (w.serviceName) pod.spec.subdomain = w.serviceName;
        return pod;
      });
    }
    case 'DaemonSet': {
      const revision = podTemplateHash(w.template.raw);
      const selector = { matchLabels: w.template.spec.nodeSelector, matchExpressions: [] };
      const targets = sortBy(
        nodes.filter((n) => schedulable(n) && selectorMatches(selector, n.labels)),
        (n) => n.name,
      );
      const names = generateNames(
        `${w.name}-`,
        targets.map((n) => `${w.namespace}/${w.name}/${n.name}`),
        taken,
      );
      return targets.map((n, i) => {
        const pod = podFrom(
          w,
          names[i],
          { 'controller-revision-hash': revision, 'pod-template-generation': '1' },
          { kind: 'DaemonSet', name: w.name },
        );
        pod.spec.nodeName = n.name;
        return pod;
      });
    }
  }
}

/** Pods of every workload; a generated name that clashes with a declared Pod is an error. */
export function expandWorkloads(
  workloads: readonly WorkloadDraft[],
  nodes: readonly NodeInfo[],
  declared: readonly PodDraft[],
  issues: Issues,
): PodDraft[] {
  const byKey = new Map(declared.map((p) => [objectKey(p), p]));
  const out: PodDraft[] = [];
  for (const w of sortBy(workloads, (x) => `${x.namespace}/${x.kind}/${x.name}`)) {
    const taken = new Set(
      [...byKey.keys()]
        .filter((k) => k.startsWith(`${w.namespace}/`))
        .map((k) => k.slice(w.namespace.length + 1)),
    );
    for (const pod of expandWorkload(w, nodes, taken)) {
      const key = objectKey(pod);
      const clash = byKey.get(key);
      if (clash) {
        issues.at(
          w.source,
          'metadata.name',
          `would create Pod ${key}, which clashes with ${clash.source.object} (${clash.source.file})`,
        );
        continue;
      }
      byKey.set(key, pod);
      out.push(pod);
    }
  }
  return out;
}

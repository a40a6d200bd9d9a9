/** Dispatches each document to its kind's parser, after the checks every object shares. */
import type {
  ClusterNetworkConfig,
  IngressClassInfo,
  IngressInfo,
  NetworkPolicyInfo,
  SecretInfo,
} from '@podnet/core';
import {
  type Drafts,
  type EndpointSliceDraft,
  emptyDrafts,
  type NamespaceDraft,
  type NodeDraft,
  type PodDraft,
  type ServiceDraft,
  type WorkloadDraft,
} from './drafts.js';
import { Field, type Scope } from './fields.js';
import type { Issues } from './issues.js';
import type { ManifestDocument } from './loader.js';
import { CLUSTER_NETWORK_API, parseClusterNetwork } from './network-config.js';
import type { ObjectContext } from './object-context.js';
import { parseEndpointSlice } from './parse-endpoint-slice.js';
import { parseIngress, parseIngressClass } from './parse-ingress.js';
import { parseNetworkPolicy } from './parse-network-policy.js';
import { parseNamespace, parseNode } from './parse-node.js';
import { parsePod } from './parse-pod.js';
import { parseSecret } from './parse-secret.js';
import { parseService } from './parse-service.js';
import { parseWorkload } from './parse-workload.js';
import {
  checkedString,
  dns1035Label,
  dns1123Label,
  dns1123Subdomain,
  readAnnotations,
  readLabels,
} from './validation.js';

interface KindSpec {
  apiVersion: string;
  namespaced: boolean;
  name: (s: string) => string | undefined;
  parse: (ctx: ObjectContext) => void;
}

const KINDS: Record<string, KindSpec> = {
  Node: { apiVersion: 'v1', namespaced: false, name: dns1123Subdomain, parse: parseNode },
  Namespace: { apiVersion: 'v1', namespaced: false, name: dns1123Label, parse: parseNamespace },
  Pod: { apiVersion: 'v1', namespaced: true, name: dns1123Subdomain, parse: parsePod },
  Service: { apiVersion: 'v1', namespaced: true, name: dns1035Label, parse: parseService },
  Secret: { apiVersion: 'v1', namespaced: true, name: dns1123Subdomain, parse: parseSecret },
  EndpointSlice: {
    apiVersion: 'discovery.k8s.io/v1',
    namespaced: true,
    name: dns1123Subdomain,
    parse: parseEndpointSlice,
  },
  Deployment: { apiVersion: 'apps/v1', namespaced: true, name: dns1123Subdomain, parse: parseWorkload },
  ReplicaSet: { apiVersion: 'apps/v1', namespaced: true, name: dns1123Subdomain, parse: parseWorkload },
  StatefulSet: { apiVersion: 'apps/v1', namespaced: true, name: dns1123Label, parse: parseWorkload },
  DaemonSet: { apiVersion: 'apps/v1', namespaced: true, name: dns1123Subdomain, parse: parseWorkload },
  Ingress: {
    apiVersion: 'networking.k8s.io/v1',
    namespaced: true,
    name: dns1123Subdomain,
    parse: parseIngress,
  },
  IngressClass: {
    apiVersion: 'networking.k8s.io/v1',
    namespaced: false,
    name: dns1123Subdomain,
    parse: parseIngressClass,
  },
  NetworkPolicy: {
    apiVersion: 'networking.k8s.io/v1',
    namespaced: true,
    name: dns1123Subdomain,
    parse: parseNetworkPolicy,
  },
};

export const SUPPORTED_KINDS = [...Object.keys(KINDS), 'ClusterNetwork'];

export interface ParsedObjects {
  network: ClusterNetworkConfig;
  /** False when the ClusterNetwork object had errors (nothing can be derived from it then). */
  networkValid: boolean;
  drafts: Drafts;
  /** `Kind/namespace/name` of every named object seen, with its file. */
  seen: Map<string, string>;
}

function documentLabel(doc: ManifestDocument): string {
  return doc.item === undefined
    ? `document ${doc.index + 1}`
    : `document ${doc.index + 1} items[${doc.item}]`;
}

function objectLabel(
  kind: string,
  namespace: string,
  name: string | undefined,
  doc: ManifestDocument,
): string {
  if (name === undefined) return `${kind} (${documentLabel(doc)})`;
  return namespace ? `${kind} ${namespace}/${name}` : `${kind} ${name}`;
}

/** `kind` and `apiVersion` of a document, checked; undefined when the document is to be skipped. */
function identify(doc: ManifestDocument, issues: Issues): { kind: string; spec?: KindSpec } | undefined {
  const root = new Field({ file: doc.file, object: documentLabel(doc), issues }, '', doc.object);
  const kind = root.get('kind').string(true);
  const apiVersion = root.get('apiVersion').string(true);
  if (kind === undefined || apiVersion === undefined) return undefined;
  const expected = kind === 'ClusterNetwork' ? CLUSTER_NETWORK_API : KINDS[kind]?.apiVersion;
  if (expected === undefined) {
    issues.warn(
      { file: doc.file, object: `${kind} (${documentLabel(doc)})` },
      `unknown kind ${kind} (apiVersion ${apiVersion}): ignored`,
    );
    return undefined;
  }
  if (apiVersion !== expected) {
    root.get('apiVersion').error(`${apiVersion} is not supported for kind ${kind} (use ${expected})`);
    return undefined;
  }
  return { kind, spec: KINDS[kind] };
}

function readNetwork(identified: { doc: ManifestDocument; id?: { kind: string } }[], issues: Issues) {
  let network: ClusterNetworkConfig | undefined;
  let networkFile = '';
  const before = issues.errors.length;
  for (const { doc, id } of identified) {
    if (id?.kind !== 'ClusterNetwork') continue;
    const rawName = (doc.object as { metadata?: { name?: unknown } }).metadata?.name;
    const scope: Scope = {
      file: doc.file,
      object: `ClusterNetwork ${typeof rawName === 'string' ? rawName : 'default'}`,
      issues,
    };
    const root = new Field(scope, '', doc.object);
    if (network) {
      root.error(`a second ClusterNetwork (the first is in ${networkFile}): a cluster has one`);
      continue;
    }
    network = parseClusterNetwork(root);
    networkFile = doc.file;
  }
  return {
    network: network ?? parseClusterNetwork(undefined),
    networkValid: issues.errors.length === before,
  };
}

/**
 * Parses and validates every document; problems go to `issues`, refused objects are left out.
 * With `into`, the documents join an earlier result (its network config and names).
 */
export function parseObjects(docs: ManifestDocument[], issues: Issues, into?: ParsedObjects): ParsedObjects {
  const identified = docs.map((doc) => ({ doc, id: identify(doc, issues) }));
  const result: ParsedObjects = into ?? {
    ...readNetwork(identified, issues),
    drafts: emptyDrafts(),
    seen: new Map(),
  };
  const { network, drafts, seen } = result;
  for (const { doc, id } of identified) {
    if (!id?.spec) continue;
    const { kind, spec } = id;
    const provisional = new Field(
      { file: doc.file, object: objectLabel(kind, '', undefined, doc), issues },
      '',
      doc.object,
    );
    const meta0 = provisional.get('metadata');
    const rawName = meta0.get('name').value;
    const rawNs = meta0.get('namespace').value;
    const name = typeof rawName === 'string' && rawName !== '' ? rawName : undefined;
    const namespace = spec.namespaced ? (typeof rawNs === 'string' && rawNs !== '' ? rawNs : 'default') : '';
    const scope: Scope = { file: doc.file, object: objectLabel(kind, namespace, name, doc), issues };
    const root = new Field(scope, '', doc.object);
    const before = issues.errors.length;
    const meta = root.get('metadata');
    meta.mapping(true);
    const nameField = meta.get('name');
    if (name === undefined) {
      nameField.string(true);
      if (meta.get('generateName').present)
        nameField.error('required (generateName is not supported: podnet needs stable names)');
    } else checkedString(nameField, spec.name);
    if (spec.namespaced) checkedString(meta.get('namespace'), dns1123Label);
    const labels = readLabels(meta.get('labels'));
    const annotations = readAnnotations(meta.get('annotations'));
    const uid = meta.get('uid').string();
    if (name === undefined) continue;
    const key = `${kind}/${namespace}/${name}`;
    const prev = seen.get(key);
    if (prev !== undefined) {
      nameField.error(`duplicate ${scope.object} (also defined in ${prev})`);
      continue;
    }
    seen.set(key, doc.file);
    const ctx: ObjectContext = {
      root,
      source: { file: doc.file, object: scope.object },
      kind,
      namespace,
      name,
      labels,
      annotations,
      network,
      drafts,
    };
    if (uid) ctx.uid = uid;
    if (issues.errors.length > before) {
      drafts.refused.add(key);
      continue;
    }
    spec.parse(ctx);
    if (issues.errors.length > before) {
      drafts.refused.add(key);
      removeLast(drafts, kind, namespace, name);
    }
  }
  return result;
}

/** Takes a refused object back out of the drafts (its parser may have added it before a later check failed). */
function removeLast(drafts: Drafts, kind: string, namespace: string, name: string): void {
  const named = (o: { namespace?: string; name: string }) =>
    (o.namespace ?? '') === namespace && o.name === name;
  const lists: Record<string, { list: unknown[]; id: (x: never) => { namespace?: string; name: string } }> = {
    Node: { list: drafts.nodes, id: (n: NodeDraft) => ({ name: n.name }) },
    Namespace: { list: drafts.namespaces, id: (n: NamespaceDraft) => ({ name: n.name }) },
    Pod: { list: drafts.pods, id: (p: PodDraft) => p },
    Service: { list: drafts.services, id: (s: ServiceDraft) => s.info },
    Secret: { list: drafts.secrets, id: (s: { info: SecretInfo }) => s.info },
    EndpointSlice: { list: drafts.endpointSlices, id: (s: EndpointSliceDraft) => s.info },
    Ingress: { list: drafts.ingresses, id: (s: { info: IngressInfo }) => s.info },
    IngressClass: {
      list: drafts.ingressClasses,
      id: (s: { info: IngressClassInfo }) => ({ name: s.info.name }),
    },
    NetworkPolicy: { list: drafts.networkPolicies, id: (s: { info: NetworkPolicyInfo }) => s.info },
  };
  const entry = lists[kind] ?? {
    list: drafts.workloads,
    id: (w: WorkloadDraft) => (w.kind === kind ? w : { name: '' }),
  };
  const i = entry.list.findIndex((x) => named(entry.id(x as never)));
  if (i >= 0) entry.list.splice(i, 1);
}

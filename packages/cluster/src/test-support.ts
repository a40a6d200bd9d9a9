/** Helpers for this package's tests: small manifests and a way to read their errors. */
import { type ClusterState, ManifestErrors } from '@podnet/core';
import { buildClusterState } from './build.js';
import { parseManifestText } from './loader.js';

export function node(name: string, extra = ''): string {
  return `apiVersion: v1\nkind: Node\nmetadata:\n  name: ${name}\n${extra}`;
}

export function nodes(...names: string[]): string {
  return names.map((n) => node(n)).join('---\n');
}

export function pod(
  name: string,
  opts: { node?: string; labels?: Record<string, string>; ports?: string; extra?: string } = {},
): string {
  const labels = Object.entries(opts.labels ?? {})
    .map(([k, v]) => `    ${k}: "${v}"`)
    .join('\n');
  return [
    'apiVersion: v1',
    'kind: Pod',
    'metadata:',
    `  name: ${name}`,
    labels ? `  labels:\n${labels}` : '',
    opts.extra ?? '',
    'spec:',
    opts.node ? `  nodeName: ${opts.node}` : '',
    '  containers:',
    '    - name: main',
    opts.ports ? `      ports:\n${opts.ports}` : '',
  ]
    .filter((l) => l !== '')
    .join('\n');
}

export function build(...docs: string[]): ClusterState {
  return buildClusterState(parseManifestText(docs.join('\n---\n'), 'test.yaml'));
}

/** The messages of the ManifestErrors a build throws ([] when it succeeds). */
export function errorsOf(...docs: string[]): string[] {
  try {
    build(...docs);
    return [];
  } catch (e) {
    if (e instanceof ManifestErrors) return e.errors.map((m) => m.message);
    throw e;
  }
}

/** ClusterNetwork with addons off unless `spec` says otherwise. */
export function network(spec: string): string {
  return `apiVersion: podnet.dev/v1alpha1\nkind: ClusterNetwork\nmetadata:\n  name: default\nspec:\n${spec}`;
}

export const NO_ADDONS = network('  addons: { dns: false, ingressController: false }\n');

/** Properties of the derivation over random clusters: deterministic, balanced, no shared pod IP. */
import { cidrContains, ManifestErrors, nthAddress, stableJson } from '@podnet/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildClusterState } from './build.js';
import { build, NO_ADDONS, node, pod } from './test-support.js';

const clusterArb = fc
  .record({
    nodes: fc.array(fc.boolean(), { minLength: 1, maxLength: 6 }),
    pods: fc.uniqueArray(
      fc.record({
        name: fc.stringMatching(/^[a-z][a-z0-9]{0,6}$/),
        pin: fc.option(fc.nat({ max: 5 }), { nil: undefined }),
        hostNetwork: fc.boolean(),
      }),
      { selector: (p) => p.name, maxLength: 30 },
    ),
  })
  .map(({ nodes, pods }) => ({
    // the first node is always schedulable so every unpinned pod has somewhere to go
    cordoned: nodes.map((c, i) => c && i > 0),
    pods: pods.map((p) => ({ ...p, pin: p.pin === undefined ? undefined : p.pin % nodes.length })),
  }));

function manifests(c: {
  cordoned: boolean[];
  pods: { name: string; pin?: number; hostNetwork: boolean }[];
}): string[] {
  const nodeDocs = c.cordoned.map((cordoned, i) =>
    node(`node-${i}`, cordoned ? 'spec:\n  unschedulable: true\n' : ''),
  );
  const podDocs = c.pods.map((p) => {
    const y = pod(p.name, p.pin === undefined ? {} : { node: `node-${p.pin}` });
    return p.hostNetwork ? y.replace('spec:\n', 'spec:\n  hostNetwork: true\n') : y;
  });
  return [NO_ADDONS, ...nodeDocs, ...podDocs];
}

describe('derivation properties', () => {
  it('is deterministic, keeps scheduling balanced and never gives two pods one IP', () => {
    fc.assert(
      fc.property(clusterArb, (c) => {
        const docs = manifests(c);
        const s = build(...docs);
        expect(stableJson(build(...docs))).toBe(stableJson(s));
        expect(s.pods).toHaveLength(c.pods.length);

        const seen = new Set<string>();
        for (const p of s.pods) {
          const n = s.nodes.find((x) => x.name === p.node);
          if (!n) throw new Error(`pod ${p.name} on unknown node ${p.node}`);
          if (p.hostNetwork) {
            expect(p.ips).toEqual(n.internalIPs);
            continue;
          }
          expect(cidrContains(n.podCIDRs[0], p.ips[0])).toBe(true);
          expect([nthAddress(n.podCIDRs[0], 0), nthAddress(n.podCIDRs[0], 1)]).not.toContain(p.ips[0]);
          expect(seen.has(p.ips[0])).toBe(false);
          seen.add(p.ips[0]);
        }

        const load = new Map(s.nodes.map((n) => [n.name, s.pods.filter((p) => p.node === n.name).length]));
        const schedulable = s.nodes.filter((n) => !n.unschedulable).map((n) => n.name);
        const minLoad = Math.min(...schedulable.map((n) => load.get(n) ?? 0));
        for (const p of c.pods.filter((x) => x.pin === undefined)) {
          const placed = s.pods.find((x) => x.name === p.name)?.node ?? '';
          expect(schedulable).toContain(placed);
          // greedy least-loaded: a node that took an unscheduled pod ends at most one above the least loaded
          expect(load.get(placed) ?? 0).toBeLessThanOrEqual(minLoad + 1);
        }
      }),
      { numRuns: 60 },
    );
  });
});

const KINDS: [string, string][] = [
  ['v1', 'Node'],
  ['v1', 'Namespace'],
  ['v1', 'Pod'],
  ['v1', 'Service'],
  ['v1', 'Secret'],
  ['discovery.k8s.io/v1', 'EndpointSlice'],
  ['apps/v1', 'Deployment'],
  ['apps/v1', 'StatefulSet'],
  ['apps/v1', 'DaemonSet'],
  ['networking.k8s.io/v1', 'Ingress'],
  ['networking.k8s.io/v1', 'IngressClass'],
  ['networking.k8s.io/v1', 'NetworkPolicy'],
  ['podnet.dev/v1alpha1', 'ClusterNetwork'],
];

/** Values shaped like manifest fields, with wrong types mixed in. */
const fieldValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constantFrom('10.244.0.5', '10.96.0.0/12', 'None', 'TCP', 'http', 'app', 'In', '', 'x/y', 'fd00::1'),
    fc.integer({ min: -2, max: 70000 }),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(
      fc.constantFrom('name', 'port', 'ports', 'selector', 'matchLabels', 'template', 'spec', 'metadata', 'labels', 'containers',
        'containerPort', 'targetPort', 'protocol', 'clusterIP', 'type', 'addresses', 'podCIDR', 'nodeName', 'rules', 'http',
        'paths', 'backend', 'service', 'ipBlock', 'cidr', 'from', 'ingress', 'data', 'replicas', 'clusterCIDRs', 'dns'),
      tie('value'),
      { maxKeys: 4 },
    ),
  ),
})).value;

describe('robustness', () => {
  it('any manifest shape yields a state or ManifestErrors, never a crash', () => {
    const doc = fc.record({
      kind: fc.constantFrom(...KINDS),
      name: fc.constantFrom('a', 'b', 'Bad_Name'),
      spec: fieldValue,
      status: fieldValue,
      extra: fieldValue,
    });
    fc.assert(
      fc.property(fc.array(doc, { minLength: 1, maxLength: 4 }), (docs) => {
        const objects = docs.map((d, i) => ({
          file: 'fuzz.yaml',
          index: i,
          line: 1,
          object: {
            apiVersion: d.kind[0],
            kind: d.kind[1],
            metadata: { name: d.name },
            spec: d.spec,
            status: d.status,
            data: d.extra,
            endpoints: d.extra,
            ports: d.spec,
            addressType: 'IPv4',
          },
        }));
        objects.push({ file: 'fuzz.yaml', index: 99, line: 1, object: { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n0' } } } as never);
        try {
          buildClusterState(objects);
        } catch (e) {
          if (!(e instanceof ManifestErrors)) throw e;
        }
      }),
      { numRuns: 300 },
    );
  });
});

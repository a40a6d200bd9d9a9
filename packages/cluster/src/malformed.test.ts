/**
 * Malformed manifests: each case is a small file; the load must fail with a one-line message that
 * names the file, the object and the field path.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManifestErrors } from '@podnet/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCluster } from './build.js';

const NODE = 'apiVersion: v1\nkind: Node\nmetadata:\n  name: node-1\n---\n';
const SVC = (spec: string, name = 'web') =>
  `${NODE}apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\nspec:\n  selector: { app: web }\n${spec}`;
const POD = (spec: string, meta = '') =>
  `${NODE}apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n${meta}spec:\n${spec}`;
const CN = (spec: string) =>
  `${NODE}apiVersion: podnet.dev/v1alpha1\nkind: ClusterNetwork\nmetadata:\n  name: default\nspec:\n${spec}`;
const DEPLOY = (spec: string) =>
  `${NODE}apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n${spec}`;
const TEMPLATE =
  '  template:\n    metadata:\n      labels: { app: web }\n    spec:\n      containers: [{ name: web }]\n';
const CONTAINER = '  containers:\n    - name: main\n';

interface Case {
  name: string;
  yaml: string;
  /** The exact line, or a pattern for messages that quote a parser's own words. */
  message: string | RegExp;
}

const cases: Case[] = [
  {
    name: 'YAML syntax error names the line',
    yaml: 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: [p\n',
    message:
      /^bad\.yaml: line 5, column 1: YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a \]$/,
  },
  {
    name: 'a document that is not an object',
    yaml: '- just\n- a list\n',
    message: 'bad.yaml: line 1: document 1 must be a Kubernetes object (a mapping), got a list',
  },
  {
    name: 'service port out of range',
    yaml: SVC('  ports:\n    - port: 70000\n'),
    message: 'bad.yaml: Service default/web: spec.ports[0].port: must be 1-65535',
  },
  {
    name: 'port written as a string',
    yaml: SVC('  ports:\n    - port: "80"\n'),
    message: 'bad.yaml: Service default/web: spec.ports[0].port: must be an integer, got string "80"',
  },
  {
    name: 'numeric targetPort in quotes is not a port name',
    yaml: SVC('  ports:\n    - port: 80\n      targetPort: "8080"\n'),
    message:
      'bad.yaml: Service default/web: spec.ports[0].targetPort: invalid port name "8080": must contain at least one letter (write a port number without quotes)',
  },
  {
    name: 'unknown protocol',
    yaml: SVC('  ports:\n    - port: 80\n      protocol: HTTP\n'),
    message:
      'bad.yaml: Service default/web: spec.ports[0].protocol: unsupported value "HTTP": must be one of TCP, UDP, SCTP',
  },
  {
    name: 'multi-port service without port names',
    yaml: SVC('  ports:\n    - port: 80\n    - port: 443\n'),
    message:
      'bad.yaml: Service default/web: spec.ports[1].name: required when the Service has more than one port',
  },
  {
    name: 'missing metadata.name',
    yaml: `${NODE}apiVersion: v1\nkind: Pod\nmetadata:\n  labels: { app: x }\nspec:\n${CONTAINER}`,
    message: 'bad.yaml: Pod (document 2): metadata.name: required',
  },
  {
    name: 'name that is not a DNS-1123 subdomain',
    yaml: `${NODE}apiVersion: v1\nkind: Pod\nmetadata:\n  name: Web_1\nspec:\n${CONTAINER}`,
    message:
      "bad.yaml: Pod default/Web_1: metadata.name: invalid name \"Web_1\": must be a lowercase RFC 1123 subdomain (lowercase letters, digits, '-' and '.', starting and ending with a letter or digit)",
  },
  {
    name: 'service name that is not a DNS-1035 label',
    yaml: SVC('  ports:\n    - port: 80\n', '1web'),
    message:
      'bad.yaml: Service default/1web: metadata.name: invalid name "1web": must be a lowercase RFC 1035 label (lowercase letters, digits and \'-\', starting with a letter and ending with a letter or digit)',
  },
  {
    name: 'duplicate kind/namespace/name',
    yaml: `${SVC('  ports:\n    - port: 80\n')}\n---\n${SVC('  ports:\n    - port: 81\n').slice(NODE.length)}`,
    message:
      'bad.yaml: Service default/web: metadata.name: duplicate Service default/web (also defined in bad.yaml)',
  },
  {
    name: 'invalid label key in a service selector',
    yaml: `${NODE}apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: { "-app": web }\n  ports: [{ port: 80 }]\n`,
    message:
      "bad.yaml: Service default/web: spec.selector[-app]: invalid label key \"-app\": the name must be 1-63 characters of letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
  },
  {
    name: 'invalid label value',
    yaml: POD(CONTAINER, '  labels:\n    app: "not ok!"\n'),
    message:
      "bad.yaml: Pod default/p: metadata.labels[app]: invalid label value \"not ok!\": must be at most 63 characters of letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
  },
  {
    name: 'label value that is a number',
    yaml: POD(CONTAINER, '  labels:\n    version: 1\n'),
    message: 'bad.yaml: Pod default/p: metadata.labels[version]: must be a string, got number 1',
  },
  {
    name: 'unknown selector operator',
    yaml: DEPLOY(
      `  selector:\n    matchExpressions:\n      - { key: app, operator: Equals, values: [web] }\n${TEMPLATE}`,
    ),
    message:
      'bad.yaml: Deployment default/web: spec.selector.matchExpressions[0].operator: unknown operator "Equals": must be one of In, NotIn, Exists, DoesNotExist',
  },
  {
    name: 'In without values',
    yaml: DEPLOY(`  selector:\n    matchExpressions:\n      - { key: app, operator: In }\n${TEMPLATE}`),
    message:
      'bad.yaml: Deployment default/web: spec.selector.matchExpressions[0].values: must be non-empty for operator In',
  },
  {
    name: 'Deployment without selector',
    yaml: DEPLOY(TEMPLATE),
    message: 'bad.yaml: Deployment default/web: spec.selector: required',
  },
  {
    name: 'selector that does not match the template',
    yaml: DEPLOY(`  selector:\n    matchLabels: { app: api }\n${TEMPLATE}`),
    message:
      'bad.yaml: Deployment default/web: spec.template.metadata.labels: does not match spec.selector: the workload would not own its pods',
  },
  {
    name: 'replicas of the wrong type',
    yaml: DEPLOY(`  replicas: three\n  selector:\n    matchLabels: { app: web }\n${TEMPLATE}`),
    message: 'bad.yaml: Deployment default/web: spec.replicas: must be an integer, got string "three"',
  },
  {
    name: 'pod without containers',
    yaml: POD('  nodeName: node-1\n'),
    message: 'bad.yaml: Pod default/p: spec.containers: required',
  },
  {
    name: 'container port out of range',
    yaml: POD('  containers:\n    - name: main\n      ports:\n        - containerPort: 0\n'),
    message: 'bad.yaml: Pod default/p: spec.containers[0].ports[0].containerPort: must be 1-65535',
  },
  {
    name: 'duplicate container port names',
    yaml: POD(
      '  containers:\n    - name: main\n      ports:\n        - { name: http, containerPort: 80 }\n        - { name: http, containerPort: 81 }\n',
    ),
    message:
      'bad.yaml: Pod default/p: spec.containers[0].ports[1].name: duplicate port name "http" (also spec.containers[0].ports[0].name)',
  },
  {
    name: 'spec of the wrong type',
    yaml: `${NODE}apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec: web\n`,
    message: 'bad.yaml: Pod default/p: spec: must be an object, got string "web"',
  },
  {
    name: 'pod pinned to an unknown node',
    yaml: POD(`  nodeName: node-9\n${CONTAINER}`),
    message: 'bad.yaml: Pod default/p: spec.nodeName: Node "node-9" not found (nodes: node-1)',
  },
  {
    name: 'pod IP that is not an IP',
    yaml: `${POD(CONTAINER)}status:\n  podIP: 10.244.0.300\n`,
    message: 'bad.yaml: Pod default/p: status.podIP: invalid IP address "10.244.0.300"',
  },
  {
    name: 'pod IP outside the cluster CIDRs',
    yaml: `${POD(CONTAINER)}status:\n  podIP: 10.1.0.5\n`,
    message: 'bad.yaml: Pod default/p: status.podIP: 10.1.0.5 is not in the clusterCIDRs (10.244.0.0/16)',
  },
  {
    name: 'clusterIP outside the service CIDR',
    yaml: SVC('  clusterIP: 10.0.0.5\n  ports: [{ port: 80 }]\n'),
    message:
      'bad.yaml: Service default/web: spec.clusterIP: 10.0.0.5 is not in the serviceCIDRs (10.96.0.0/12)',
  },
  {
    name: 'duplicate clusterIP',
    yaml: `${SVC('  clusterIP: 10.96.0.50\n  ports: [{ port: 80 }]\n', 'api')}\n---\n${SVC('  clusterIP: 10.96.0.50\n  ports: [{ port: 80 }]\n').slice(NODE.length)}`,
    message:
      'bad.yaml: Service default/web: spec.clusterIP: 10.96.0.50 is already allocated to Service default/api',
  },
  {
    name: 'clusterIP taken from the DNS service',
    yaml: SVC('  clusterIP: 10.96.0.10\n  ports: [{ port: 80 }]\n'),
    message:
      'bad.yaml: Service default/web: spec.clusterIP: 10.96.0.10 is already allocated to Service kube-system/kube-dns (dns.serviceIP)',
  },
  {
    name: 'nodePort outside the range',
    yaml: SVC('  type: NodePort\n  ports: [{ port: 80, nodePort: 8080 }]\n'),
    message:
      'bad.yaml: Service default/web: spec.ports[0].nodePort: 8080 is outside serviceNodePortRange 30000-32767',
  },
  {
    name: 'nodePort on a ClusterIP service',
    yaml: SVC('  ports: [{ port: 80, nodePort: 30080 }]\n'),
    message:
      'bad.yaml: Service default/web: spec.ports[0].nodePort: may only be set for type NodePort or LoadBalancer, not ClusterIP',
  },
  {
    name: 'bad cluster CIDR',
    yaml: CN('  clusterCIDRs: [10.244.0.0/33]\n'),
    message:
      'bad.yaml: ClusterNetwork default: spec.clusterCIDRs[0]: invalid CIDR "10.244.0.0/33": prefix length must be 0-32',
  },
  {
    name: 'service CIDR with host bits set',
    yaml: CN('  serviceCIDRs: [10.96.0.1/12]\n'),
    message:
      'bad.yaml: ClusterNetwork default: spec.serviceCIDRs[0]: invalid CIDR "10.96.0.1/12": host bits are set (did you mean 10.96.0.0/12?)',
  },
  {
    name: 'cluster and service CIDRs overlap',
    yaml: CN('  clusterCIDRs: [10.0.0.0/8]\n  nodeCIDRMaskSize: 24\n'),
    message:
      'bad.yaml: ClusterNetwork default: spec.serviceCIDRs[0]: 10.96.0.0/12 overlaps spec.clusterCIDRs[0] (10.0.0.0/8)',
  },
  {
    name: 'underlay overlaps the cluster CIDR',
    yaml: CN('  underlay: { subnets: [10.244.50.0/24] }\n'),
    message:
      'bad.yaml: ClusterNetwork default: spec.underlay.subnets[0]: 10.244.50.0/24 overlaps spec.clusterCIDRs[0] (10.244.0.0/16)',
  },
  {
    name: 'DNS service IP outside the service CIDR',
    yaml: CN('  dns: { serviceIP: 10.0.0.10 }\n'),
    message:
      'bad.yaml: ClusterNetwork default: spec.dns.serviceIP: 10.0.0.10 is not in the serviceCIDRs (10.96.0.0/12)',
  },
  {
    name: 'node address outside every underlay subnet',
    yaml: 'apiVersion: v1\nkind: Node\nmetadata:\n  name: node-1\nstatus:\n  addresses:\n    - { type: InternalIP, address: 10.1.2.3 }\n',
    message:
      'bad.yaml: Node node-1: status.addresses[0].address: 10.1.2.3 is not in any underlay subnet (192.168.50.0/24)',
  },
  {
    name: 'no Node objects',
    yaml: 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n',
    message: 'bad.yaml: no Node objects: declare at least one v1 Node (podnet does not invent nodes)',
  },
  {
    name: 'unsupported apiVersion of a known kind',
    yaml: `${NODE}apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata:\n  name: x\n`,
    message:
      'bad.yaml: document 2: apiVersion: extensions/v1beta1 is not supported for kind Ingress (use networking.k8s.io/v1)',
  },
  {
    name: 'missing kind',
    yaml: `${NODE}apiVersion: v1\nmetadata:\n  name: x\n`,
    message: 'bad.yaml: document 2: kind: required',
  },
  {
    name: 'Ingress path without pathType',
    yaml: `${NODE}apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: x\nspec:\n  rules:\n    - http:\n        paths:\n          - path: /\n            backend: { service: { name: web, port: { number: 80 } } }\n`,
    message:
      'bad.yaml: Ingress default/x: spec.rules[0].http.paths[0].pathType: required (Exact, Prefix or ImplementationSpecific)',
  },
  {
    name: 'NetworkPolicy except outside its cidr',
    yaml: `${NODE}apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: x\nspec:\n  podSelector: {}\n  ingress:\n    - from:\n        - ipBlock: { cidr: 10.0.0.0/16, except: [10.1.0.0/24] }\n`,
    message:
      'bad.yaml: NetworkPolicy default/x: spec.ingress[0].from[0].ipBlock.except[0]: 10.1.0.0/24 must be a strict subset of ipBlock.cidr 10.0.0.0/16',
  },
  {
    name: 'Secret data that is not base64',
    yaml: `${NODE}apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  key: not base64!\n`,
    message: 'bad.yaml: Secret default/s: data[key]: must be base64 (use stringData for plain text)',
  },
  {
    name: 'nodeSelector no node matches',
    yaml: DEPLOY(
      '  selector:\n    matchLabels: { app: web }\n  template:\n    metadata:\n      labels: { app: web }\n    spec:\n      nodeSelector: { disk: ssd }\n      containers: [{ name: web }]\n',
    ),
    message:
      'bad.yaml: Deployment default/web: spec.template.spec.nodeSelector: no Ready, schedulable node matches disk=ssd',
  },
];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'podnet-malformed-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function loadErrors(yaml: string): Promise<string[]> {
  await writeFile(join(dir, 'bad.yaml'), yaml);
  try {
    await loadCluster(['bad.yaml'], { cwd: dir });
  } catch (e) {
    if (e instanceof ManifestErrors) return e.errors.map((m) => m.message);
    throw e;
  }
  return [];
}

describe('malformed manifests', () => {
  it('has at least 25 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(25);
  });

  it.each(cases)('$name', async ({ yaml, message }) => {
    const lines = await loadErrors(yaml);
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(l).not.toContain('\n');
    if (typeof message === 'string') expect(lines).toContain(message);
    else
      expect(
        lines.some((l) => message.test(l)),
        lines.join('\n'),
      ).toBe(true);
  });

  it('reports every problem of one load together', async () => {
    const yaml = `${SVC('  ports:\n    - port: 0\n')}\n---\n${POD(`  nodeName: node-9\n${CONTAINER}`).slice(NODE.length)}`;
    const lines = await loadErrors(yaml);
    expect(lines).toEqual([
      'bad.yaml: Service default/web: spec.ports[0].port: must be 1-65535',
      'bad.yaml: Pod default/p: spec.nodeName: Node "node-9" not found (nodes: node-1)',
    ]);
  });

  it('warns about unknown kinds instead of failing', async () => {
    await writeFile(join(dir, 'ok.yaml'), `${NODE}apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n`);
    const state = await loadCluster(['ok.yaml'], { cwd: dir });
    expect(state.warnings).toContainEqual({
      file: 'ok.yaml',
      object: 'ConfigMap (document 2)',
      message: 'unknown kind ConfigMap (apiVersion v1): ignored',
    });
  });
});

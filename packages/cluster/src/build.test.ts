import { readFileSync } from 'node:fs';
import { cidrContains, type ClusterState, ipFamily, nthAddress, objectKey, stableJson } from '@podnet/core';
import { PortAllocator, ServiceIpAllocator } from '@podnet/ipam';
import { describe, expect, it } from 'vitest';
import { buildClusterState } from './build.js';
import { parseManifestText } from './loader.js';
import { SAFE_ALPHABET } from './names.js';
import { build, errorsOf, NO_ADDONS, network, node, nodes, pod } from './test-support.js';

const SAFE = `[${SAFE_ALPHABET}]`;
const examples = new URL('../../../examples/', import.meta.url);
const example = (name: string) =>
  buildClusterState(parseManifestText(readFileSync(new URL(name, examples), 'utf8'), name));

const deployment = (name: string, replicas: number, extra = '', ports = '') =>
  [
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    `  name: ${name}`,
    'spec:',
    `  replicas: ${replicas}`,
    '  selector:',
    `    matchLabels: { app: ${name} }`,
    '  template:',
    '    metadata:',
    `      labels: { app: ${name} }`,
    '    spec:',
    extra,
    '      containers:',
    `        - name: ${name}`,
    ports,
  ]
    .filter((l) => l !== '')
    .join('\n');

const service = (name: string, ports: string, extra = '') =>
  `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\nspec:\n  selector: { app: ${name} }\n${extra}  ports:\n${ports}`;

const podsOn = (s: ClusterState, nodeName: string) =>
  s.pods.filter((p) => p.node === nodeName).map((p) => p.name);

describe('examples', () => {
  it('two-node.yaml: nodes, spread web pods, the web Service and its endpoints, the DNS addon', () => {
    const s = example('two-node.yaml');
    expect(s.nodes.map((n) => [n.name, n.internalIPs, n.podCIDRs])).toEqual([
      ['node-1', ['192.168.50.10'], ['10.244.0.0/24']],
      ['node-2', ['192.168.50.11'], ['10.244.1.0/24']],
    ]);
    const web = s.pods.filter((p) => p.labels.app === 'web');
    expect(web).toHaveLength(3);
    expect(web.some((p) => p.node === 'node-2')).toBe(true);
    expect(s.pods.find((p) => p.name === 'client')).toMatchObject({ node: 'node-1', ips: ['10.244.0.2'] });
    const svc = s.services.find((x) => x.name === 'web');
    expect(svc).toMatchObject({
      type: 'ClusterIP',
      ports: [{ name: 'http', port: 80, targetPort: 'http' }],
    });
    // dynamic allocation takes the upper band of the service CIDR (KEP-3070)
    expect(svc?.clusterIPs).toHaveLength(1);
    expect(new ServiceIpAllocator('10.96.0.0/12').inStaticBand(svc!.clusterIPs[0])).toBe(false);
    const slices = s.endpointSlices.filter((e) => e.serviceName === 'web');
    expect(slices).toHaveLength(1);
    expect(slices[0].ports).toEqual([{ name: 'http', port: 8080, protocol: 'TCP' }]);
    expect(slices[0].endpoints.map((e) => e.addresses[0]).sort()).toEqual(web.map((p) => p.ips[0]).sort());
    expect(s.services.find((x) => x.name === 'kube-dns')?.clusterIPs).toEqual(['10.96.0.10']);
    expect(s.pods.filter((p) => p.namespace === 'kube-system').map((p) => p.owner)).toEqual([
      { kind: 'Deployment', name: 'coredns' },
      { kind: 'Deployment', name: 'coredns' },
    ]);
    expect(s.warnings).toEqual([]);
  });

  it('three-node-two-subnets.yaml: the labelled node gets an address in its own subnet', () => {
    const s = example('three-node-two-subnets.yaml');
    expect(s.nodes.map((n) => [n.name, n.underlaySubnet, n.internalIPs[0]])).toEqual([
      ['node-1', '192.168.50.0/24', '192.168.50.10'],
      ['node-2', '192.168.50.0/24', '192.168.50.11'],
      ['node-3', '192.168.60.0/24', '192.168.60.10'],
    ]);
    expect(new Set(s.pods.filter((p) => p.labels.app === 'web').map((p) => p.node)).size).toBe(3);
  });
});

describe('workload controllers', () => {
  it('names Deployment pods <name>-<pod-template-hash>-<suffix> and labels them with the hash', () => {
    const s = build(NO_ADDONS, nodes('n1'), deployment('web', 3));
    expect(s.pods).toHaveLength(3);
    const hashes = new Set<string>();
    for (const p of s.pods) {
      expect(p.name).toMatch(new RegExp(`^web-${SAFE}{6,10}-${SAFE}{5}$`));
      const hash = p.name.split('-')[1];
      expect(p.labels['pod-template-hash']).toBe(hash);
      hashes.add(hash);
      expect(p.owner).toEqual({ kind: 'Deployment', name: 'web' });
    }
    expect(hashes.size).toBe(1);
  });

  it('changes the pod-template-hash when the template changes, not when replicas do', () => {
    const hashOf = (s: ClusterState) => s.pods[0].labels['pod-template-hash'];
    const a = build(NO_ADDONS, nodes('n1'), deployment('web', 1));
    const b = build(NO_ADDONS, nodes('n1'), deployment('web', 2));
    const c = build(NO_ADDONS, nodes('n1'), deployment('web', 1, '      hostNetwork: true'));
    expect(hashOf(a)).toBe(hashOf(b));
    expect(hashOf(a)).not.toBe(hashOf(c));
    expect(b.pods.map((p) => p.name)).toContain(a.pods[0].name);
  });

  it('names StatefulSet pods <name>-<ordinal> with hostname and subdomain', () => {
    const sts = [
      'apiVersion: apps/v1',
      'kind: StatefulSet',
      'metadata:',
      '  name: db',
      'spec:',
      '  serviceName: db',
      '  replicas: 3',
      '  selector: { matchLabels: { app: db } }',
      '  template:',
      '    metadata: { labels: { app: db } }',
      '    spec:',
      '      containers: [{ name: db, ports: [{ name: pg, containerPort: 5432 }] }]',
    ].join('\n');
    const headless = service('db', '    - { name: pg, port: 5432, targetPort: pg }\n', '  clusterIP: None\n');
    const s = build(NO_ADDONS, nodes('n1', 'n2'), sts, headless);
    expect(
      s.pods.map((p) => [p.name, p.hostname, p.subdomain, p.labels['statefulset.kubernetes.io/pod-name']]),
    ).toEqual([
      ['db-0', 'db-0', 'db', 'db-0'],
      ['db-1', 'db-1', 'db', 'db-1'],
      ['db-2', 'db-2', 'db', 'db-2'],
    ]);
    const svc = s.services[0];
    expect(svc).toMatchObject({ headless: true, clusterIPs: [] });
    expect(s.endpointSlices[0].endpoints.map((e) => e.hostname).sort()).toEqual(['db-0', 'db-1', 'db-2']);
  });

  it('puts one DaemonSet pod on each schedulable node matching its nodeSelector', () => {
    const ds = [
      'apiVersion: apps/v1',
      'kind: DaemonSet',
      'metadata: { name: agent }',
      'spec:',
      '  selector: { matchLabels: { app: agent } }',
      '  template:',
      '    metadata: { labels: { app: agent } }',
      '    spec:',
      '      nodeSelector: { role: worker }',
      '      containers: [{ name: agent }]',
    ].join('\n');
    const s = build(
      NO_ADDONS,
      'apiVersion: v1\nkind: Node\nmetadata:\n  name: a\n  labels: { role: worker }\nspec:\n  unschedulable: true\n',
      node('b'),
      'apiVersion: v1\nkind: Node\nmetadata:\n  name: c\n  labels: { role: worker }\n',
      'apiVersion: v1\nkind: Node\nmetadata:\n  name: d\n  labels: { role: worker }\n',
      'apiVersion: v1\nkind: Node\nmetadata:\n  name: e\n  labels: { role: worker }\nspec:\n  unschedulable: true\n',
      ds,
    );
    expect(s.pods.map((p) => p.node)).toEqual(['c', 'd']);
    for (const p of s.pods) expect(p.name).toMatch(new RegExp(`^agent-${SAFE}{5}$`));
    expect(s.pods[0].owner).toEqual({ kind: 'DaemonSet', name: 'agent' });
  });
});

describe('scheduling', () => {
  it('spreads pods to the least loaded node, ties by node name, after pinned pods', () => {
    const s = build(
      NO_ADDONS,
      nodes('n1', 'n2', 'n3'),
      pod('pinned', { node: 'n1' }),
      pod('a'),
      pod('b'),
      pod('c'),
      pod('d'),
    );
    // pinned first (n1: 1); then a → n2, b → n3 (empty, by name), c → n1 (all at 1, by name), d → n2
    expect(podsOn(s, 'n1')).toEqual(['c', 'pinned']);
    expect(podsOn(s, 'n2')).toEqual(['a', 'd']);
    expect(podsOn(s, 'n3')).toEqual(['b']);
  });

  it('respects nodeSelector, unschedulable and NotReady nodes', () => {
    const s = build(
      NO_ADDONS,
      'apiVersion: v1\nkind: Node\nmetadata:\n  name: ssd\n  labels: { disk: ssd }\n',
      node('cordoned', 'spec:\n  unschedulable: true\n'),
      node('down', 'status:\n  conditions: [{ type: Ready, status: "False" }]\n'),
      node('plain'),
      pod('fast', { extra: '' }).replace('spec:\n', 'spec:\n  nodeSelector: { disk: ssd }\n'),
      pod('x'),
      pod('y'),
      pod('z'),
    );
    expect(s.pods.find((p) => p.name === 'fast')?.node).toBe('ssd');
    expect(podsOn(s, 'cordoned')).toEqual([]);
    expect(podsOn(s, 'down')).toEqual([]);
    expect(s.nodes.find((n) => n.name === 'down')?.ready).toBe(false);
  });

  it('still runs pods pinned to a cordoned node (as the kubelet does)', () => {
    const s = build(NO_ADDONS, node('n1', 'spec:\n  unschedulable: true\n'), pod('p', { node: 'n1' }));
    expect(s.pods[0].node).toBe('n1');
  });
});

describe('addresses', () => {
  it('assigns podCIDRs in node-name order, honouring given ones', () => {
    const s = build(NO_ADDONS, node('c'), node('a'), node('b', 'spec:\n  podCIDR: 10.244.0.0/24\n'));
    expect(s.nodes.map((n) => [n.name, n.podCIDRs[0]])).toEqual([
      ['a', '10.244.1.0/24'],
      ['b', '10.244.0.0/24'],
      ['c', '10.244.2.0/24'],
    ]);
  });

  it('gives nodes without an InternalIP nthAddress(subnet, 10+i), skipping taken addresses', () => {
    const s = build(
      NO_ADDONS.replace('spec:\n', 'spec:\n  underlay: { subnets: [192.168.50.0/24, 192.168.60.0/24] }\n'),
      node('a'),
      node('b', 'status:\n  addresses: [{ type: InternalIP, address: 192.168.50.11 }]\n'),
      node('c'),
      'apiVersion: v1\nkind: Node\nmetadata:\n  name: d\n  annotations: { podnet.dev/underlay-subnet: 192.168.60.0/24 }\n',
      node('e', 'status:\n  addresses: [{ type: InternalIP, address: 192.168.60.77 }]\n'),
    );
    expect(s.nodes.map((n) => [n.name, n.internalIPs[0], n.underlaySubnet])).toEqual([
      ['a', '192.168.50.10', '192.168.50.0/24'],
      ['b', '192.168.50.11', '192.168.50.0/24'],
      ['c', '192.168.50.12', '192.168.50.0/24'],
      ['d', '192.168.60.10', '192.168.60.0/24'],
      ['e', '192.168.60.77', '192.168.60.0/24'],
    ]);
  });

  it('gives pods .2 upward in name order, keeps status.podIP, and hostNetwork pods the node IP', () => {
    const s = build(
      NO_ADDONS,
      node('n1'),
      pod('b', { node: 'n1' }),
      `${pod('a', { node: 'n1' })}\nstatus:\n  podIP: 10.244.0.3\n`,
      pod('c', { node: 'n1' }),
      pod('host', { node: 'n1' }).replace('spec:\n', 'spec:\n  hostNetwork: true\n'),
    );
    expect(s.pods.map((p) => [p.name, p.ips])).toEqual([
      ['a', ['10.244.0.3']],
      ['b', ['10.244.0.2']],
      ['c', ['10.244.0.4']],
      ['host', ['192.168.50.10']],
    ]);
  });

  it('schedules an unpinned pod with a status IP onto the node owning that IP', () => {
    const s = build(NO_ADDONS, nodes('n1', 'n2'), `${pod('p')}\nstatus:\n  podIP: 10.244.1.9\n`);
    expect(s.pods[0]).toMatchObject({ node: 'n2', ips: ['10.244.1.9'] });
  });

  it('refuses a status IP that another pod already holds', () => {
    expect(
      errorsOf(
        NO_ADDONS,
        node('n1'),
        `${pod('a', { node: 'n1' })}\nstatus:\n  podIP: 10.244.0.7\n`,
        `${pod('b', { node: 'n1' })}\nstatus:\n  podIP: 10.244.0.7\n`,
      ),
    ).toEqual(['test.yaml: Pod default/b: status.podIP: 10.244.0.7 is already used by Pod default/a']);
  });

  it('allocates ClusterIPs in name order skipping the DNS IP and given ones, and NodePorts from the range', () => {
    const many = Array.from({ length: 11 }, (_, i) =>
      service(`s${String(i).padStart(2, '0')}`, '    - port: 80\n'),
    ).join('\n---\n');
    const s = build(
      network('  addons: { dns: false }\n  serviceNodePortRange: 31000-31010\n'),
      node('n1'),
      many,
      service('fixed', '    - port: 80\n', '  clusterIP: 10.96.0.1\n'),
      service(
        'np',
        '    - { name: a, port: 80 }\n    - { name: b, port: 81, nodePort: 31000 }\n    - { name: c, port: 82 }\n',
        '  type: NodePort\n',
      ),
    );
    const ip = (n: string) => s.services.find((x) => x.name === n)?.clusterIPs[0];
    expect(ip('fixed')).toBe('10.96.0.1');
    const dynamic = s.services.filter((x) => x.name !== 'fixed').map((x) => x.clusterIPs[0]);
    const band = new ServiceIpAllocator('10.96.0.0/12');
    expect(new Set([...dynamic, '10.96.0.1', '10.96.0.10']).size).toBe(dynamic.length + 2);
    for (const a of dynamic) expect(band.inStaticBand(a), a).toBe(false);
    // same manifests, same addresses
    const again = build(
      network('  addons: { dns: false }\n  serviceNodePortRange: 31000-31010\n'),
      node('n1'),
      many,
      service('fixed', '    - port: 80\n', '  clusterIP: 10.96.0.1\n'),
      service(
        'np',
        '    - { name: a, port: 80 }\n    - { name: b, port: 81, nodePort: 31000 }\n    - { name: c, port: 82 }\n',
        '  type: NodePort\n',
      ),
    );
    expect(again.services.map((x) => x.clusterIPs[0])).toEqual(s.services.map((x) => x.clusterIPs[0]));
    const ports = s.services.find((x) => x.name === 'np')!.ports.map((p) => p.nodePort!);
    expect(ports[1]).toBe(31000);
    expect(new Set(ports).size).toBe(3);
    for (const p of ports) expect(p >= 31000 && p <= 31010, String(p)).toBe(true);
  });

  it('allocates a healthCheckNodePort for LoadBalancer services with externalTrafficPolicy Local', () => {
    const s = build(
      NO_ADDONS,
      node('n1'),
      service('lb', '    - port: 80\n', '  type: LoadBalancer\n  externalTrafficPolicy: Local\n'),
    );
    const lb = s.services[0];
    expect(lb.externalTrafficPolicy).toBe('Local');
    const band = new PortAllocator();
    for (const p of [lb.ports[0].nodePort!, lb.healthCheckNodePort!]) {
      expect(band.contains(p) && !band.inStaticBand(p), String(p)).toBe(true);
    }
    expect(lb.ports[0].nodePort).not.toBe(lb.healthCheckNodePort);
  });
});

describe('endpoint slices', () => {
  const web = (name: string, nodeName: string, port: number, extra = '') =>
    pod(name, {
      node: nodeName,
      labels: { app: 'web' },
      ports: `        - { name: http, containerPort: ${port} }`,
      extra,
    });

  it('resolves named target ports per pod: one slice per resolved port set', () => {
    const s = build(
      NO_ADDONS,
      nodes('n1'),
      web('a', 'n1', 8080),
      web('b', 'n1', 9090),
      web('c', 'n1', 8080),
      pod('d', { node: 'n1', labels: { app: 'web' } }),
      service(
        'web',
        '    - { name: http, port: 80, targetPort: http }\n    - { name: metrics, port: 9100, targetPort: 9100 }\n',
      ),
    );
    const slices = s.endpointSlices.map((e) => ({
      ports: e.ports.map((p) => `${p.name}:${p.port}`),
      pods: e.endpoints.map((x) => x.targetRef?.name),
    }));
    expect(slices).toHaveLength(3);
    expect(slices).toContainEqual({ ports: ['http:8080', 'metrics:9100'], pods: ['a', 'c'] });
    expect(slices).toContainEqual({ ports: ['http:9090', 'metrics:9100'], pods: ['b'] });
    expect(slices).toContainEqual({ ports: ['metrics:9100'], pods: ['d'] });
    for (const e of s.endpointSlices) {
      expect(e.name).toMatch(new RegExp(`^web-${SAFE}{5}$`));
      expect(e.serviceName).toBe('web');
      for (const x of e.endpoints) expect(x.nodeName).toBe('n1');
    }
  });

  it('warns when no selected pod declares a named target port, and when a selector selects nothing', () => {
    const s = build(
      NO_ADDONS,
      nodes('n1'),
      web('a', 'n1', 8080),
      service('web', '    - { name: grpc, port: 90, targetPort: grpc }\n'),
      service('none', '    - port: 80\n'),
    );
    expect(s.warnings.map((w) => `${w.object}: ${w.field}: ${w.message}`)).toEqual([
      'Service default/none: spec.selector: selects no pods: the Service has no endpoints',
      'Service default/web: spec.ports[0].targetPort: no selected pod declares a TCP container port named "grpc"',
    ]);
    expect(s.endpointSlices.find((e) => e.serviceName === 'none')).toMatchObject({
      endpoints: [],
      ports: [],
    });
  });

  it('marks not-ready and terminating pods as the EndpointSlice controller does', () => {
    const notReadyAnnotation = '  annotations: { podnet.dev/ready: "false" }';
    const s = build(
      NO_ADDONS,
      nodes('n1'),
      web('ready', 'n1', 8080),
      web('annotated', 'n1', 8080, notReadyAnnotation),
      `${web('condition', 'n1', 8080)}\nstatus:\n  conditions: [{ type: Ready, status: "False" }]\n`,
      web('leaving', 'n1', 8080, '  deletionTimestamp: "2024-01-01T00:00:00Z"'),
      `${web('pending', 'n1', 8080)}\nstatus:\n  phase: Pending\n`,
      `${web('done', 'n1', 8080)}\nstatus:\n  phase: Succeeded\n`,
      service('web', '    - { name: http, port: 80, targetPort: http }\n'),
    );
    const byPod = Object.fromEntries(
      s.endpointSlices[0].endpoints.map((e) => [e.targetRef?.name, [e.ready, e.serving, e.terminating]]),
    );
    expect(byPod).toEqual({
      ready: [true, true, false],
      annotated: [false, false, false],
      condition: [false, false, false],
      leaving: [false, true, true],
      pending: [false, false, false],
    });
    expect(s.pods.find((p) => p.name === 'leaving')).toMatchObject({ terminating: true, ready: true });
  });

  it('publishNotReadyAddresses makes every endpoint ready', () => {
    const s = build(
      NO_ADDONS,
      nodes('n1'),
      web('annotated', 'n1', 8080, '  annotations: { podnet.dev/ready: "false" }'),
      service(
        'web',
        '    - { name: http, port: 80, targetPort: http }\n',
        '  publishNotReadyAddresses: true\n',
      ),
    );
    expect(s.endpointSlices[0].endpoints[0]).toMatchObject({ ready: true, serving: false });
  });

  it('passes given EndpointSlices through for selector-less services and ignores them for selector services', () => {
    const slice = (name: string, svc: string) =>
      `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: ${name}\n  labels: { kubernetes.io/service-name: ${svc} }\naddressType: IPv4\nports: [{ name: http, port: 8080 }]\nendpoints:\n  - addresses: [192.168.50.200]\n`;
    const s = build(
      NO_ADDONS,
      nodes('n1'),
      'apiVersion: v1\nkind: Service\nmetadata:\n  name: ext\nspec:\n  ports: [{ name: http, port: 80 }]\n',
      slice('ext-manual', 'ext'),
      web('a', 'n1', 8080),
      service('web', '    - { name: http, port: 80, targetPort: http }\n'),
      slice('web-manual', 'web'),
    );
    expect(s.endpointSlices.find((e) => e.name === 'ext-manual')).toMatchObject({
      serviceName: 'ext',
      endpoints: [{ addresses: ['192.168.50.200'], ready: true, serving: true, terminating: false }],
    });
    expect(s.endpointSlices.find((e) => e.name === 'web-manual')).toBeUndefined();
    expect(s.warnings.map((w) => w.message)).toContain(
      'ignored: Service default/web has a selector, so the EndpointSlice controller manages its endpoints',
    );
  });
});

describe('dual-stack', () => {
  const dual = network(
    '  clusterCIDRs: [10.244.0.0/16, fd00:10:244::/56]\n  serviceCIDRs: [10.96.0.0/16, fd00:10:96::/112]\n  addons: { dns: false }\n',
  );

  it('gives nodes and pods one address per family and derives the cluster families', () => {
    const s = build(dual, nodes('n1', 'n2'), pod('a', { node: 'n2' }));
    expect(s.network.ipFamilies).toEqual([4, 6]);
    expect(s.nodes.map((n) => n.podCIDRs)).toEqual([
      ['10.244.0.0/24', 'fd00:10:244::/64'],
      ['10.244.1.0/24', 'fd00:10:244:1::/64'],
    ]);
    expect(s.pods[0].ips).toEqual(['10.244.1.2', 'fd00:10:244:1::2']);
  });

  it('PreferDualStack services get two ClusterIPs and one slice per family; SingleStack one', () => {
    const s = build(
      dual,
      nodes('n1'),
      pod('a', { node: 'n1', labels: { app: 'web' } }),
      pod('b', { node: 'n1', labels: { app: 'one' } }),
      service('web', '    - port: 80\n', '  ipFamilyPolicy: PreferDualStack\n'),
      service('one', '    - port: 80\n', '  ipFamilies: [IPv6]\n'),
    );
    const web = s.services.find((x) => x.name === 'web');
    expect(web?.ipFamilies).toEqual([4, 6]);
    expect(web?.clusterIPs.map(ipFamily)).toEqual([4, 6]);
    expect(web?.clusterIPs[1].startsWith('fd00:10:96:')).toBe(true);
    const one = s.services.find((x) => x.name === 'one');
    expect(one?.ipFamilies).toEqual([6]);
    expect(one?.clusterIPs.map(ipFamily)).toEqual([6]);
    expect(one?.clusterIPs[0]).not.toBe(web?.clusterIPs[1]);
    const slices = (svc: string) =>
      s.endpointSlices
        .filter((e) => e.serviceName === svc)
        .map((e) => [e.addressType, e.endpoints[0].addresses[0]]);
    expect(slices('web').sort()).toEqual([
      ['IPv4', '10.244.0.2'],
      ['IPv6', 'fd00:10:244::2'],
    ]);
    expect(slices('one')).toEqual([['IPv6', 'fd00:10:244::3']]);
  });

  it('refuses RequireDualStack on a single-stack cluster and mismatched families', () => {
    expect(
      errorsOf(
        NO_ADDONS,
        node('n1'),
        service('web', '    - port: 80\n', '  ipFamilyPolicy: RequireDualStack\n'),
      ),
    ).toEqual([
      'test.yaml: Service default/web: spec.ipFamilyPolicy: RequireDualStack needs a dual-stack cluster (one IPv4 and one IPv6 clusterCIDR)',
    ]);
    expect(errorsOf(network('  clusterCIDRs: [fd00:10:244::/56]\n'), node('n1'))).toEqual([
      'test.yaml: ClusterNetwork default: spec.clusterCIDRs: clusterCIDRs are IPv6 but serviceCIDRs are IPv4: both must cover the same IP families',
    ]);
  });
});

describe('network config', () => {
  it('defaults without a ClusterNetwork document', () => {
    const s = build(nodes('n1'));
    expect(s.network).toMatchObject({
      clusterCIDRs: ['10.244.0.0/16'],
      serviceCIDRs: ['10.96.0.0/12'],
      nodeCIDRMaskSize: 24,
      clusterDomain: 'cluster.local',
      overlay: { backend: 'vxlan', vni: 1, port: 8472 },
      proxy: { mode: 'iptables' },
      dns: { serviceIP: '10.96.0.10' },
      ipFamilies: [4],
    });
  });

  it('passes unknown overlay/proxy/dns keys through as plugin options', () => {
    const s = build(
      network(
        '  overlay: { backend: udp, port: 8285, tunDevice: flannel0 }\n  proxy: { mode: ipvs, scheduler: wrr }\n  dns: { cacheTTL: 5 }\n  serviceCIDRs: [10.100.0.0/16]\n',
      ),
      nodes('n1'),
    );
    expect(s.network.overlay).toEqual({ backend: 'udp', port: 8285, tunDevice: 'flannel0' });
    expect(s.network.proxy).toEqual({ mode: 'ipvs', scheduler: 'wrr' });
    expect(s.network.dns).toMatchObject({ cacheTTL: 5, serviceIP: '10.100.0.10' });
    expect(s.services.find((x) => x.name === 'kube-dns')?.clusterIPs).toEqual(['10.100.0.10']);
  });
});

describe('addons', () => {
  it('adds kube-dns and a 2-replica coredns unless the manifests bring kube-dns', () => {
    const s = build(nodes('n1'));
    const dns = s.services.find((x) => objectKey(x) === 'kube-system/kube-dns');
    expect(dns?.ports.map((p) => `${p.name} ${p.port}/${p.protocol}`)).toEqual([
      'dns 53/UDP',
      'dns-tcp 53/TCP',
      'metrics 9153/TCP',
    ]);
    expect(dns?.selector).toEqual({ 'k8s-app': 'kube-dns' });
    const coredns = s.pods.filter((p) => p.namespace === 'kube-system');
    expect(coredns).toHaveLength(2);
    expect(coredns[0].containers[0].ports.map((p) => `${p.containerPort}/${p.protocol}`)).toEqual([
      '53/UDP',
      '53/TCP',
      '9153/TCP',
    ]);

    const own = build(
      nodes('n1'),
      'apiVersion: v1\nkind: Service\nmetadata:\n  name: kube-dns\n  namespace: kube-system\nspec:\n  clusterIP: 10.96.0.10\n  ports: [{ name: dns, port: 53, protocol: UDP }]\n',
    );
    expect(own.pods).toEqual([]);
    expect(own.services.map(objectKey)).toEqual(['kube-system/kube-dns']);
    expect(build(NO_ADDONS, nodes('n1')).services).toEqual([]);
  });

  it('adds the ingress controller, its NodePort Service and a default IngressClass when Ingress objects exist', () => {
    const ingress =
      'apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: web\nspec:\n  rules:\n    - host: web.example\n      http:\n        paths:\n          - { path: /, pathType: Prefix, backend: { service: { name: web, port: { number: 80 } } } }\n';
    const s = build(
      network('  addons: { dns: false }\n'),
      nodes('n1'),
      ingress,
      service('web', '    - port: 80\n'),
    );
    expect(s.ingressClasses).toEqual([
      { name: 'podnet', controller: 'podnet.dev/ingress-controller', isDefault: true },
    ]);
    const svc = s.services.find((x) => objectKey(x) === 'podnet-ingress/ingress-controller');
    expect(svc).toMatchObject({
      type: 'NodePort',
      ports: [
        { name: 'http', port: 80 },
        { name: 'https', port: 443 },
      ],
    });
    const nodePorts = svc!.ports.map((p) => p.nodePort!);
    expect(nodePorts.every((p) => p >= 30000 && p <= 32767)).toBe(true);
    expect(nodePorts[0]).not.toBe(nodePorts[1]);
    expect(s.pods.filter((p) => p.namespace === 'podnet-ingress')).toHaveLength(1);
    expect(s.namespaces.map((n) => n.name)).toContain('podnet-ingress');
    expect(s.ingresses[0].rules[0]).toMatchObject({ host: 'web.example' });
    expect(build(network('  addons: { dns: false }\n'), nodes('n1')).ingressClasses).toEqual([]);
  });
});

describe('purity', () => {
  it('gives the same state for the same manifests in any document order, sorted and frozen', () => {
    const docs = [
      NO_ADDONS,
      nodes('n2', 'n1', 'n3'),
      deployment('web', 5),
      pod('z'),
      pod('a', { node: 'n3' }),
      service('web', '    - port: 80\n'),
    ];
    const a = build(...docs);
    const b = build(...[...docs].reverse());
    expect(stableJson(a)).toBe(stableJson(b));
    expect(a.pods.map(objectKey)).toEqual([...a.pods.map(objectKey)].sort());
    expect(Object.isFrozen(a.pods[0].labels)).toBe(true);
    for (const p of a.pods) {
      const n = a.nodes.find((x) => x.name === p.node);
      expect(n && cidrContains(n.podCIDRs[0], p.ips[0])).toBe(true);
      expect(p.ips[0]).not.toBe(n && nthAddress(n.podCIDRs[0], 1));
    }
  });
});

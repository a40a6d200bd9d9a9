/**
 * Migrating kube-proxy from iptables to nftables mode: for one cluster, both modes must make the
 * same decision for every (source, service port) pair: the verdict, the set of DNAT targets with
 * their probabilities (every random branch enumerated), and the source address each endpoint
 * sees. Both clusters are composed exactly as `podnet` composes them and traced in the emulator.
 * (Traffic to ports or addresses no Service has is where the modes differ on purpose; the
 * describeServiceProxy suite checks that per mode.)
 */
import { fileURLToPath } from 'node:url';
import { buildClusterState, loadCluster, parseManifestText } from '@podnet/cluster';
import { type ClusterDataplane, type ClusterState, EXTERNAL_HOST, nthAddress } from '@podnet/core';
import { announceLoadBalancerIPs } from '@podnet/core/testing';
import { type EmulatedNetwork, emulator, type TraceResult } from '@podnet/emulator';
import { describe, expect, it } from 'vitest';
import { appRegistry, buildPlan } from './plan.js';

const examples = fileURLToPath(new URL('../../../examples/', import.meta.url));

type Proto = 'tcp' | 'udp';
interface Target {
  label: string;
  to: string;
  proto: Proto;
  /** ClientIP affinity: after the first connection only one endpoint is seen. */
  sticky: boolean;
}

interface Decision {
  /** `pod ip:port` (or the verdict, for a branch not delivered) → probability, 6 decimals. */
  outcomes: Record<string, string>;
  /** `pod ip:port` → the source address the endpoint saw, for each endpoint a trace reached. */
  seen: Record<string, string>;
}

const PROXY_MODES = ['iptables', 'nftables'] as const;

function withMode(state: ClusterState, mode: string): ClusterState {
  return { ...state, network: { ...state.network, proxy: { ...state.network.proxy, mode } } };
}

/** Every service port as its clients reach it: ClusterIP, each node's NodePort, LoadBalancer IPs. */
function serviceTargets(state: ClusterState): Target[] {
  const out: Target[] = [];
  for (const s of state.services) {
    if (s.headless || s.clusterIPs.length === 0) continue;
    const sticky = s.sessionAffinity === 'ClientIP';
    for (const p of s.ports) {
      if (p.protocol === 'SCTP') continue;
      const proto = p.protocol.toLowerCase() as Proto;
      const at = (ip: string, port: number, via: string) =>
        out.push({
          label: `${s.namespace}/${s.name}:${p.port}/${proto} via ${via}`,
          to: `${ip}:${port}`,
          proto,
          sticky,
        });
      at(s.clusterIPs[0], p.port, 'ClusterIP');
      if (p.nodePort) for (const n of state.nodes) at(n.internalIPs[0], p.nodePort, `NodePort on ${n.name}`);
      for (const lb of s.loadBalancerIPs) at(lb, p.port, 'LoadBalancer');
    }
  }
  return out;
}

function allLoadBalancerIPs(state: ClusterState): string[] {
  return state.services.flatMap((s) => s.loadBalancerIPs);
}

async function realize(state: ClusterState, mode: string): Promise<EmulatedNetwork> {
  const s = withMode(state, mode);
  let plan: ClusterDataplane = buildPlan(s);
  const lbs = allLoadBalancerIPs(s);
  if (lbs.length > 0) plan = announceLoadBalancerIPs(plan, s.nodes[0].name, lbs);
  return emulator().apply(plan, { apps: appRegistry() });
}

const endpointKey = (d: NonNullable<TraceResult['delivered']>) =>
  `${d.pod ?? `node ${d.node}`} ${d.ip}:${d.port}`;

function seenSource(t: TraceResult): string | undefined {
  return t.hops.filter((h) => h.step === 'deliver').at(-1)?.packet.src;
}

/**
 * One pair's decision: allPaths for the outcomes, then new connections (another seed and source
 * port each) until every delivered endpoint was reached once, for the source address it sees.
 */
function decide(net: EmulatedNetwork, from: string, target: Target, nextPort: () => number): Decision {
  const first = net.trace({
    from,
    to: target.to,
    proto: target.proto,
    allPaths: true,
    sourcePort: nextPort(),
  });
  const outcomes: Record<string, number> = {};
  for (const p of first.paths ?? []) {
    const key = p.verdict === 'delivered' && p.delivered ? endpointKey(p.delivered) : p.verdict;
    outcomes[key] = (outcomes[key] ?? 0) + p.probability;
  }
  const seen: Record<string, string> = {};
  const note = (t: TraceResult) => {
    const src = seenSource(t);
    if (t.verdict === 'delivered' && t.delivered && src) seen[endpointKey(t.delivered)] = src;
  };
  note(first);
  const wanted = Object.keys(outcomes).filter((k) => k.includes(':')).length;
  for (let i = 0; i < 12 * wanted && Object.keys(seen).length < wanted && !target.sticky; i++) {
    note(net.trace({ from, to: target.to, proto: target.proto, seed: 1000 + i, sourcePort: nextPort() }));
  }
  return {
    outcomes: Object.fromEntries(
      Object.entries(outcomes)
        .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
        .map(([k, v]) => [k, v.toFixed(6)]),
    ),
    seen,
  };
}

/** Every difference between the modes' decisions, one line each (empty: equivalent). */
async function compareModes(
  state: ClusterState,
  sources: string[],
): Promise<{ diffs: string[]; decisions: Map<string, Decision>; kinds: Record<string, number> }> {
  const pairs = sources.flatMap((from) => serviceTargets(state).map((target) => ({ from, target })));
  const byMode: Decision[][] = [];
  for (const mode of PROXY_MODES) {
    const net = await realize(state, mode);
    let port = 20000;
    const nextPort = () => (port = port >= 60000 ? 20000 : port + 1);
    try {
      byMode.push(pairs.map(({ from, target }) => decide(net, from, target, nextPort)));
    } finally {
      await net.destroy();
    }
  }
  const diffs: string[] = [];
  const decisions = new Map<string, Decision>();
  const kinds: Record<string, number> = {};
  pairs.forEach(({ from, target }, i) => {
    const [a, b] = byMode.map((d) => d[i]);
    const key = `${from} → ${target.label}`;
    decisions.set(key, a);
    for (const k of Object.keys(a.outcomes)) {
      const kind = k.includes(':') ? 'delivered' : k;
      kinds[kind] = (kinds[kind] ?? 0) + 1;
    }
    if (JSON.stringify(a.outcomes) !== JSON.stringify(b.outcomes)) {
      diffs.push(`${key}: iptables ${JSON.stringify(a.outcomes)} ≠ nftables ${JSON.stringify(b.outcomes)}`);
      return;
    }
    const endpoints = Object.keys(a.outcomes).filter((k) => k.includes(':'));
    for (const ep of endpoints) {
      const [sa, sb] = [a.seen[ep], b.seen[ep]];
      if (sa === undefined || sb === undefined) {
        // A sticky service shows one endpoint per client; each mode may have stuck to another.
        if (!target.sticky) diffs.push(`${key}: ${ep} never reached (iptables ${sa}, nftables ${sb})`);
      } else if (sa !== sb) diffs.push(`${key}: ${ep} sees ${sa} under iptables, ${sb} under nftables`);
    }
  });
  return { diffs, decisions, kinds };
}

function sourcesOf(state: ClusterState): string[] {
  return [
    ...state.pods.filter((p) => !p.hostNetwork).map((p) => `${p.namespace}/${p.name}`),
    ...state.nodes.map((n) => `node/${n.name}`),
    EXTERNAL_HOST,
  ];
}

/** 3 nodes, 20 Deployments of 1-3 pods, and 200 Services over them in every shape kube-proxy handles. */
function generatedCluster(): ClusterState {
  const docs: string[] = [
    `apiVersion: podnet.dev/v1alpha1
kind: ClusterNetwork
metadata: { name: default }
spec:
  clusterCIDRs: [10.244.0.0/16]
  serviceCIDRs: [10.96.0.0/12]
  underlay: { subnets: [192.168.50.0/24] }
  proxy: { mode: iptables }`,
    ...[1, 2, 3].map(
      (i) => `apiVersion: v1
kind: Node
metadata: { name: node-${i} }
status: { addresses: [{ type: InternalIP, address: 192.168.50.${9 + i} }] }`,
    ),
  ];
  for (let d = 0; d < 20; d++) {
    docs.push(`apiVersion: apps/v1
kind: Deployment
metadata: { name: app-${d}, namespace: default }
spec:
  replicas: ${1 + (d % 3)}
  selector: { matchLabels: { app: app-${d} } }
  template:
    metadata: { labels: { app: app-${d}, tier: t${d % 4} } }
    spec:
      containers:
        - name: main
          ports:
            - { name: http, containerPort: 8080 }
            - { name: admin, containerPort: 9090 }
            - { name: dns, containerPort: 5353, protocol: UDP }`);
  }
  for (let i = 0; i < 200; i++) {
    const kind = i % 10;
    const selector =
      kind === 9 ? '{ app: nothing }' : i % 7 === 0 ? `{ tier: t${i % 4} }` : `{ app: app-${i % 20} }`;
    const type = kind === 3 || kind === 4 ? 'NodePort' : kind === 5 ? 'LoadBalancer' : 'ClusterIP';
    const ports = [
      `{ name: http, port: 80, targetPort: ${i % 2 ? 'http' : 8080} }`,
      ...(kind === 1 || kind === 5 ? ['{ name: admin, port: 9090, targetPort: admin }'] : []),
      ...(kind === 2 || kind === 4 ? ['{ name: dns, port: 53, targetPort: 5353, protocol: UDP }'] : []),
    ];
    const extra = [
      kind === 4 && i % 20 === 4 ? 'externalTrafficPolicy: Local' : '',
      // ClusterIP only: affinity is kept per service port, so it would carry over from the
      // ClusterIP trace to a NodePort one, and each mode may have stuck to another endpoint.
      kind === 6 ? 'sessionAffinity: ClientIP' : '',
      kind === 5 ? `loadBalancerSourceRanges: [${i % 20 === 5 ? '203.0.113.0/24' : '198.51.100.0/24'}]` : '',
    ].filter(Boolean);
    docs.push(`apiVersion: v1
kind: Service
metadata: { name: svc-${i}, namespace: default }
spec:
  type: ${type}
  selector: ${selector}
  ports: [${ports.join(', ')}]
${extra.map((e) => `  ${e}`).join('\n')}${kind === 5 ? `\nstatus: { loadBalancer: { ingress: [{ ip: ${nthAddress('192.168.50.0/24', 100 + Math.floor(i / 10))} }] } }` : ''}`);
  }
  return buildClusterState(parseManifestText(docs.join('\n---\n'), 'generated.yaml'));
}

describe('iptables and nftables modes decide the same for every (source, service port)', () => {
  it.each(['two-node.yaml', 'three-node-two-subnets.yaml'])('examples/%s', async (file) => {
    const state = await loadCluster([`${examples}${file}`]);
    const { diffs, decisions } = await compareModes(state, sourcesOf(state));
    expect(diffs).toEqual([]);
    expect(decisions.size).toBe(sourcesOf(state).length * serviceTargets(state).length);
    const web = state.pods.filter((p) => p.labels.app === 'web');
    expect(decisions.get('default/client → default/web:80/tcp via ClusterIP')).toEqual({
      outcomes: Object.fromEntries(
        web.map((p) => [`default/${p.name} ${p.ips[0]}:8080`, '0.333333'] as const).sort(),
      ),
      seen: Object.fromEntries(
        web.map((p) => [
          `default/${p.name} ${p.ips[0]}:8080`,
          state.pods.find((c) => c.name === 'client')!.ips[0],
        ]),
      ),
    });
  });

  it('a generated cluster of 200 Services (3 sources × every service port)', async () => {
    const state = generatedCluster();
    expect(state.services.filter((s) => s.name.startsWith('svc-'))).toHaveLength(200);
    const pod = state.pods.find((p) => p.name.startsWith('app-0-'))!;
    const sources = [`${pod.namespace}/${pod.name}`, `node/${state.nodes[1].name}`, EXTERNAL_HOST];
    const { diffs, decisions, kinds } = await compareModes(state, sources);
    expect(diffs).toEqual([]);
    expect(decisions.size).toBe(3 * serviceTargets(state).length);
    // Every kind of decision occurs: endpoints reached, eTP Local and source ranges dropping,
    // Services without endpoints rejecting, ClusterIPs unreachable from outside the cluster.
    expect(Object.keys(kinds).sort()).toEqual(['delivered', 'dropped', 'rejected', 'unreachable']);
  });
});

/**
 * `describeServiceProxy`: the contract suite every kube-proxy mode runs. It composes one small
 * cluster with the proxy under test, a pod network and an overlay, realizes it on a backend that
 * traces packets (the emulator; core cannot depend on it, so it is a parameter) and asserts what
 * Services do by tracing packets and their answers. Where kube-proxy's modes really differ (traffic
 * to the service range that no Service serves), the case follows the mode's declared capabilities.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend, Network } from '../backend.js';
import { type ClusterDataplane, ROOT_NETNS } from '../dataplane.js';
import { defaultClusterNetwork } from '../defaults.js';
import { composeDataplane, EXTERNAL_HOST, ROUTER_NAME } from '../engine.js';
import { nthAddress } from '../ip.js';
import type { ClusterState } from '../model.js';
import type { ServiceProxy, ServiceProxyCapabilities } from '../plugin.js';
import { fixtureCluster } from './cluster-fixture.js';
import type {
  OverlaySuiteOptions,
  OverlayTraceHop,
  OverlayTraceRequest,
  OverlayTraceResult,
} from './overlay-suite.js';

export interface ServiceTraceRequest extends OverlayTraceRequest {
  /** Enumerate every random branch with its probability. */
  allPaths?: boolean;
  /** Seed of the random choices. */
  seed?: number;
  /** The client's source port. */
  sourcePort?: number;
}

export type ServiceTraceHop = OverlayTraceHop & { packet: { sport?: number; dport?: number } };

type Verdict = OverlayTraceResult['verdict'];

export interface ServiceTracePath {
  probability: number;
  verdict: Verdict;
  delivered?: OverlayTraceResult['delivered'];
}

/** The part of ARCHITECTURE.md's trace JSON contract the suite reads. */
export interface ServiceTraceResult {
  verdict: Verdict;
  reason?: string;
  delivered?: OverlayTraceResult['delivered'];
  hops: ServiceTraceHop[];
  reply?: { verdict: Verdict; reason?: string; hops: ServiceTraceHop[] };
  paths?: ServiceTracePath[];
}

/** A realized network that traces exchanges and keeps its state (conntrack, affinity) between them. */
export interface ServiceTraceableNetwork extends Network {
  trace(request: ServiceTraceRequest): ServiceTraceResult | Promise<ServiceTraceResult>;
}

/** The overlay suite's options (pod network, overlay, apps), with the proxy under test. */
export interface ServiceProxySuiteOptions extends Omit<OverlaySuiteOptions, 'backend' | 'name'> {
  /** A fresh service proxy under test. */
  proxy: () => ServiceProxy;
  /** A backend whose networks trace (`emulator()`). */
  backend: () => Backend<ServiceTraceableNetwork>;
  /** Name in the describe title. @default the proxy's mode */
  name?: string;
}

const HTTP = 8080;
const DNS = 5353;
const WEB_PODS = ['default/web-1', 'default/web-2', 'default/web-3'];
/** A source range the external host is not in (TEST-NET-2). */
const OTHER_RANGE = '198.51.100.0/24';
const NODE_PORT = { cluster: 30080, local: 30081, lbAllow: 30082, lbDeny: 30083 };

/**
 * Two nodes. node-1: `client` and `web-1`; node-2: `web-2`, `web-3`. Services over the web pods:
 * `web` (TCP 80, UDP 53), `solo` (web-1 only), NodePorts with externalTrafficPolicy Cluster and
 * Local (Local's only endpoint is on node-1), two LoadBalancers whose source ranges allow and
 * refuse the external host, `sticky` (ClientIP affinity) and `empty` (no endpoints).
 */
export function serviceSuiteCluster(): ClusterState {
  const base = defaultClusterNetwork();
  const lb = (i: number) => [nthAddress(base.underlay.subnets[0], 200 + i)];
  const ports = [
    { port: HTTP, name: 'http' },
    { port: DNS, protocol: 'UDP' as const, name: 'dns' },
  ];
  const http = (nodePort?: number) => [{ name: 'http', port: 80, targetPort: HTTP, nodePort }];
  const web = { app: 'web' };
  return fixtureCluster({
    nodes: [{ name: 'node-1' }, { name: 'node-2' }],
    pods: [
      { name: 'client', node: 'node-1', labels: { app: 'client' } },
      { name: 'web-1', node: 'node-1', labels: { app: 'web', solo: 'yes' }, ports },
      { name: 'web-2', node: 'node-2', labels: web, ports },
      { name: 'web-3', node: 'node-2', labels: web, ports },
    ],
    services: [
      {
        name: 'web',
        selector: web,
        ports: [...http(), { name: 'dns', port: 53, targetPort: DNS, protocol: 'UDP' }],
      },
      { name: 'solo', selector: { solo: 'yes' }, ports: http() },
      { name: 'np-cluster', type: 'NodePort', selector: web, ports: http(NODE_PORT.cluster) },
      {
        name: 'np-local',
        type: 'NodePort',
        externalTrafficPolicy: 'Local',
        selector: { solo: 'yes' },
        ports: http(NODE_PORT.local),
      },
      {
        name: 'lb-allow',
        type: 'LoadBalancer',
        loadBalancerIPs: lb(0),
        loadBalancerSourceRanges: [base.underlay.externalSubnet],
        selector: web,
        ports: http(NODE_PORT.lbAllow),
      },
      {
        name: 'lb-deny',
        type: 'LoadBalancer',
        loadBalancerIPs: lb(1),
        loadBalancerSourceRanges: [OTHER_RANGE],
        selector: web,
        ports: http(NODE_PORT.lbDeny),
      },
      { name: 'sticky', sessionAffinity: 'ClientIP', selector: web, ports: http() },
      {
        name: 'empty',
        selector: { app: 'none' },
        ports: [...http(), { name: 'dns', port: 53, targetPort: DNS, protocol: 'UDP' }],
      },
    ],
  });
}

/**
 * Routes LoadBalancer ingress IPs to `node`: the node holds them on `lo`, so it answers ARP for
 * them on the underlay as a MetalLB-style L2 speaker would, and the router delivers there.
 */
export function announceLoadBalancerIPs(
  plan: ClusterDataplane,
  node: string,
  ips: readonly string[],
): ClusterDataplane {
  return {
    ...plan,
    nodes: plan.nodes.map((n) =>
      n.node !== node
        ? n
        : {
            ...n,
            addresses: [
              ...n.addresses,
              ...ips.map((ip) => ({
                netns: ROOT_NETNS,
                dev: 'lo',
                cidr: `${ip}/32`,
                scope: 'host' as const,
              })),
            ],
          },
    ),
  };
}

function story(t: ServiceTraceResult): string {
  const lines = (hops: readonly ServiceTraceHop[]) =>
    hops.map(
      (h) => `  ${h.node} ${h.netns} ${h.device} ${h.step}: ${h.detail} [${h.packet.src} > ${h.packet.dst}]`,
    );
  const head = (v: { verdict: string; reason?: string }) => `${v.verdict}${v.reason ? ` (${v.reason})` : ''}`;
  const reply = t.reply ? ['reply: ' + head(t.reply), ...lines(t.reply.hops)] : [];
  return [head(t), ...lines(t.hops), ...reply].join('\n');
}

/** The source address the receiving socket saw. */
function seenSource(t: ServiceTraceResult): string | undefined {
  return t.hops.filter((h) => h.step === 'deliver').at(-1)?.packet.src;
}

/** Registers the service proxy contract suite (vitest). */
export function describeServiceProxy(options: ServiceProxySuiteOptions): void {
  const probe = options.proxy();
  const capabilities: ServiceProxyCapabilities = probe.capabilities ?? {
    unservedClusterIPPort: 'pass',
    unallocatedClusterIP: 'pass',
  };

  describe(`service proxy contract: ${options.name ?? probe.mode}`, () => {
    const state = serviceSuiteCluster();
    const [node1, node2] = state.nodes;
    const svc = (name: string) => state.services.find((s) => s.name === name)!;
    const clusterIP = (name: string) => svc(name).clusterIPs[0];
    const podIP = (name: string) => state.pods.find((p) => p.name === name)!.ips[0];
    const externalIP = nthAddress(state.network.underlay.externalSubnet, 10);
    const lbAllow = svc('lb-allow').loadBalancerIPs[0];
    const lbDeny = svc('lb-deny').loadBalancerIPs[0];
    let plan: ClusterDataplane;
    let net: ServiceTraceableNetwork;

    /** Every address a node holds in its root namespace: what masquerading may pick. */
    const nodeAddresses = (node: string) =>
      plan.nodes
        .find((n) => n.node === node)!
        .addresses.filter((a) => a.netns === ROOT_NETNS)
        .map((a) => a.cidr.split('/')[0]);

    const trace = async (request: ServiceTraceRequest) => net.trace({ proto: 'tcp', ...request });

    function expectReplyFrom(
      t: ServiceTraceResult,
      to: { node: string; netns: string },
      src: string,
      sport?: number,
    ): void {
      expect(t.reply, `no reply recorded:\n${story(t)}`).toBeDefined();
      expect(t.reply!.verdict, story(t)).toBe('delivered');
      const last = t.reply!.hops.at(-1)!;
      expect({ node: last.node, netns: last.netns, src: last.packet.src }, story(t)).toEqual({ ...to, src });
      if (sport !== undefined) expect(last.packet.sport, story(t)).toBe(sport);
    }

    function expectEveryWebPod(t: ServiceTraceResult, port: number): void {
      expect(t.verdict, story(t)).toBe('delivered');
      const paths = t.paths ?? [];
      expect(paths.map((p) => p.delivered?.pod).sort(), story(t)).toEqual(WEB_PODS);
      for (const p of paths) {
        expect(p.verdict).toBe('delivered');
        expect(p.delivered?.port).toBe(port);
        expect(p.probability).toBeCloseTo(1 / 3, 6);
      }
      expect(paths.reduce((sum, p) => sum + p.probability, 0)).toBeCloseTo(1, 9);
    }

    function expectRejected(t: ServiceTraceResult, client: { node: string; netns: string }): void {
      expect(t.verdict, story(t)).toBe('rejected');
      expect(t.reply?.verdict, story(t)).toBe('delivered');
      const last = t.reply!.hops.at(-1)!;
      expect({ node: last.node, netns: last.netns, icmp: last.packet.icmp }, story(t)).toEqual({
        ...client,
        icmp: { type: 3, code: 3 },
      });
    }

    /** No rule took the packet: it left the node for the router, still addressed to `dst`. */
    function expectPassedOn(t: ServiceTraceResult, dst: string): void {
      expect(t.verdict, story(t)).not.toBe('delivered');
      expect(
        t.hops.some((h) => h.node === ROUTER_NAME && h.packet.dst === dst),
        story(t),
      ).toBe(true);
    }

    beforeAll(async () => {
      plan = announceLoadBalancerIPs(
        composeDataplane(state, {
          podNetwork: options.podNetwork(),
          overlay: options.overlay(),
          serviceProxy: options.proxy(),
        }),
        node1.name,
        [lbAllow, lbDeny],
      );
      net = await options.backend().apply(plan, { apps: options.apps });
    });

    afterAll(async () => {
      await net?.destroy();
    });

    const client = { node: 'node-1', netns: 'default/client' };

    it('is a v1 service-proxy plugin with a mode and valid capabilities', () => {
      expect(probe.kind).toBe('service-proxy');
      expect(probe.specificationVersion).toBe('v1');
      expect(['iptables', 'ipvs', 'nftables', 'userspace']).toContain(probe.mode);
      expect(['reject', 'pass']).toContain(capabilities.unservedClusterIPPort);
      expect(['drop', 'pass']).toContain(capabilities.unallocatedClusterIP);
    });

    it('pod → ClusterIP: every endpoint reachable, each branch 1/3, client IP kept, reply un-NATed', async () => {
      const t = await trace({ from: 'default/client', to: `${clusterIP('web')}:80`, allPaths: true });
      expectEveryWebPod(t, HTTP);
      expect(seenSource(t), story(t)).toBe(podIP('client'));
      expectReplyFrom(t, client, clusterIP('web'), 80);
    });

    it('pod → its own Service (hairpin): delivered to itself, masqueraded to a node address', async () => {
      const t = await trace({ from: 'default/web-1', to: `${clusterIP('solo')}:80` });
      expect(t.verdict, story(t)).toBe('delivered');
      expect(t.delivered).toMatchObject({
        node: 'node-1',
        pod: 'default/web-1',
        ip: podIP('web-1'),
        port: HTTP,
      });
      const seen = seenSource(t);
      expect(seen, story(t)).not.toBe(podIP('web-1'));
      expect(nodeAddresses(node1.name), story(t)).toContain(seen);
      expectReplyFrom(t, { node: 'node-1', netns: 'default/web-1' }, clusterIP('solo'), 80);
    });

    it('node → ClusterIP: every endpoint reachable, reply un-NATed to the node', async () => {
      const t = await trace({ from: `node/${node2.name}`, to: `${clusterIP('web')}:80`, allPaths: true });
      expectEveryWebPod(t, HTTP);
      expect(nodeAddresses(node2.name), story(t)).toContain(seenSource(t));
      expectReplyFrom(t, { node: node2.name, netns: ROOT_NETNS }, clusterIP('web'), 80);
    });

    it('external → NodePort (externalTrafficPolicy Cluster) on every node: delivered, source masqueraded to that node', async () => {
      for (const node of [node1, node2]) {
        const to = `${node.internalIPs[0]}:${NODE_PORT.cluster}`;
        expectEveryWebPod(await trace({ from: EXTERNAL_HOST, to, allPaths: true }), HTTP);
        for (let i = 0; i < 4; i++) {
          const t = await trace({ from: EXTERNAL_HOST, to, seed: 11 + i, sourcePort: 42000 + i });
          expect(t.verdict, story(t)).toBe('delivered');
          const seen = seenSource(t);
          expect(seen, story(t)).not.toBe(externalIP);
          expect(nodeAddresses(node.name), story(t)).toContain(seen);
          expectReplyFrom(
            t,
            { node: EXTERNAL_HOST, netns: ROOT_NETNS },
            node.internalIPs[0],
            NODE_PORT.cluster,
          );
        }
      }
    });

    it('external → NodePort (externalTrafficPolicy Local): the node with an endpoint delivers with the client IP; the other drops', async () => {
      const at1 = await trace({
        from: EXTERNAL_HOST,
        to: `${node1.internalIPs[0]}:${NODE_PORT.local}`,
        allPaths: true,
      });
      expect(at1.delivered, story(at1)).toMatchObject({ pod: 'default/web-1', port: HTTP });
      expect(at1.paths?.map((p) => [p.probability, p.delivered?.pod])).toEqual([[1, 'default/web-1']]);
      expect(seenSource(at1), story(at1)).toBe(externalIP);
      expectReplyFrom(at1, { node: EXTERNAL_HOST, netns: ROOT_NETNS }, node1.internalIPs[0], NODE_PORT.local);
      const at2 = await trace({ from: EXTERNAL_HOST, to: `${node2.internalIPs[0]}:${NODE_PORT.local}` });
      expect(at2.verdict, story(at2)).toBe('dropped');
      expect(
        at2.hops.some((h) => h.node === node1.name),
        `node-2 must not forward to node-1's endpoint:\n${story(at2)}`,
      ).toBe(false);
    });

    it('LoadBalancer source ranges: the allowed external client is delivered, another range is dropped', async () => {
      const ok = await trace({ from: EXTERNAL_HOST, to: `${lbAllow}:80`, allPaths: true });
      expectEveryWebPod(ok, HTTP);
      expectReplyFrom(ok, { node: EXTERNAL_HOST, netns: ROOT_NETNS }, lbAllow, 80);
      const refused = await trace({ from: EXTERNAL_HOST, to: `${lbDeny}:80`, allPaths: true });
      expect(refused.verdict, story(refused)).toBe('dropped');
      expect(refused.paths?.every((p) => p.verdict === 'dropped')).toBe(true);
      expect(
        refused.hops.some((h) => WEB_PODS.includes(h.netns)),
        story(refused),
      ).toBe(false);
    });

    it('ClientIP session affinity: once chosen, later connections from the client stick to the endpoint', async () => {
      const to = `${clusterIP('sticky')}:80`;
      const first = await trace({ from: 'default/client', to, allPaths: true });
      expectEveryWebPod(first, HTTP);
      const chosen = first.delivered?.pod;
      for (let i = 0; i < 5; i++) {
        // A new connection each time (another source port and seed), so conntrack cannot explain it.
        const t = await trace({ from: 'default/client', to, seed: 101 + i, sourcePort: 43000 + i });
        expect(t.delivered?.pod, story(t)).toBe(chosen);
      }
      const after = await trace({ from: 'default/client', to, allPaths: true, sourcePort: 43100 });
      expect(after.paths?.map((p) => [p.probability, p.delivered?.pod])).toEqual([[1, chosen]]);
    });

    it('no endpoints: TCP and UDP are rejected with ICMP port unreachable', async () => {
      expectRejected(await trace({ from: 'default/client', to: `${clusterIP('empty')}:80` }), client);
      expectRejected(
        await trace({ from: 'default/client', to: `${clusterIP('empty')}:53`, proto: 'udp' }),
        client,
      );
    });

    it('UDP: DNAT to every endpoint and the reply un-NATed', async () => {
      const t = await trace({
        from: 'default/client',
        to: `${clusterIP('web')}:53`,
        proto: 'udp',
        allPaths: true,
      });
      expectEveryWebPod(t, DNS);
      expectReplyFrom(t, client, clusterIP('web'), 53);
    });

    it(`a ClusterIP port no Service serves: ${capabilities.unservedClusterIPPort}`, async () => {
      for (const from of ['default/client', `node/${node1.name}`]) {
        const t = await trace({ from, to: `${clusterIP('web')}:81` });
        if (capabilities.unservedClusterIPPort === 'reject') {
          expectRejected(t, from === 'default/client' ? client : { node: node1.name, netns: ROOT_NETNS });
        } else expectPassedOn(t, clusterIP('web'));
      }
    });

    it(`an unallocated address in the service CIDR: ${capabilities.unallocatedClusterIP}`, async () => {
      const unused = nthAddress(state.network.serviceCIDRs[0], 50);
      expect(state.services.some((s) => s.clusterIPs.includes(unused))).toBe(false);
      const t = await trace({ from: 'default/client', to: `${unused}:80` });
      if (capabilities.unallocatedClusterIP === 'drop') {
        expect(t.verdict, story(t)).toBe('dropped');
        expect(
          t.hops.every((h) => h.node === node1.name),
          story(t),
        ).toBe(true);
      } else expectPassedOn(t, unused);
    });
  });
}

/**
 * `describeOverlayBackend`: the contract suite every overlay backend runs. It composes small
 * clusters with the backend and a pod network, realizes them on a backend that can trace packets
 * (the emulator; core cannot depend on it, so it is a parameter) and asserts behaviour hop by hop.
 * Cases follow the declared capabilities: `crossSubnet` and `ipv6` are each checked in the
 * direction the backend declares.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppRegistry } from '../app.js';
import type { Backend, Network } from '../backend.js';
import type { ClusterDataplane } from '../dataplane.js';
import { composeDataplane, ROUTER_NAME } from '../engine.js';
import { CapabilityError, PodnetError } from '../errors.js';
import { nthAddress } from '../ip.js';
import type { ClusterState } from '../model.js';
import type { OverlayBackend, PodNetworkPlugin, RenderContext } from '../plugin.js';
import { fixtureCluster } from './cluster-fixture.js';

export interface OverlayTraceRequest {
  /** `NAMESPACE/POD`, `node/NAME` or `external`. */
  from: string;
  /** `IP[:PORT]` or `NAMESPACE/POD[:PORT]`. */
  to: string;
  proto?: 'tcp' | 'udp' | 'icmp';
  port?: number;
  /** IP total length, bytes. */
  size?: number;
  /** Don't Fragment. */
  df?: boolean;
}

export interface OverlayTraceHop {
  node: string;
  netns: string;
  device: string;
  step: string;
  detail: string;
  packet: {
    src: string;
    dst: string;
    proto: string;
    icmp?: { type: number; code: number };
    /** Outer headers when the summary shows an encapsulated packet's inner addresses. */
    encap?: { outerSrc: string; outerDst: string };
  };
}

/** The part of ARCHITECTURE.md's trace JSON contract the suite reads. */
export interface OverlayTraceResult {
  verdict: 'delivered' | 'dropped' | 'rejected' | 'unreachable';
  reason?: string;
  delivered?: { node: string; pod?: string; ip: string; port?: number };
  hops: OverlayTraceHop[];
  /** The answer's way back. */
  reply?: { verdict: OverlayTraceResult['verdict']; reason?: string; hops: OverlayTraceHop[] };
}

/** A realized network that can trace one exchange. */
export interface TraceableNetwork extends Network {
  trace(request: OverlayTraceRequest): OverlayTraceResult | Promise<OverlayTraceResult>;
}

export interface OverlaySuiteOptions {
  /** A fresh overlay backend under test. */
  overlay: () => OverlayBackend;
  /** The pod network to run it with (`bridge()`). */
  podNetwork: () => PodNetworkPlugin;
  /** A backend whose networks trace (`emulator()`). */
  backend: () => Backend<TraceableNetwork>;
  /** App modules the plan's apps need (the workload app and, for udp, `flannel-udp`). */
  apps?: AppRegistry;
  /** Name in the describe title. @default the overlay's name */
  name?: string;
}

const TCP_PORT = 8080;
const UDP_PORT = 5353;
const POD_PORTS = [
  { port: TCP_PORT, protocol: 'TCP' as const },
  { port: UDP_PORT, protocol: 'UDP' as const },
];
const TWO_SUBNETS = {
  subnets: ['192.168.50.0/24', '192.168.60.0/24'],
  mtu: 1500,
  externalSubnet: '203.0.113.0/24',
};

/** Two nodes on one subnet (or on two, joined by the router): a1 and a2 on node-1, b1 on node-2. */
export function overlaySuiteCluster(
  options: { twoSubnets?: boolean; network?: Partial<ClusterState['network']> } = {},
): ClusterState {
  return fixtureCluster({
    network: { ...(options.twoSubnets ? { underlay: TWO_SUBNETS } : {}), ...options.network },
    nodes: [
      { name: 'node-1' },
      { name: 'node-2', subnet: options.twoSubnets ? TWO_SUBNETS.subnets[1] : undefined },
    ],
    pods: [
      { name: 'a1', node: 'node-1', ports: POD_PORTS },
      { name: 'a2', node: 'node-1', ports: POD_PORTS },
      { name: 'b1', node: 'node-2', ports: POD_PORTS },
    ],
  });
}

/** A pod network whose pods believe the MTU is one byte larger than the overlay carries. */
function oversizedPods(plugin: PodNetworkPlugin): PodNetworkPlugin {
  return { ...plugin, render: (ctx: RenderContext) => plugin.render({ ...ctx, podMtu: ctx.podMtu + 1 }) };
}

function lastHopOn(hops: readonly OverlayTraceHop[], node: string): OverlayTraceHop | undefined {
  return hops.filter((h) => h.node === node).at(-1);
}

function describeHops(hops: readonly OverlayTraceHop[]): string {
  return hops
    .map(
      (h) => `  ${h.node} ${h.netns} ${h.device} ${h.step}: ${h.detail} [${h.packet.src} > ${h.packet.dst}]`,
    )
    .join('\n');
}

function describeTrace(t: OverlayTraceResult): string {
  return `${t.verdict}${t.reason ? ` (${t.reason})` : ''}\n${describeHops(t.hops)}`;
}

function expectDelivered(
  t: OverlayTraceResult,
  where: { node: string; pod?: string; ip?: string; port?: number },
): void {
  expect(t.verdict, describeTrace(t)).toBe('delivered');
  expect(t.delivered, describeTrace(t)).toMatchObject(where);
}

function expectReplyHome(t: OverlayTraceResult, node: string, netns: string): void {
  expect(t.reply, `no reply recorded:\n${describeTrace(t)}`).toBeDefined();
  const reply = t.reply!;
  const story = `reply ${reply.verdict}${reply.reason ? ` (${reply.reason})` : ''}\n${describeHops(reply.hops)}`;
  expect(reply.verdict, story).toBe('delivered');
  const last = reply.hops.at(-1);
  expect(last && { node: last.node, netns: last.netns }, story).toEqual({ node, netns });
}

/** Registers the overlay contract suite (vitest). */
export function describeOverlayBackend(options: OverlaySuiteOptions): void {
  const probe = options.overlay();
  const name = options.name ?? probe.name;

  describe(`overlay backend contract: ${name}`, () => {
    const state = overlaySuiteCluster();
    const [node1, node2] = state.nodes;
    const [a1, , b1] = state.pods;
    const podMtu = state.network.underlay.mtu - probe.encapOverhead;
    const networks: Network[] = [];
    let flat: TraceableNetwork;

    async function realize(plan: ClusterDataplane): Promise<TraceableNetwork> {
      const net = await options.backend().apply(plan, { apps: options.apps });
      networks.push(net);
      return net;
    }

    beforeAll(async () => {
      flat = await realize(
        composeDataplane(state, { podNetwork: options.podNetwork(), overlay: options.overlay() }),
      );
    });

    afterAll(async () => {
      for (const n of networks.splice(0)) await n.destroy();
    });

    it('is a v1 overlay plugin with a sane overhead and capability flags', () => {
      expect(probe.kind).toBe('overlay');
      expect(probe.specificationVersion).toBe('v1');
      expect(
        Number.isInteger(probe.encapOverhead) && probe.encapOverhead >= 0 && probe.encapOverhead < 200,
      ).toBe(true);
      expect(typeof probe.capabilities.crossSubnet).toBe('boolean');
      expect(typeof probe.capabilities.ipv6).toBe('boolean');
    });

    it('pod → pod on the same node stays on the node', async () => {
      const t = await flat.trace({ from: 'default/a1', to: `default/a2:${TCP_PORT}`, proto: 'tcp' });
      expectDelivered(t, { node: 'node-1', pod: 'default/a2' });
      expect(
        t.hops.every((h) => h.node === 'node-1'),
        describeTrace(t),
      ).toBe(true);
      expectReplyHome(t, 'node-1', 'default/a1');
    });

    it('pod → pod across nodes (TCP), and the answer comes back', async () => {
      const t = await flat.trace({ from: 'default/a1', to: `default/b1:${TCP_PORT}`, proto: 'tcp' });
      expectDelivered(t, { node: 'node-2', pod: 'default/b1', ip: b1.ips[0], port: TCP_PORT });
      expect(t.hops.some((h) => h.node === 'node-1') && t.hops.some((h) => h.node === 'node-2')).toBe(true);
      expectReplyHome(t, 'node-1', 'default/a1');
    });

    it('pod → pod across nodes (UDP and ICMP), both directions', async () => {
      const udp = await flat.trace({ from: 'default/b1', to: `default/a1:${UDP_PORT}`, proto: 'udp' });
      expectDelivered(udp, { node: 'node-1', pod: 'default/a1' });
      expectReplyHome(udp, 'node-2', 'default/b1');
      const ping = await flat.trace({ from: 'default/a1', to: b1.ips[0], proto: 'icmp' });
      expectDelivered(ping, { node: 'node-2', ip: b1.ips[0] });
      expectReplyHome(ping, 'node-1', 'default/a1');
    });

    it('node → remote pod, and the reply reaches the node', async () => {
      const t = await flat.trace({ from: 'node/node-1', to: `default/b1:${TCP_PORT}`, proto: 'tcp' });
      expectDelivered(t, { node: 'node-2', pod: 'default/b1' });
      expectReplyHome(t, 'node-1', 'root');
    });

    it(`MTU: a ${podMtu}-byte DF packet (underlay − ${probe.encapOverhead}) crosses; one byte more does not leave the pod`, async () => {
      const fits = await flat.trace({
        from: 'default/a1',
        to: `default/b1:${UDP_PORT}`,
        proto: 'udp',
        size: podMtu,
        df: true,
      });
      expectDelivered(fits, { node: 'node-2', pod: 'default/b1' });
      const big = await flat.trace({
        from: 'default/a1',
        to: `default/b1:${UDP_PORT}`,
        proto: 'udp',
        size: podMtu + 1,
        df: true,
      });
      expect(big.verdict, describeTrace(big)).not.toBe('delivered');
      expect(
        big.hops.every((h) => h.node === 'node-1'),
        describeTrace(big),
      ).toBe(true);
    });

    it(`MTU: the overlay path refuses ${podMtu + 1} bytes with DF by ICMP fragmentation-needed (mtu ${podMtu})`, async () => {
      // Across a router when the backend can cross one: a backend that routes same-subnet peers
      // directly (vxlan's directRouting) encapsulates there.
      const shape = probe.capabilities.crossSubnet ? overlaySuiteCluster({ twoSubnets: true }) : state;
      const net = await realize(
        composeDataplane(shape, {
          podNetwork: oversizedPods(options.podNetwork()),
          overlay: options.overlay(),
        }),
      );
      const t = await net.trace({
        from: 'default/a1',
        to: `default/b1:${UDP_PORT}`,
        proto: 'udp',
        size: podMtu + 1,
        df: true,
      });
      expect(t.verdict, describeTrace(t)).not.toBe('delivered');
      const all = [...t.hops, ...(t.reply?.hops ?? [])];
      const icmp = all.find((h) => h.packet.icmp?.type === 3 && h.packet.icmp.code === 4);
      expect(icmp, `no ICMP fragmentation-needed:\n${describeTrace(t)}`).toBeDefined();
      expect(icmp!.packet.dst).toBe(a1.ips[0]);
      expect(
        all.some((h) => h.detail.includes(`mtu ${podMtu}`)),
        describeTrace(t),
      ).toBe(true);
    });

    it('pod → internet is masqueraded: the external host sees the node IP', async () => {
      const external = nthAddress(state.network.underlay.externalSubnet, 10);
      const t = await flat.trace({ from: 'default/a1', to: external, proto: 'icmp' });
      expect(t.verdict, describeTrace(t)).toBe('delivered');
      const at = t.delivered?.node ?? '';
      expect(at === 'node-1' || at === 'node-2', describeTrace(t)).toBe(false);
      const seen = lastHopOn(t.hops, at);
      expect(seen?.packet.src, describeTrace(t)).toBe(node1.internalIPs[0]);
      expectReplyHome(t, 'node-1', 'default/a1');
    });

    if (probe.capabilities.crossSubnet) {
      it('crossSubnet: pods reach each other across the router between two underlay subnets', async () => {
        const split = overlaySuiteCluster({ twoSubnets: true });
        expect(split.nodes[0].underlaySubnet).not.toBe(split.nodes[1].underlaySubnet);
        const net = await realize(
          composeDataplane(split, { podNetwork: options.podNetwork(), overlay: options.overlay() }),
        );
        const t = await net.trace({ from: 'default/a1', to: `default/b1:${TCP_PORT}`, proto: 'tcp' });
        expectDelivered(t, { node: 'node-2', pod: 'default/b1' });
        expect(
          t.hops.some((h) => h.node === ROUTER_NAME),
          `never crossed the router:\n${describeTrace(t)}`,
        ).toBe(true);
        // The router has no route to pod CIDRs: what crosses it must be wrapped (or be the node's own traffic).
        const bare = t.hops.filter(
          (h) => h.node === ROUTER_NAME && h.packet.src === a1.ips[0] && h.packet.encap === undefined,
        );
        expect(bare, `a bare pod packet reached the router:\n${describeTrace(t)}`).toEqual([]);
        expectReplyHome(t, 'node-1', 'default/a1');
      });
    } else {
      it('no crossSubnet: the engine refuses nodes on two subnets, naming both', () => {
        const split = overlaySuiteCluster({ twoSubnets: true });
        let caught: unknown;
        try {
          composeDataplane(split, { podNetwork: options.podNetwork(), overlay: options.overlay() });
        } catch (e) {
          caught = e;
        }
        expect(caught).toBeInstanceOf(CapabilityError);
        expect((caught as CapabilityError).capability).toBe('crossSubnet');
        expect((caught as Error).message).toContain(
          `${TWO_SUBNETS.subnets[0]} and ${TWO_SUBNETS.subnets[1]}`,
        );
      });
    }

    const dualStack = {
      clusterCIDRs: ['10.244.0.0/16', 'fd00:10:244::/56'],
      ipFamilies: [4, 6] as (4 | 6)[],
    };
    if (probe.capabilities.ipv6) {
      it('ipv6: dual-stack pods reach each other over IPv6 across nodes', async () => {
        const ds = overlaySuiteCluster({ network: dualStack });
        const net = await realize(
          composeDataplane(ds, { podNetwork: options.podNetwork(), overlay: options.overlay() }),
        );
        const v6 = ds.pods[2].ips.find((ip) => ip.includes(':'));
        expect(v6).toBeDefined();
        const t = await net.trace({ from: 'default/a1', to: `[${v6}]:${TCP_PORT}`, proto: 'tcp' });
        expectDelivered(t, { node: 'node-2', pod: 'default/b1' });
        expectReplyHome(t, 'node-1', 'default/a1');
      });
    } else {
      it('no ipv6: the engine refuses an IPv6 pod network', () => {
        const ds = overlaySuiteCluster({ network: dualStack });
        let caught: unknown;
        try {
          composeDataplane(ds, { podNetwork: options.podNetwork(), overlay: options.overlay() });
        } catch (e) {
          caught = e;
        }
        expect(PodnetError.is(caught) && caught.code).toBe('PODNET_CAPABILITY_UNSUPPORTED');
        expect((caught as CapabilityError).capability).toBe('ipv6');
      });
    }

    it('renders the same plan twice (pure render)', () => {
      const a = composeDataplane(state, { podNetwork: options.podNetwork(), overlay: options.overlay() });
      const b = composeDataplane(state, { podNetwork: options.podNetwork(), overlay: options.overlay() });
      expect(JSON.stringify(a)).toBe(JSON.stringify(b));
      expect(node2.podCIDRs[0]).not.toBe(node1.podCIDRs[0]);
    });
  });
}

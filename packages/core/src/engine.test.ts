import { describe, expect, it } from 'vitest';
import { ROOT_NETNS, podNetnsName } from './dataplane.js';
import { composeDataplane } from './engine.js';
import { CapabilityError, PlanConflictError, PodnetError } from './errors.js';
import type { OverlayBackend, PodNetworkPlugin, RenderContext } from './plugin.js';
import { fixtureCluster } from './testing/cluster-fixture.js';

const podNet: PodNetworkPlugin = {
  specificationVersion: 'v1',
  kind: 'pod-network',
  name: 'test-net',
  render(ctx: RenderContext) {
    return {
      namespaces: ctx.pods.map((p) => ({ name: podNetnsName(p), kind: 'pod' as const, pod: p })),
      links: [
        { kind: 'bridge', name: 'br0', netns: ROOT_NETNS, mtu: ctx.podMtu },
        ...ctx.pods.map((p, i) => ({
          kind: 'veth' as const,
          name: `veth${i}`,
          netns: ROOT_NETNS,
          master: 'br0',
          peer: { name: 'eth0', netns: podNetnsName(p), mtu: ctx.podMtu },
        })),
      ],
      addresses: ctx.pods.map((p) => ({ netns: podNetnsName(p), dev: 'eth0', cidr: `${p.ips[0]}/24` })),
    };
  },
};

function overlay(extra: Partial<OverlayBackend> & { claim?: string } = {}): OverlayBackend {
  return {
    specificationVersion: 'v1',
    kind: 'overlay',
    name: 'test-overlay',
    encapOverhead: 50,
    capabilities: { ipv6: false, crossSubnet: true },
    render: () => (extra.claim ? { links: [{ kind: 'dummy', name: extra.claim, netns: ROOT_NETNS }] } : {}),
    ...extra,
  };
}

const state = fixtureCluster({
  nodes: [{ name: 'node-1' }, { name: 'node-2' }],
  pods: [
    { name: 'a', node: 'node-1', ports: [{ port: 8080 }] },
    { name: 'b', node: 'node-2' },
    { name: 'h', node: 'node-2', hostNetwork: true },
  ],
});

describe('composeDataplane', () => {
  it('builds each node from the base, the plugins and the workload apps', () => {
    const plan = composeDataplane(state, { podNetwork: podNet, overlay: overlay() });
    expect(plan.nodes.map((n) => n.node)).toEqual(['node-1', 'node-2']);
    const n1 = plan.nodes[0];
    expect(n1.links.find((l) => l.name === 'eth0')).toMatchObject({ kind: 'physical', segment: '192.168.50.0/24' });
    expect(n1.addresses).toContainEqual({ netns: 'root', dev: 'eth0', cidr: '192.168.50.10/24' });
    expect(n1.routes).toContainEqual({ netns: 'root', dst: 'default', family: 4, via: '192.168.50.254', dev: 'eth0' });
    // pod MTU = underlay MTU minus the overlay's overhead
    expect(n1.links.find((l) => l.name === 'br0')?.mtu).toBe(1450);
    expect(n1.apps).toEqual([
      expect.objectContaining({ app: 'workload', netns: 'default/a', config: expect.objectContaining({ ports: [{ port: 8080, protocol: 'TCP' }] }) }),
    ]);
    // hostNetwork pod's workload runs in the node's root namespace
    expect(plan.nodes[1].apps.find((a) => a.pod?.name === 'h')?.netns).toBe('root');
    expect(plan.fabric.routers[0].interfaces.map((i) => i.cidr)).toEqual(['192.168.50.254/24', '203.0.113.254/24']);
    expect(plan.fabric.hosts[0]).toMatchObject({ name: 'external', cidr: '203.0.113.10/24', gateway: '203.0.113.254' });
  });

  it('is deterministic', () => {
    const a = composeDataplane(state, { podNetwork: podNet, overlay: overlay() });
    const b = composeDataplane(state, { podNetwork: podNet, overlay: overlay() });
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
  });

  it('rejects two plugins claiming one device', () => {
    const err = (() => {
      try {
        composeDataplane(state, { podNetwork: podNet, overlay: overlay({ claim: 'br0' }) });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(PlanConflictError);
    expect((err as PlanConflictError).plugins).toEqual(['pod-network/test-net', 'overlay/test-overlay']);
    expect((err as Error).message).toBe(
      'node node-1: device br0 in netns root is claimed by both pod-network/test-net and overlay/test-overlay',
    );
  });

  it('rejects an address claimed twice and a route naming a missing device', () => {
    const dupAddr = overlay({ render: () => ({ addresses: [{ netns: 'root', dev: 'eth0', cidr: '192.168.50.10/32' }] }) });
    expect(() => composeDataplane(state, { podNetwork: podNet, overlay: dupAddr })).toThrow(/address 192.168.50.10 in netns root/);
    const badRoute = overlay({ render: () => ({ routes: [{ netns: 'root', dst: '10.0.0.0/8', family: 4, dev: 'nope' }] }) });
    expect(() => composeDataplane(state, { podNetwork: podNet, overlay: badRoute })).toThrow(/unknown device nope/);
  });

  it('refuses an overlay that cannot cross subnets on a two-subnet cluster, naming the subnets', () => {
    const two = fixtureCluster({
      network: { underlay: { subnets: ['192.168.50.0/24', '192.168.60.0/24'], mtu: 1500, externalSubnet: '203.0.113.0/24' } },
      nodes: [{ name: 'n1' }, { name: 'n2', subnet: '192.168.60.0/24' }],
    });
    const l2only = overlay({ name: 'host-gw', capabilities: { ipv6: true, crossSubnet: false } });
    expect(() => composeDataplane(two, { podNetwork: podNet, overlay: l2only })).toThrow(CapabilityError);
    expect(() => composeDataplane(two, { podNetwork: podNet, overlay: l2only })).toThrow(
      /192\.168\.50\.0\/24 and 192\.168\.60\.0\/24/,
    );
    const plan = composeDataplane(two, { podNetwork: podNet, overlay: overlay() });
    expect(plan.nodes[1].routes[0].via).toBe('192.168.60.254');
  });

  it('refuses a plugin written against another specification version', () => {
    const old = { ...overlay(), specificationVersion: 'v0' } as unknown as OverlayBackend;
    expect(() => composeDataplane(state, { podNetwork: podNet, overlay: old })).toThrow(/specification v0/);
  });
});

describe('PodnetError', () => {
  it('is recognised across copies through the global symbol', () => {
    const e = new CapabilityError('x', 'y', 'z');
    expect(PodnetError.is(e)).toBe(true);
    expect(PodnetError.isUserError(e)).toBe(true);
    const foreign = Object.assign(new Error('x'), { [Symbol.for('podnet.error')]: true });
    expect(PodnetError.is(foreign)).toBe(true);
    expect(PodnetError.is(new Error('x'))).toBe(false);
  });
});

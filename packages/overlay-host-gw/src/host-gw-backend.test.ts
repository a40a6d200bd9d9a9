import {
  CapabilityError,
  composeDataplane,
  type PodNetworkPlugin,
  PodnetError,
  type RenderContext,
  ROOT_NETNS,
} from '@podnet/core';
import { fixtureCluster } from '@podnet/core/testing';
import { describe, expect, it } from 'vitest';
import { hostGw } from './host-gw-backend.js';

const noPods: PodNetworkPlugin = {
  specificationVersion: 'v1',
  kind: 'pod-network',
  name: 'none',
  render: () => ({}),
};

const flat = fixtureCluster({ nodes: [{ name: 'node-1' }, { name: 'node-2' }, { name: 'node-3' }] });

function ctxFor(name: string): RenderContext {
  return {
    state: flat,
    node: flat.nodes.find((n) => n.name === name)!,
    pods: [],
    podMtu: 1500,
    uplink: 'eth0',
    fabric: { segments: [], routers: [], hosts: [] },
  };
}

describe('host-gw render', () => {
  it('adds a route per remote pod CIDR via that node’s underlay IP on the uplink, nothing else', () => {
    const f = hostGw().render(ctxFor('node-2'));
    expect(f.routes).toEqual([
      { netns: ROOT_NETNS, dst: '10.244.0.0/24', family: 4, via: '192.168.50.10', dev: 'eth0' },
      { netns: ROOT_NETNS, dst: '10.244.2.0/24', family: 4, via: '192.168.50.12', dev: 'eth0' },
    ]);
    expect(f.links).toBeUndefined();
    expect(f.neighbors).toBeUndefined();
  });

  it('has no encapsulation overhead: pods get the full underlay MTU', () => {
    const b = hostGw();
    expect(b.encapOverhead).toBe(0);
    let seen = 0;
    composeDataplane(flat, {
      podNetwork: {
        ...noPods,
        render: (ctx) => {
          seen = ctx.podMtu;
          return {};
        },
      },
      overlay: b,
    });
    expect(seen).toBe(1500);
  });

  it('installs flannel masquerade and forward rules unless ipMasq is off', () => {
    const text = hostGw().render(ctxFor('node-1')).iptables?.ipv4 ?? '';
    expect(text).toContain(
      '-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT',
    );
    expect(hostGw({ ipMasq: false }).render(ctxFor('node-1')).iptables).toBeUndefined();
  });

  it('declares crossSubnet: false, and the engine refuses nodes on two subnets naming both', () => {
    expect(hostGw().capabilities).toEqual({ ipv6: false, crossSubnet: false });
    const split = fixtureCluster({
      network: {
        underlay: {
          subnets: ['192.168.50.0/24', '192.168.60.0/24'],
          mtu: 1500,
          externalSubnet: '203.0.113.0/24',
        },
      },
      nodes: [{ name: 'node-1' }, { name: 'node-2', subnet: '192.168.60.0/24' }],
    });
    let caught: unknown;
    try {
      composeDataplane(split, { podNetwork: noPods, overlay: hostGw() });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(CapabilityError);
    expect(caught).toMatchObject({
      code: 'PODNET_CAPABILITY_UNSUPPORTED',
      plugin: 'host-gw',
      capability: 'crossSubnet',
    });
    expect((caught as Error).message).toContain('192.168.50.0/24 and 192.168.60.0/24');
  });

  it('refuses unknown and mistyped options', () => {
    expect(() => hostGw({ directRouting: true } as never)).toThrow(
      'host-gw.directRouting: unknown option (known: ipMasq)',
    );
    expect(() => hostGw({ ipMasq: 'no' } as never)).toThrow(PodnetError);
  });
});

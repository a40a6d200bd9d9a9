import {
  composeDataplane,
  type PodNetworkPlugin,
  PodnetError,
  type RenderContext,
  ROOT_NETNS,
} from '@podnet/core';
import { fixtureCluster } from '@podnet/core/testing';
import { describe, expect, it } from 'vitest';
import { udp } from './udp-backend.js';

const state = fixtureCluster({
  network: {
    underlay: {
      subnets: ['192.168.50.0/24', '192.168.60.0/24'],
      mtu: 1500,
      externalSubnet: '203.0.113.0/24',
    },
  },
  nodes: [{ name: 'node-1' }, { name: 'node-2' }, { name: 'node-3', subnet: '192.168.60.0/24' }],
});

function ctxFor(name: string): RenderContext {
  return {
    state,
    node: state.nodes.find((n) => n.name === name)!,
    pods: [],
    podMtu: 1472,
    uplink: 'eth0',
    fabric: { segments: [], routers: [], hosts: [] },
  };
}

describe('udp render', () => {
  it('creates flannel0 (TUN, MTU underlay − 28) with the subnet .0/32 and routes the cluster CIDR into it', () => {
    const f = udp().render(ctxFor('node-2'));
    expect(f.links).toEqual([
      { kind: 'tun', name: 'flannel0', netns: ROOT_NETNS, mtu: 1472, owner: 'flannel-udp' },
    ]);
    expect(f.addresses).toEqual([{ netns: ROOT_NETNS, dev: 'flannel0', cidr: '10.244.1.0/32' }]);
    expect(f.routes).toEqual([{ netns: ROOT_NETNS, dst: '10.244.0.0/16', family: 4, dev: 'flannel0' }]);
  });

  it('runs the flannel-udp daemon in the root netns with every peer’s pod CIDR and node IP', () => {
    const f = udp({ port: 9000 }).render(ctxFor('node-2'));
    expect(f.apps).toEqual([
      {
        name: 'flannel-udp',
        netns: ROOT_NETNS,
        app: 'flannel-udp',
        config: {
          tun: 'flannel0',
          port: 9000,
          localIP: '192.168.50.11',
          tunIP: '10.244.1.0',
          mtu: 1472,
          peers: [
            { podCIDR: '10.244.0.0/24', nodeIP: '192.168.50.10' },
            { podCIDR: '10.244.2.0/24', nodeIP: '192.168.60.10' },
          ],
        },
      },
    ]);
  });

  it('declares 28 bytes of overhead and crosses routers', () => {
    const b = udp();
    expect(b.encapOverhead).toBe(28);
    expect(b.capabilities).toEqual({ ipv6: false, crossSubnet: true });
    let seen = 0;
    const probe: PodNetworkPlugin = {
      specificationVersion: 'v1',
      kind: 'pod-network',
      name: 'p',
      render: (ctx) => {
        seen = ctx.podMtu;
        return {};
      },
    };
    composeDataplane(state, { podNetwork: probe, overlay: b });
    expect(seen).toBe(1472);
  });

  it('installs the flannel masquerade rules unless ipMasq is off', () => {
    expect(udp().render(ctxFor('node-1')).iptables?.ipv4).toContain('-j FLANNEL-POSTRTG');
    expect(udp({ ipMasq: false }).render(ctxFor('node-1')).iptables).toBeUndefined();
  });

  it('refuses bad options', () => {
    expect(() => udp({ port: 0 })).toThrow('udp.port: must be an integer 1-65535, got 0');
    expect(() => udp({ Port: 1 } as never)).toThrow('udp.Port: unknown option');
    expect(() => udp({ ipMasq: 1 } as never)).toThrow(PodnetError);
  });
});

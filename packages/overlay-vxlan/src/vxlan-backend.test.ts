import {
  CapabilityError,
  composeDataplane,
  ipCommands,
  type PodNetworkPlugin,
  PodnetError,
  type RenderContext,
  ROOT_NETNS,
} from '@podnet/core';
import { fixtureCluster } from '@podnet/core/testing';
import { describe, expect, it } from 'vitest';
import { vtepMac, vxlan } from './vxlan-backend.js';

const state = fixtureCluster({
  nodes: [{ name: 'node-1' }, { name: 'node-2' }, { name: 'node-3', subnet: '192.168.60.0/24' }],
  network: {
    underlay: {
      subnets: ['192.168.50.0/24', '192.168.60.0/24'],
      mtu: 1500,
      externalSubnet: '203.0.113.0/24',
    },
  },
});

function ctxFor(name: string): RenderContext {
  return {
    state,
    node: state.nodes.find((n) => n.name === name)!,
    pods: [],
    podMtu: 1450,
    uplink: 'eth0',
    fabric: { segments: [], routers: [], hosts: [] },
  };
}

const noPods: PodNetworkPlugin = {
  specificationVersion: 'v1',
  kind: 'pod-network',
  name: 'none',
  render: () => ({}),
};

describe('vxlan render', () => {
  it('creates flannel.1 with nolearning, the local VTEP on the node IP, port 8472, dev = uplink, MTU underlay − 50', () => {
    const f = vxlan().render(ctxFor('node-1'));
    expect(f.links).toEqual([
      {
        kind: 'vxlan',
        name: 'flannel.1',
        netns: ROOT_NETNS,
        vni: 1,
        local: '192.168.50.10',
        dstport: 8472,
        learning: false,
        dev: 'eth0',
        mtu: 1450,
        mac: vtepMac('node-1', 1),
      },
    ]);
    expect(f.addresses).toEqual([{ netns: ROOT_NETNS, dev: 'flannel.1', cidr: '10.244.0.0/32' }]);
  });

  it('programs every remote node: neighbour, FDB, onlink route (in node order)', () => {
    const f = vxlan().render(ctxFor('node-1'));
    const m2 = vtepMac('node-2', 1);
    const m3 = vtepMac('node-3', 1);
    expect(f.neighbors).toEqual([
      { netns: ROOT_NETNS, dev: 'flannel.1', ip: '10.244.1.0', lladdr: m2, state: 'permanent' },
      { netns: ROOT_NETNS, dev: 'flannel.1', ip: '10.244.2.0', lladdr: m3, state: 'permanent' },
    ]);
    expect(f.fdb).toEqual([
      { netns: ROOT_NETNS, dev: 'flannel.1', lladdr: m2, dst: '192.168.50.11', permanent: true },
      { netns: ROOT_NETNS, dev: 'flannel.1', lladdr: m3, dst: '192.168.60.10', permanent: true },
    ]);
    expect(f.routes).toEqual([
      {
        netns: ROOT_NETNS,
        dst: '10.244.1.0/24',
        family: 4,
        via: '10.244.1.0',
        dev: 'flannel.1',
        onlink: true,
      },
      {
        netns: ROOT_NETNS,
        dst: '10.244.2.0/24',
        family: 4,
        via: '10.244.2.0',
        dev: 'flannel.1',
        onlink: true,
      },
    ]);
  });

  it('the ip commands put neighbour and FDB before the route that needs them, as flannel does', () => {
    const plan = composeDataplane(state, { podNetwork: noPods, overlay: vxlan() });
    const cmds = ipCommands(plan.nodes[0]).filter((c) => c.includes('flannel.1'));
    const m2 = vtepMac('node-2', 1);
    const neigh = cmds.indexOf(`ip neigh replace 10.244.1.0 lladdr ${m2} dev flannel.1 nud permanent`);
    const fdb = cmds.indexOf(`bridge fdb append ${m2} dev flannel.1 dst 192.168.50.11 self permanent`);
    const route = cmds.indexOf('ip route replace 10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink');
    expect(neigh).toBeGreaterThanOrEqual(0);
    expect(fdb).toBeGreaterThan(neigh);
    expect(route).toBeGreaterThan(fdb);
    expect(cmds[0]).toBe(
      'ip link add name flannel.1 mtu 1450 address ' +
        vtepMac('node-1', 1) +
        ' type vxlan id 1 local 192.168.50.10 dev eth0 dstport 8472 nolearning',
    );
  });

  it('VTEP MACs are derived from the node name: stable, distinct per node and VNI, unicast and local', () => {
    expect(vtepMac('node-1', 1)).toBe(vtepMac('node-1', 1));
    expect(vtepMac('node-1', 1)).not.toBe(vtepMac('node-2', 1));
    expect(vtepMac('node-1', 1)).not.toBe(vtepMac('node-1', 2));
    const first = Number.parseInt(vtepMac('node-1', 1).slice(0, 2), 16);
    expect(first & 1).toBe(0);
    expect(first & 2).toBe(2);
  });

  it('honours vni, port and mtu', () => {
    const f = vxlan({ vni: 4096, port: 4789, mtu: 1400 }).render(ctxFor('node-2'));
    expect(f.links?.[0]).toMatchObject({
      name: 'flannel.4096',
      vni: 4096,
      dstport: 4789,
      mtu: 1400,
      local: '192.168.50.11',
    });
    expect(f.routes?.every((r) => r.dev === 'flannel.4096')).toBe(true);
  });

  it('directRouting: plain routes via the node IP to peers on the same subnet, VXLAN across the router', () => {
    const f = vxlan({ directRouting: true }).render(ctxFor('node-1'));
    expect(f.routes).toEqual([
      { netns: ROOT_NETNS, dst: '10.244.1.0/24', family: 4, via: '192.168.50.11', dev: 'eth0' },
      {
        netns: ROOT_NETNS,
        dst: '10.244.2.0/24',
        family: 4,
        via: '10.244.2.0',
        dev: 'flannel.1',
        onlink: true,
      },
    ]);
    expect(f.neighbors?.map((n) => n.ip)).toEqual(['10.244.2.0']);
    expect(f.fdb?.map((e) => e.dst)).toEqual(['192.168.60.10']);
  });

  it('installs flannel masquerade rules for the node lease', () => {
    const f = vxlan().render(ctxFor('node-2'));
    expect(f.iptables?.ipv4).toContain(
      '-A FLANNEL-POSTRTG -s 10.244.1.0/24 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j RETURN',
    );
    expect(vxlan({ ipMasq: false }).render(ctxFor('node-2')).iptables).toBeUndefined();
  });

  it('declares 50 bytes of overhead, so the engine gives pods underlay − 50', () => {
    const b = vxlan();
    expect(b.encapOverhead).toBe(50);
    expect(b.capabilities).toEqual({ ipv6: false, crossSubnet: true });
    let seen = 0;
    const probe: PodNetworkPlugin = {
      ...noPods,
      render: (ctx) => {
        seen = ctx.podMtu;
        return {};
      },
    };
    composeDataplane(state, { podNetwork: probe, overlay: b });
    expect(seen).toBe(1450);
  });

  it('refuses IPv6 pod networks through the engine (no flannel-v6 device: the underlay model is IPv4)', () => {
    const ds = fixtureCluster({
      network: { clusterCIDRs: ['10.244.0.0/16', 'fd00:10:244::/56'], ipFamilies: [4, 6] },
      nodes: [{ name: 'n1' }],
    });
    expect(() => composeDataplane(ds, { podNetwork: noPods, overlay: vxlan() })).toThrow(CapabilityError);
  });
});

describe('vxlan options', () => {
  it.each([
    [{ vni: -1 }, 'vxlan.vni: must be an integer 0-16777215, got -1'],
    [{ vni: 10_000_000 }, 'vxlan.vni: device name flannel.10000000 is longer than'],
    [{ port: 70000 }, 'vxlan.port: must be an integer 1-65535, got 70000'],
    [{ mtu: 1.5 }, 'vxlan.mtu: must be an integer 68-65535, got 1.5'],
    [{ directRouting: 1 }, 'vxlan.directRouting: must be a boolean, got 1'],
    [{ VNI: 2 }, 'vxlan.VNI: unknown option'],
  ])('refuses %j', (opts, message) => {
    let caught: unknown;
    try {
      vxlan(opts as never);
    } catch (e) {
      caught = e;
    }
    expect(PodnetError.is(caught) && caught.code).toBe('PODNET_INVALID_ARGUMENT');
    expect((caught as Error).message).toContain(message);
  });

  it('refuses an MTU the underlay cannot carry after encapsulation', () => {
    expect(() => vxlan({ mtu: 1460 }).render(ctxFor('node-1'))).toThrow(
      'vxlan.mtu: 1460 leaves no room for the 50-byte VXLAN header on a 1500-byte underlay (at most 1450)',
    );
  });
});

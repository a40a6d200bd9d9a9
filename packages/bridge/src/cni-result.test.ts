import { InvalidArgumentError, type RenderContext } from '@podnet/core';
import { fixtureCluster } from '@podnet/core/testing';
import { describe, expect, it } from 'vitest';
import { bridge } from './bridge-plugin.js';
import { sandboxPath } from './cni-names.js';
import { cniResult } from './cni-result.js';

const state = fixtureCluster({
  nodes: [{ name: 'node-1' }, { name: 'node-2' }],
  pods: [
    { name: 'web', node: 'node-2' },
    { name: 'h', node: 'node-2', hostNetwork: true },
  ],
});
const node2 = state.nodes[1];
const web = state.pods[0];

describe('cniResult', () => {
  it('is the CNI 1.0 ADD result the bridge plugin prints', () => {
    const r = cniResult(web, node2);
    expect(r).toEqual({
      cniVersion: '1.0.0',
      interfaces: [
        { name: 'cni0', mac: expect.stringMatching(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/) },
        { name: expect.stringMatching(/^veth[0-9a-f]{8}$/), mac: expect.any(String) },
        { name: 'eth0', mac: expect.any(String), sandbox: sandboxPath(web) },
      ],
      ips: [{ address: '10.244.1.2/24', gateway: '10.244.1.1', interface: 2 }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.244.1.1' }],
      dns: {},
    });
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
    expect(r.interfaces[2].sandbox).toMatch(
      /^\/var\/run\/netns\/cni-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });

  it('names and MACs agree with what the render creates', () => {
    const ctx: RenderContext = {
      state,
      node: node2,
      pods: state.pods,
      podMtu: 1450,
      uplink: 'eth0',
      fabric: { segments: [], routers: [], hosts: [] },
    };
    const f = bridge().render(ctx);
    const r = cniResult(web, node2);
    const br = f.links!.find((l) => l.kind === 'bridge')!;
    const veth = f.links!.find((l) => l.kind === 'veth' && l.peer.netns === 'default/web');
    expect(veth?.kind).toBe('veth');
    if (veth?.kind !== 'veth') return;
    expect(r.interfaces.map((i) => [i.name, i.mac])).toEqual([
      [br.name, br.mac],
      [veth.name, veth.mac],
      [veth.peer.name, veth.peer.mac],
    ]);
  });

  it('follows the options: no default route without isDefaultGateway, no gateway without isGateway, sandbox override', () => {
    expect(cniResult(web, node2, { isDefaultGateway: false }).routes).toEqual([]);
    const l2 = cniResult(web, node2, {
      isDefaultGateway: false,
      isGateway: false,
      sandbox: '/run/netns/x',
      bridge: 'br0',
    });
    expect(l2.ips).toEqual([{ address: '10.244.1.2/24', interface: 2 }]);
    expect(l2.interfaces[0].name).toBe('br0');
    expect(l2.interfaces[2].sandbox).toBe('/run/netns/x');
  });

  it('has one IP per family for dual-stack pods and a default route per family', () => {
    const ds = fixtureCluster({
      network: { clusterCIDRs: ['10.244.0.0/16', 'fd00:10:244::/56'], ipFamilies: [4, 6] },
      nodes: [{ name: 'n1' }],
      pods: [{ name: 'a', node: 'n1' }],
    });
    const r = cniResult(ds.pods[0], ds.nodes[0]);
    expect(r.ips).toEqual([
      { address: '10.244.0.2/24', gateway: '10.244.0.1', interface: 2 },
      { address: 'fd00:10:244::2/64', gateway: 'fd00:10:244::1', interface: 2 },
    ]);
    expect(r.routes).toEqual([
      { dst: '0.0.0.0/0', gw: '10.244.0.1' },
      { dst: '::/0', gw: 'fd00:10:244::1' },
    ]);
  });

  it('refuses hostNetwork pods and pods of another node', () => {
    expect(() => cniResult(state.pods[1], node2)).toThrow(InvalidArgumentError);
    expect(() => cniResult(web, state.nodes[0])).toThrow(
      /default\/web: is scheduled on node-2, not on node-1/,
    );
  });
});

import {
  composeDataplane,
  InvalidArgumentError,
  type OverlayBackend,
  PodnetError,
  type RenderContext,
  ROOT_NETNS,
} from '@podnet/core';
import { fixtureCluster } from '@podnet/core/testing';
import { describe, expect, it } from 'vitest';
import { bridge } from './bridge-plugin.js';
import { containerId, formatChainName, vethName } from './cni-names.js';

const noOverlay: OverlayBackend = {
  specificationVersion: 'v1',
  kind: 'overlay',
  name: 'none',
  encapOverhead: 50,
  capabilities: { ipv6: true, crossSubnet: true },
  render: () => ({}),
};

const state = fixtureCluster({
  nodes: [{ name: 'node-1' }, { name: 'node-2' }],
  pods: [
    { name: 'a', node: 'node-2' },
    { name: 'b', node: 'node-2' },
    { name: 'h', node: 'node-2', hostNetwork: true },
  ],
});

function ctxFor(nodeName: string, s = state, podMtu = 1450): RenderContext {
  const node = s.nodes.find((n) => n.name === nodeName)!;
  return {
    state: s,
    node,
    pods: s.pods.filter((p) => p.node === nodeName),
    podMtu,
    uplink: 'eth0',
    fabric: { segments: [], routers: [], hosts: [] },
  };
}

describe('bridge render', () => {
  it('puts the gateway (first address of the pod CIDR) on cni0 with the pod MTU', () => {
    const f = bridge().render(ctxFor('node-2'));
    expect(f.links?.[0]).toMatchObject({ kind: 'bridge', name: 'cni0', netns: ROOT_NETNS, mtu: 1450 });
    expect(f.addresses).toContainEqual({ netns: ROOT_NETNS, dev: 'cni0', cidr: '10.244.1.1/24' });
  });

  it('gives each pod a namespace, lo with 127.0.0.1/8, a veth pair, its address and a default route', () => {
    const f = bridge().render(ctxFor('node-2'));
    const a = state.pods.find((p) => p.name === 'a')!;
    expect(a.ips).toEqual(['10.244.1.2']);
    expect(f.namespaces).toEqual([
      { name: 'default/a', kind: 'pod', pod: { namespace: 'default', name: 'a' } },
      { name: 'default/b', kind: 'pod', pod: { namespace: 'default', name: 'b' } },
    ]);
    const veth = f.links?.find((l) => l.kind === 'veth' && l.peer.netns === 'default/a');
    expect(veth).toMatchObject({
      kind: 'veth',
      name: vethName(a),
      netns: ROOT_NETNS,
      master: 'cni0',
      hairpin: true,
      mtu: 1450,
      peer: { name: 'eth0', netns: 'default/a', mtu: 1450 },
    });
    expect(veth?.name).toMatch(/^veth[0-9a-f]{8}$/);
    expect(f.links).toContainEqual({ kind: 'loopback', name: 'lo', netns: 'default/a', mtu: 65536 });
    expect(f.addresses).toContainEqual({ netns: 'default/a', dev: 'lo', cidr: '127.0.0.1/8', scope: 'host' });
    expect(f.addresses).toContainEqual({ netns: 'default/a', dev: 'eth0', cidr: '10.244.1.2/24' });
    expect(f.routes).toContainEqual({
      netns: 'default/a',
      dst: 'default',
      family: 4,
      via: '10.244.1.1',
      dev: 'eth0',
    });
  });

  it('gives hostNetwork pods nothing', () => {
    const f = bridge().render(ctxFor('node-2'));
    const all = JSON.stringify(f);
    expect(all).not.toContain('default/h');
    expect(f.links?.filter((l) => l.kind === 'veth')).toHaveLength(2);
  });

  it('derives veth names from namespace/name/ifname: stable, distinct, 8 hex chars', () => {
    const a = { namespace: 'default', name: 'a' };
    expect(vethName(a)).toBe(vethName({ namespace: 'default', name: 'a' }));
    expect(vethName(a)).not.toBe(vethName({ namespace: 'other', name: 'a' }));
    expect(vethName(a)).not.toBe(vethName(a, 'net1'));
    expect(vethName(a).length).toBeLessThanOrEqual(15);
  });

  it('sets the sysctls the plugin and kube-proxy need', () => {
    const f = bridge().render(ctxFor('node-2'));
    expect(f.sysctls).toEqual(
      expect.arrayContaining([
        { netns: ROOT_NETNS, key: 'net.ipv4.ip_forward', value: '1' },
        { netns: ROOT_NETNS, key: 'net.bridge.bridge-nf-call-iptables', value: '1' },
        { netns: 'default/a', key: 'net.ipv4.conf.eth0.arp_notify', value: '1' },
      ]),
    );
  });

  it('honours the options: bridge name, mtu, hairpin off, promisc, isGateway without default route', () => {
    const f = bridge({ bridge: 'br-pods', mtu: 1400, hairpinMode: false, isDefaultGateway: false }).render(
      ctxFor('node-2'),
    );
    expect(f.links?.[0]).toMatchObject({ kind: 'bridge', name: 'br-pods', mtu: 1400 });
    expect(
      f.links
        ?.filter((l) => l.kind === 'veth')
        .every((l) => l.hairpin === false && l.mtu === 1400 && l.master === 'br-pods'),
    ).toBe(true);
    expect(f.routes?.filter((r) => r.netns === 'default/a')).toEqual([
      { netns: 'default/a', dst: '10.244.0.0/16', family: 4, via: '10.244.1.1', dev: 'eth0' },
    ]);
    const p = bridge({ promiscMode: true }).render(ctxFor('node-2'));
    expect(p.links?.[0]).toMatchObject({ kind: 'bridge', promisc: true });
    expect(p.links?.find((l) => l.kind === 'veth')?.hairpin).toBe(false);
  });

  it('without isGateway the bridge has no address and pods no routes (L2 only)', () => {
    const f = bridge({ isGateway: false, isDefaultGateway: false }).render(ctxFor('node-2'));
    expect(f.addresses?.filter((a) => a.dev === 'cni0')).toEqual([]);
    expect(f.routes).toEqual([]);
  });

  it('renders ipMasq as the plugin does: CNI-<sha512> chain, ACCEPT own subnet, MASQUERADE but multicast', () => {
    const f = bridge({ ipMasq: true }).render(ctxFor('node-2'));
    const a = state.pods.find((p) => p.name === 'a')!;
    const id = containerId(a);
    const chain = formatChainName('cbr0', id);
    expect(chain).toMatch(/^CNI-[0-9a-f]{24}$/);
    const comment = `-m comment --comment "name: \\"cbr0\\" id: \\"${id}\\""`;
    const text = f.iptables?.ipv4 ?? '';
    expect(text.startsWith('*nat\n')).toBe(true);
    expect(text.trimEnd().endsWith('COMMIT')).toBe(true);
    expect(text).toContain(`:${chain} - [0:0]`);
    const lines = text.split('\n').filter((l) => l.includes(chain) && l.startsWith('-A'));
    expect(lines).toEqual([
      `-A ${chain} -d 10.244.1.0/24 ${comment} -j ACCEPT`,
      `-A ${chain} ! -d 224.0.0.0/4 ${comment} -j MASQUERADE`,
      `-A POSTROUTING -s 10.244.1.2/32 ${comment} -j ${chain}`,
    ]);
    expect(f.iptables?.ipv6).toBe('');
    expect(bridge().render(ctxFor('node-2')).iptables).toBeUndefined();
  });

  it('matches the upstream FormatChainName test vector', () => {
    expect(formatChainName('test', '1234')).toBe('CNI-2bbe0c48b91a7d1b8a6753a8');
  });

  it('renders dual-stack pods: both addresses, both gateways, a default route per family', () => {
    const ds = fixtureCluster({
      network: { clusterCIDRs: ['10.244.0.0/16', 'fd00:10:244::/56'], ipFamilies: [4, 6] },
      nodes: [{ name: 'n1' }],
      pods: [{ name: 'a', node: 'n1' }],
    });
    const f = bridge({ ipMasq: true }).render(ctxFor('n1', ds));
    expect(f.addresses).toEqual(
      expect.arrayContaining([
        { netns: ROOT_NETNS, dev: 'cni0', cidr: '10.244.0.1/24' },
        { netns: ROOT_NETNS, dev: 'cni0', cidr: 'fd00:10:244::1/64' },
        { netns: 'default/a', dev: 'eth0', cidr: '10.244.0.2/24' },
        { netns: 'default/a', dev: 'eth0', cidr: 'fd00:10:244::2/64' },
        { netns: 'default/a', dev: 'lo', cidr: '::1/128', scope: 'host' },
      ]),
    );
    expect(f.routes).toEqual([
      { netns: 'default/a', dst: 'default', family: 4, via: '10.244.0.1', dev: 'eth0' },
      { netns: 'default/a', dst: 'default', family: 6, via: 'fd00:10:244::1', dev: 'eth0' },
    ]);
    expect(f.iptables?.ipv6).toContain('! -d ff00::/8');
    expect(f.iptables?.ipv6).toContain('-A POSTROUTING -s fd00:10:244::2/128');
    expect(f.sysctls).toContainEqual({
      netns: ROOT_NETNS,
      key: 'net.bridge.bridge-nf-call-ip6tables',
      value: '1',
    });
  });

  it('refuses a pod address outside the node pod CIDR, naming the pod and field', () => {
    const s = fixtureCluster({ nodes: [{ name: 'n1' }], pods: [{ name: 'a', node: 'n1' }] });
    const bad = { ...s, pods: [{ ...s.pods[0], ips: ['10.9.9.9'] }] };
    expect(() => bridge().render(ctxFor('n1', bad))).toThrow(InvalidArgumentError);
    expect(() => bridge().render(ctxFor('n1', bad))).toThrow(
      /pod default\/a: ips\[0\]: 10\.9\.9\.9 is outside node n1's pod CIDRs \(10\.244\.0\.0\/24\)/,
    );
  });

  it('composes with the engine: the plan verifies and every pod workload lands in its namespace', () => {
    const plan = composeDataplane(state, { podNetwork: bridge(), overlay: noOverlay });
    const n2 = plan.nodes.find((n) => n.node === 'node-2')!;
    expect(n2.namespaces.map((n) => n.name)).toEqual(['root', 'default/a', 'default/b']);
    expect(n2.apps.map((a) => [a.name, a.netns])).toEqual([
      ['workload:default/a', 'default/a'],
      ['workload:default/b', 'default/b'],
      ['workload:default/h', 'root'],
    ]);
  });
});

describe('bridge options', () => {
  it('refuses hairpinMode with promiscMode, like the plugin', () => {
    expect(() => bridge({ hairpinMode: true, promiscMode: true })).toThrow(
      'bridge.hairpinMode: cannot set hairpin mode and promiscuous mode at the same time',
    );
  });

  it.each([
    [{ mtu: 20 }, /bridge\.mtu: must be an integer 68-65535, got 20/],
    [{ bridge: 'a-name-that-is-too-long' }, /bridge\.bridge: .* is not a valid Linux interface name/],
    [{ ipMasq: 'yes' }, /bridge\.ipMasq: must be a boolean, got "yes"/],
    [{ name: '' }, /bridge\.name: must be a non-empty string/],
    [{ bridgeName: 'x' }, /bridge\.bridgeName: unknown option/],
  ])('refuses %j', (opts, message) => {
    let caught: unknown;
    try {
      bridge(opts as never);
    } catch (e) {
      caught = e;
    }
    expect(PodnetError.is(caught)).toBe(true);
    expect((caught as PodnetError).code).toBe('PODNET_INVALID_ARGUMENT');
    expect((caught as Error).message).toMatch(message);
  });

  it('isDefaultGateway implies isGateway', () => {
    const f = bridge({ isGateway: false, isDefaultGateway: true }).render(ctxFor('node-2'));
    expect(f.addresses).toContainEqual({ netns: ROOT_NETNS, dev: 'cni0', cidr: '10.244.1.1/24' });
  });
});

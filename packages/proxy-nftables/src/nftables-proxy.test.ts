import type { RenderContext } from '@podnet/core';
import {
  FAKE_NODE,
  fakeDualStackWorld,
  fakeEndpoint,
  fakeOneServiceWorld,
  fakePort,
  fakeService,
  fakeSlice,
  fakeWorld,
} from '@podnet/core/testing';
import { describe, expect, it } from 'vitest';
import { type NftablesProxyOptions, nftablesProxy, renderNftables } from './nftables-proxy.js';
import { endpointChainNameBase, serviceChainNames } from './nftables-names.js';
import { NftFake } from './test-support.js';

const svc1 = serviceChainNames('ns1', 'svc1', 'tcp', 'p80');
const ep = (ip: string, p = 80) => `endpoint-${endpointChainNameBase('ns1', 'svc1', 'tcp', 'p80', ip, p)}`;
const aff = (ip: string) => `affinity-${endpointChainNameBase('ns1', 'svc1', 'tcp', 'p80', ip, 80)}`;

function loaded(ctx: RenderContext, options: NftablesProxyOptions = {}): NftFake {
  const nft = new NftFake();
  nft.apply(renderNftables(ctx, options));
  return nft;
}

describe('table setup', () => {
  const nft = loaded(fakeOneServiceWorld({}));

  it('hooks the base chains at kube-proxy’s priorities', () => {
    const dump = nft.dump();
    expect(dump).toContain(
      'add chain ip kube-proxy filter-prerouting-pre-dnat { type filter hook prerouting priority -110 ; }',
    );
    expect(dump).toContain(
      'add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }',
    );
    expect(dump).toContain(
      'add chain ip kube-proxy nat-postrouting { type nat hook postrouting priority 100 ; }',
    );
    expect(nft.chainRules('filter-output')).toEqual([
      'ct state new jump service-endpoints-check',
      'ct state new jump cluster-ips-check',
    ]);
  });

  it('marks and masquerades with the mark of bit 14', () => {
    expect(nft.chainRules('mark-for-masquerade')).toEqual(['mark set mark or 0x00004000']);
    expect(nft.chainRules('masquerading')).toEqual([
      'mark and 0x00004000 == 0 return',
      'mark set mark xor 0x00004000',
      'masquerade fully-random',
    ]);
  });

  it('rejects bad ports of ClusterIPs and drops unallocated addresses of the service CIDR', () => {
    expect(nft.chainRules('cluster-ips-check')).toEqual([
      'ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"',
      'ip daddr { 172.30.0.0/16 } drop comment "Drop traffic to unallocated ClusterIPs"',
    ]);
    const two = loaded(
      fakeOneServiceWorld({}, undefined, { serviceCIDRs: ['172.30.0.0/16', '172.31.0.0/16'] }),
    );
    expect(two.chainRules('cluster-ips-check')[1]).toBe(
      'ip daddr { 172.30.0.0/16,172.31.0.0/16 } drop comment "Drop traffic to unallocated ClusterIPs"',
    );
  });

  it('accepts NodePorts on the node’s primary IP by default, or on every local address', () => {
    expect(nft.dump()).toContain('add element ip kube-proxy nodeport-ips { 192.168.0.2 }');
    expect(nft.chainRules('services')[1]).toBe(
      'ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports',
    );
    const all = loaded(fakeOneServiceWorld({}), { nodePortAddresses: ['0.0.0.0/0'] });
    expect(all.has('set', 'nodeport-ips')).toBe(false);
    expect(all.chainRules('services')[1]).toBe(
      'fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports',
    );
    expect(all.chainRules('nodeport-endpoints-check')).toEqual([
      'ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @no-endpoint-nodeports',
    ]);
  });
});

describe('ClusterIP', () => {
  const nft = loaded(
    fakeOneServiceWorld({}, [
      fakeEndpoint('10.180.0.1'),
      fakeEndpoint('10.180.0.2'),
      fakeEndpoint('10.180.0.3'),
    ]),
  );

  it('dispatches the cluster IP through service-ips to the service chain', () => {
    expect(nft.element('cluster-ips', '172.30.0.41')).toBe('');
    expect(nft.element('service-ips', '172.30.0.41 . tcp . 80')).toBe(`goto ${svc1.service}`);
  });

  it('masquerades off-cluster sources and picks an endpoint with numgen', () => {
    expect(nft.chainRules(svc1.service)).toEqual([
      'ip daddr 172.30.0.41 ip saddr != 10.0.0.0/8 jump mark-for-masquerade',
      `numgen random mod 3 vmap { 0 : goto ${ep('10.180.0.1')} , 1 : goto ${ep('10.180.0.2')} , 2 : goto ${ep('10.180.0.3')} }`,
    ]);
  });

  it('writes one endpoint chain per endpoint: hairpin masquerade, then DNAT', () => {
    expect(nft.chainRules(ep('10.180.0.2'))).toEqual([
      'ip saddr 10.180.0.2 jump mark-for-masquerade',
      'meta l4proto tcp dnat to 10.180.0.2:80',
    ]);
  });

  it('uses the protocol in keys and DNAT (UDP, SCTP)', () => {
    const udp = loaded(
      fakeWorld({
        services: [
          fakeService('ns1', 'dns', {
            clusterIPs: ['172.30.0.10'],
            ports: [fakePort('dns', 53, { protocol: 'UDP' })],
          }),
        ],
        slices: [
          fakeSlice('ns1', 'dns', [fakeEndpoint('10.180.0.9')], [{ name: 'dns', port: 53, protocol: 'UDP' }]),
        ],
      }),
    );
    const names = serviceChainNames('ns1', 'dns', 'udp', 'dns');
    expect(udp.element('service-ips', '172.30.0.10 . udp . 53')).toBe(`goto ${names.service}`);
    expect(udp.dump()).toContain('meta l4proto udp dnat to 10.180.0.9:53');
  });

  it('skips headless and ExternalName services', () => {
    const t = renderNftables(
      fakeWorld({
        services: [
          fakeService('ns1', 'headless', { headless: true, clusterIPs: [], ports: [fakePort('p', 80)] }),
          fakeService('ns1', 'ext', {
            type: 'ExternalName',
            externalName: 'example.com',
            ports: [fakePort('p', 80)],
          }),
        ],
        slices: [fakeSlice('ns1', 'headless', [fakeEndpoint('10.180.0.1')], [{ name: 'p', port: 80 }])],
      }),
    );
    expect(t).not.toMatch(/ (service|endpoint)-[A-Z2-7]{8}-/);
    expect(t).not.toContain('add element ip kube-proxy cluster-ips');
  });

  it('is deterministic', () => {
    expect(renderNftables(fakeOneServiceWorld({}))).toBe(renderNftables(fakeOneServiceWorld({})));
  });
});

describe('dual stack', () => {
  const ctx = fakeDualStackWorld();
  const nft = loaded(ctx);

  it('writes an ip and an ip6 kube-proxy table in one transaction', () => {
    expect([...nft.tables.keys()]).toEqual(['ip', 'ip6']);
    expect(nft.dump()).toContain(
      'add set ip6 kube-proxy cluster-ips { type ipv6_addr ; comment "Active ClusterIPs" ; }',
    );
  });

  it('uses each family’s addresses, pod CIDR and match words', () => {
    expect(nft.element('service-ips', 'fd00:30::41 . tcp . 80', 'ip6')).toBe(`goto ${svc1.service}`);
    expect(nft.chainRules(svc1.service, 'ip6')[0]).toBe(
      'ip6 daddr fd00:30::41 ip6 saddr != fd00:10::/64 jump mark-for-masquerade',
    );
    expect(nft.chainRules(ep('fd00:10::5'), 'ip6')).toEqual([
      'ip6 saddr fd00:10::5 jump mark-for-masquerade',
      'meta l4proto tcp dnat to [fd00:10::5]:80',
    ]);
    expect(nft.chainRules('cluster-ips-check', 'ip6')[1]).toContain('ip6 daddr { fd00:30::/112 } drop');
    expect(nft.dump()).toContain('add element ip6 kube-proxy nodeport-ips { 2001:db8::2 }');
  });
});

describe('NodePort, LoadBalancer, externalIPs', () => {
  const lb = (ranges: string[], extra = {}) =>
    fakeOneServiceWorld({
      type: 'LoadBalancer',
      ports: [fakePort('p80', 80, { nodePort: 30080 })],
      loadBalancerIPs: ['5.6.7.8'],
      externalIPs: ['192.168.99.11'],
      loadBalancerSourceRanges: ranges,
      ...extra,
    });

  it('sends node ports, external IPs and LB IPs to the external chain, which masquerades', () => {
    const nft = loaded(lb([]));
    expect(nft.element('service-nodeports', 'tcp . 30080')).toBe(`goto ${svc1.external}`);
    expect(nft.element('service-ips', '192.168.99.11 . tcp . 80')).toBe(`goto ${svc1.external}`);
    expect(nft.element('service-ips', '5.6.7.8 . tcp . 80')).toBe(`goto ${svc1.external}`);
    expect(nft.chainRules(svc1.external)).toEqual(['jump mark-for-masquerade', `goto ${svc1.service}`]);
    expect(nft.has('chain', svc1.firewall)).toBe(false);
  });

  it('firewalls loadBalancerSourceRanges through firewall-ips', () => {
    const nft = loaded(lb(['203.0.113.0/25', ' 198.51.100.0/24']));
    expect(nft.element('firewall-ips', '5.6.7.8 . tcp . 80')).toBe(`goto ${svc1.firewall}`);
    expect(nft.chainRules(svc1.firewall)).toEqual(['ip saddr != { 203.0.113.0/25 , 198.51.100.0/24 } drop']);
    expect(nft.chainRules('firewall-check')).toEqual([
      'ip daddr . meta l4proto . th dport vmap @firewall-ips',
    ]);
  });

  it('lets the node reach its own LB VIP when a source range contains the node IP', () => {
    expect(loaded(lb(['192.168.0.0/16'])).chainRules(svc1.firewall)).toEqual([
      'ip saddr != { 192.168.0.0/16 , 5.6.7.8 } drop',
    ]);
  });
});

describe('externalTrafficPolicy: Local', () => {
  const ctx = (nodeName?: string) =>
    fakeOneServiceWorld(
      {
        type: 'LoadBalancer',
        externalTrafficPolicy: 'Local',
        ports: [fakePort('p80', 80, { nodePort: 30080 })],
        loadBalancerIPs: ['1.2.3.4'],
        healthCheckNodePort: 30000,
      },
      [fakeEndpoint('10.180.0.1', { nodeName }), fakeEndpoint('10.180.0.2', { nodeName: 'other-node' })],
    );

  it('short-circuits pod and node traffic to the service chain and sends the rest to local-', () => {
    const nft = loaded(ctx(FAKE_NODE));
    expect(nft.chainRules(svc1.external)).toEqual([
      `ip saddr 10.0.0.0/8 goto ${svc1.service} comment "short-circuit pod traffic"`,
      'fib saddr type local jump mark-for-masquerade comment "masquerade local traffic"',
      `fib saddr type local goto ${svc1.service} comment "short-circuit local traffic"`,
      `goto ${svc1.local}`,
    ]);
    expect(nft.chainRules(svc1.local)).toEqual([`numgen random mod 1 vmap { 0 : goto ${ep('10.180.0.1')} }`]);
  });

  it('drops external traffic when this node has no endpoint', () => {
    const nft = loaded(ctx(undefined));
    expect(nft.element('no-endpoint-services', '1.2.3.4 . tcp . 80')).toBe('drop');
    expect(nft.element('no-endpoint-nodeports', 'tcp . 30080')).toBe('drop');
    expect(nft.element('service-ips', '1.2.3.4 . tcp . 80')).toBe(`goto ${svc1.external}`);
    expect(nft.chainRules(svc1.external)).toHaveLength(3);
    expect(nft.has('chain', svc1.local)).toBe(false);
  });
});

describe('internalTrafficPolicy: Local', () => {
  it('sends ClusterIP traffic to local- with this node’s endpoints only', () => {
    const nft = loaded(
      fakeOneServiceWorld({ internalTrafficPolicy: 'Local' }, [
        fakeEndpoint('10.180.0.1', { nodeName: FAKE_NODE }),
        fakeEndpoint('10.180.0.2'),
      ]),
    );
    expect(nft.element('service-ips', '172.30.0.41 . tcp . 80')).toBe(`goto ${svc1.local}`);
    expect(nft.chainRules(svc1.local)).toEqual([
      'ip daddr 172.30.0.41 ip saddr != 10.0.0.0/8 jump mark-for-masquerade',
      `numgen random mod 1 vmap { 0 : goto ${ep('10.180.0.1')} }`,
    ]);
    expect(nft.has('chain', ep('10.180.0.2'))).toBe(false);
  });

  it('drops ClusterIP traffic when this node has no endpoint', () => {
    const nft = loaded(fakeOneServiceWorld({ internalTrafficPolicy: 'Local' }, [fakeEndpoint('10.180.0.2')]));
    expect(nft.element('no-endpoint-services', '172.30.0.41 . tcp . 80')).toBe('drop');
  });
});

describe('session affinity ClientIP', () => {
  it('keeps a timed set of clients per endpoint and checks it before load balancing', () => {
    const nft = loaded(
      fakeOneServiceWorld({ sessionAffinity: 'ClientIP', sessionAffinityTimeoutSeconds: 600 }, [
        fakeEndpoint('10.180.0.1'),
        fakeEndpoint('10.180.0.2'),
      ]),
    );
    expect(nft.dump()).toContain(
      `add set ip kube-proxy ${aff('10.180.0.1')} { type ipv4_addr ; flags dynamic,timeout ; timeout 600s ; }`,
    );
    expect(nft.chainRules(svc1.service).slice(1, 3)).toEqual([
      `ip saddr @${aff('10.180.0.1')} goto ${ep('10.180.0.1')}`,
      `ip saddr @${aff('10.180.0.2')} goto ${ep('10.180.0.2')}`,
    ]);
    expect(nft.chainRules(ep('10.180.0.1'))[1]).toBe(`update @${aff('10.180.0.1')} { ip saddr }`);
  });
});

describe('services without usable endpoints', () => {
  it('rejects through reject-chain for every address and the node port', () => {
    const nft = loaded(
      fakeOneServiceWorld(
        {
          type: 'LoadBalancer',
          ports: [fakePort('p80', 80, { nodePort: 30080 })],
          externalIPs: ['192.168.99.11'],
          loadBalancerIPs: ['1.2.3.4'],
        },
        [],
      ),
    );
    for (const key of ['172.30.0.41 . tcp . 80', '192.168.99.11 . tcp . 80', '1.2.3.4 . tcp . 80']) {
      expect(nft.element('no-endpoint-services', key)).toBe('goto reject-chain');
    }
    expect(nft.element('no-endpoint-nodeports', 'tcp . 30080')).toBe('goto reject-chain');
    expect(nft.element('cluster-ips', '172.30.0.41')).toBe('');
    expect(nft.dump()).not.toContain('svc1/tcp');
    expect(nft.dump()).toContain('{ 172.30.0.41 . tcp . 80 comment "ns1/svc1:p80" : goto reject-chain }');
  });

  it('falls back to serving terminating endpoints only when none is ready', () => {
    const terminating = (ip: string, serving = true) =>
      fakeEndpoint(ip, { ready: false, serving, terminating: true });
    const only = loaded(
      fakeOneServiceWorld({}, [terminating('10.180.0.1'), terminating('10.180.0.2', false)]),
    );
    expect(only.chainRules(svc1.service)[1]).toBe(
      `numgen random mod 1 vmap { 0 : goto ${ep('10.180.0.1')} }`,
    );
    const mixed = loaded(fakeOneServiceWorld({}, [terminating('10.180.0.1'), fakeEndpoint('10.180.0.3')]));
    expect(mixed.chainRules(svc1.service)[1]).toBe(
      `numgen random mod 1 vmap { 0 : goto ${ep('10.180.0.3')} }`,
    );
  });
});

describe('options', () => {
  const first = (o: NftablesProxyOptions, network = {}) =>
    loaded(fakeOneServiceWorld({}, undefined, network), o).chainRules(svc1.service)[0];

  it('masqueradeAll masquerades every ClusterIP connection', () => {
    expect(first({ masqueradeAll: true })).toBe('ip daddr 172.30.0.41 jump mark-for-masquerade');
  });

  it('masqueradeBit sets the mark; nftables.masqueradeBit wins over it', () => {
    expect(renderNftables(fakeOneServiceWorld({}), { masqueradeBit: 0 })).toContain(
      'mark set mark or 0x00000001',
    );
    expect(
      renderNftables(fakeOneServiceWorld({}), { masqueradeBit: 0, nftables: { masqueradeBit: 20 } }),
    ).toContain('mark set mark or 0x00100000');
  });

  it('detectLocalMode chooses how pod traffic is recognised', () => {
    expect(first({ detectLocalMode: 'NodeCIDR' })).toContain('ip saddr != 10.0.0.0/24 jump');
    expect(first({ detectLocalMode: 'BridgeInterface', detectLocal: { bridgeInterface: 'cni0' } })).toContain(
      'iifname != cni0 jump',
    );
    expect(
      first({ detectLocalMode: 'InterfaceNamePrefix', detectLocal: { interfaceNamePrefix: 'veth' } }),
    ).toContain('iifname != veth* jump');
    expect(first({ clusterCIDR: '10.244.0.0/16' })).toContain('ip saddr != 10.244.0.0/16 jump');
  });

  it('writes no masquerade rule for ClusterIPs without a pod CIDR to tell pods apart', () => {
    expect(first({}, { clusterCIDRs: [] })).toMatch(/^numgen/);
  });

  it('reads ClusterNetwork.spec.proxy at render time, over the factory options', () => {
    const ctx = fakeOneServiceWorld({}, undefined, { proxy: { mode: 'nftables', masqueradeBit: 3 } });
    const text = nftablesProxy({ masqueradeBit: 5, masqueradeAll: true }).render(ctx).nftables ?? '';
    expect(text).toContain('mark set mark or 0x00000008');
    expect(text).toContain('ip daddr 172.30.0.41 jump mark-for-masquerade');
  });
});

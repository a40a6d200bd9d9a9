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
import { iptablesProxy, renderIptables } from './iptables-proxy.js';
import { endpointChainName, serviceChainNames } from './iptables-names.js';
import { ENSURE_MARKER } from './iptables-rules.js';
import { applyRestore, chainRules, restoreData } from './test-support.js';

const svc1 = serviceChainNames('ns1/svc1:p80', 'tcp');
const sep = (ep: string) => endpointChainName('ns1/svc1:p80', 'tcp', ep);

const nat = (text: string, chain: string) => chainRules(text, 'nat', chain);
const filter = (text: string, chain: string) => chainRules(text, 'filter', chain);

describe('ClusterIP', () => {
  const eps = [fakeEndpoint('10.180.0.1'), fakeEndpoint('10.180.0.2'), fakeEndpoint('10.180.0.3')];
  const text = renderIptables(fakeOneServiceWorld({}, eps)).ipv4;

  it('jumps from KUBE-SERVICES to the service chain for the cluster IP and port', () => {
    expect(nat(text, 'KUBE-SERVICES')[0]).toBe(
      `-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j ${svc1.svc}`,
    );
  });

  it('masquerades off-cluster sources, then picks an endpoint with 1/n probabilities', () => {
    expect(nat(text, svc1.svc)).toEqual([
      `-A ${svc1.svc} -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ`,
      `-A ${svc1.svc} -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -m statistic --mode random --probability 0.3333333333 -j ${sep('10.180.0.1:80')}`,
      `-A ${svc1.svc} -m comment --comment "ns1/svc1:p80 -> 10.180.0.2:80" -m statistic --mode random --probability 0.5000000000 -j ${sep('10.180.0.2:80')}`,
      `-A ${svc1.svc} -m comment --comment "ns1/svc1:p80 -> 10.180.0.3:80" -j ${sep('10.180.0.3:80')}`,
    ]);
  });

  it('writes one endpoint chain per endpoint: hairpin masquerade, then DNAT', () => {
    expect(nat(text, sep('10.180.0.2:80'))).toEqual([
      `-A ${sep('10.180.0.2:80')} -m comment --comment ns1/svc1:p80 -s 10.180.0.2 -j KUBE-MARK-MASQ`,
      `-A ${sep('10.180.0.2:80')} -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.2:80`,
    ]);
  });

  it('installs the mark, SNAT and forward rules with the masquerade mark of bit 14', () => {
    expect(nat(text, 'KUBE-MARK-MASQ')).toEqual(['-A KUBE-MARK-MASQ -j MARK --or-mark 0x00004000']);
    expect(nat(text, 'KUBE-POSTROUTING')).toEqual([
      '-A KUBE-POSTROUTING -m mark ! --mark 0x00004000/0x00004000 -j RETURN',
      '-A KUBE-POSTROUTING -j MARK --xor-mark 0x00004000',
      '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
    ]);
    expect(filter(text, 'KUBE-FORWARD')).toEqual([
      '-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP',
      '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x00004000/0x00004000 -j ACCEPT',
      '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
    ]);
  });

  it('ends KUBE-SERVICES with the jump to KUBE-NODEPORTS for local destinations', () => {
    expect(nat(text, 'KUBE-SERVICES').at(-1)).toBe(
      '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS',
    );
  });

  it('uses the protocol in matches and chain names (UDP, SCTP)', () => {
    const udp = renderIptables(
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
    ).ipv4;
    const names = serviceChainNames('ns1/dns:dns', 'udp');
    expect(nat(udp, 'KUBE-SERVICES')[0]).toContain(`-m udp -p udp -d 172.30.0.10 --dport 53 -j ${names.svc}`);
    expect(nat(udp, endpointChainName('ns1/dns:dns', 'udp', '10.180.0.9:53'))[1]).toContain(
      '-m udp -p udp -j DNAT --to-destination 10.180.0.9:53',
    );
  });

  it('names an unnamed port ns/name in comments and hashes', () => {
    const t = renderIptables(
      fakeWorld({
        services: [fakeService('ns1', 'web', { clusterIPs: ['172.30.0.50'], ports: [fakePort('', 8080)] })],
        slices: [fakeSlice('ns1', 'web', [fakeEndpoint('10.180.0.7')], [{ name: '', port: 8080 }])],
      }),
    ).ipv4;
    expect(nat(t, serviceChainNames('ns1/web', 'tcp').svc)[1]).toContain('"ns1/web -> 10.180.0.7:8080"');
  });

  it('skips headless and ExternalName services', () => {
    const t = renderIptables(
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
    ).ipv4;
    expect(t).not.toContain('KUBE-SVC-');
    expect(t).not.toContain('KUBE-SEP-');
    expect(nat(t, 'KUBE-SERVICES')).toHaveLength(1);
  });

  it('is deterministic', () => {
    expect(renderIptables(fakeOneServiceWorld({}, eps))).toEqual(
      renderIptables(fakeOneServiceWorld({}, eps)),
    );
  });
});

describe('dual stack', () => {
  const ctx = fakeDualStackWorld();
  const { ipv4, ipv6 } = renderIptables(ctx);

  it('renders each family from its own cluster IP, endpoints and pod CIDR', () => {
    expect(ipv4).toContain('-d 172.30.0.41 --dport 80');
    expect(ipv4).not.toContain('fd00');
    expect(nat(ipv6, 'KUBE-SERVICES')[0]).toContain(`-d fd00:30::41 --dport 80 -j ${svc1.svc}`);
    expect(nat(ipv6, svc1.svc)[0]).toContain('! -s fd00:10::/64 -j KUBE-MARK-MASQ');
    expect(nat(ipv6, endpointChainName('ns1/svc1:p80', 'tcp', '[fd00:10::5]:80'))[1]).toContain(
      '-j DNAT --to-destination [fd00:10::5]:80',
    );
  });

  it('has no localhost NodePorts in IPv6: no KUBE-FIREWALL rule, ::1 excluded', () => {
    expect(filter(ipv6, 'KUBE-FIREWALL')).toEqual([]);
    expect(nat(ipv6, 'KUBE-SERVICES').at(-1)).toContain(
      '-m addrtype --dst-type LOCAL ! -d ::1/128 -j KUBE-NODEPORTS',
    );
  });

  it('leaves the IPv6 text empty in a single-stack cluster', () => {
    expect(renderIptables(fakeOneServiceWorld({})).ipv6).toBe('');
  });
});

describe('NodePort', () => {
  const text = renderIptables(
    fakeOneServiceWorld({ type: 'NodePort', ports: [fakePort('p80', 80, { nodePort: 30080 })] }),
  ).ipv4;

  it('sends the node port to the external chain, which masquerades and goes to the service', () => {
    expect(nat(text, 'KUBE-NODEPORTS')).toEqual([
      `-A KUBE-NODEPORTS -m comment --comment ns1/svc1:p80 -m tcp -p tcp --dport 30080 -j ${svc1.ext}`,
    ]);
    expect(nat(text, svc1.ext)).toEqual([
      `-A ${svc1.ext} -m comment --comment "masquerade traffic for ns1/svc1:p80 external destinations" -j KUBE-MARK-MASQ`,
      `-A ${svc1.ext} -j ${svc1.svc}`,
    ]);
  });

  it('accepts localhost NodePorts by default, guarded by the anti-martian KUBE-FIREWALL rule', () => {
    expect(filter(text, 'KUBE-FIREWALL')).toEqual([
      '-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP',
    ]);
  });

  it('excludes 127.0.0.0/8 when iptables.localhostNodePorts is false', () => {
    const t = renderIptables(
      fakeOneServiceWorld({ type: 'NodePort', ports: [fakePort('p80', 80, { nodePort: 30080 })] }),
      {
        iptables: { localhostNodePorts: false },
      },
    ).ipv4;
    expect(nat(t, 'KUBE-SERVICES').at(-1)).toContain(
      '-m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS',
    );
    expect(filter(t, 'KUBE-FIREWALL')).toEqual([]);
  });

  it('with nodePortAddresses, jumps to KUBE-NODEPORTS only for the node addresses inside them', () => {
    const ctx = fakeOneServiceWorld({ type: 'NodePort', ports: [fakePort('p80', 80, { nodePort: 30080 })] });
    const byCidr = renderIptables(ctx, { nodePortAddresses: ['192.168.0.0/24'] }).ipv4;
    expect(nat(byCidr, 'KUBE-SERVICES').at(-1)).toBe(
      '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -d 192.168.0.2 -j KUBE-NODEPORTS',
    );
    expect(filter(byCidr, 'KUBE-FIREWALL')).toEqual([]);
    const primary = renderIptables(ctx, { nodePortAddresses: ['primary'] }).ipv4;
    expect(nat(primary, 'KUBE-SERVICES').at(-1)).toContain('-d 192.168.0.2 -j KUBE-NODEPORTS');
    const withLoopback = renderIptables(ctx, { nodePortAddresses: ['127.0.0.0/8', '192.168.0.0/24'] }).ipv4;
    expect(
      nat(withLoopback, 'KUBE-SERVICES')
        .slice(-2)
        .map((r) => r.split(' -d ')[1]),
    ).toEqual(['127.0.0.1 -j KUBE-NODEPORTS', '192.168.0.2 -j KUBE-NODEPORTS']);
  });

  it('counts the localhost NodePort rule with nfacct when the counters exist', () => {
    const t = renderIptables(
      fakeOneServiceWorld({ type: 'NodePort', ports: [fakePort('p80', 80, { nodePort: 30080 })] }),
      {
        host: { nfacct: true },
      },
    ).ipv4;
    expect(nat(t, 'KUBE-NODEPORTS')[0]).toBe(
      `-A KUBE-NODEPORTS -m comment --comment ns1/svc1:p80 -m tcp -p tcp -d 127.0.0.0/8 --dport 30080 -m nfacct --nfacct-name localhost_nps_accepted_pkts -j ${svc1.ext}`,
    );
    expect(filter(t, 'KUBE-FORWARD')[0]).toBe(
      '-A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name ct_state_invalid_dropped_pkts -j DROP',
    );
  });
});

describe('LoadBalancer and externalIPs', () => {
  const lb = (ranges: string[]) =>
    fakeOneServiceWorld({
      type: 'LoadBalancer',
      ports: [fakePort('p80', 80, { nodePort: 30080 })],
      loadBalancerIPs: ['5.6.7.8'],
      externalIPs: ['192.168.99.11'],
      loadBalancerSourceRanges: ranges,
    });

  it('sends external IPs and LB IPs to the external chain', () => {
    const text = renderIptables(lb([])).ipv4;
    expect(nat(text, 'KUBE-SERVICES')).toContain(
      `-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 external IP" -m tcp -p tcp -d 192.168.99.11 --dport 80 -j ${svc1.ext}`,
    );
    expect(nat(text, 'KUBE-SERVICES')).toContain(
      `-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 loadbalancer IP" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j ${svc1.ext}`,
    );
    expect(text).not.toContain('KUBE-FW-');
  });

  it('firewalls loadBalancerSourceRanges through KUBE-FW- and KUBE-PROXY-FIREWALL', () => {
    const text = renderIptables(lb(['203.0.113.0/25', ' 198.51.100.0/24 '])).ipv4;
    expect(nat(text, 'KUBE-SERVICES')).toContain(
      `-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 loadbalancer IP" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j ${svc1.fw}`,
    );
    expect(nat(text, svc1.fw)).toEqual([
      `-A ${svc1.fw} -m comment --comment "ns1/svc1:p80 loadbalancer IP" -s 203.0.113.0/25 -j ${svc1.ext}`,
      `-A ${svc1.fw} -m comment --comment "ns1/svc1:p80 loadbalancer IP" -s 198.51.100.0/24 -j ${svc1.ext}`,
      `-A ${svc1.fw} -m comment --comment "other traffic to ns1/svc1:p80 will be dropped by KUBE-PROXY-FIREWALL"`,
    ]);
    expect(filter(text, 'KUBE-PROXY-FIREWALL')).toEqual([
      `-A KUBE-PROXY-FIREWALL -m comment --comment "ns1/svc1:p80 traffic not accepted by ${svc1.fw}" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j DROP`,
    ]);
  });

  it('lets the node reach its own LB VIP when a source range contains the node IP', () => {
    const text = renderIptables(lb(['192.168.0.0/16'])).ipv4;
    expect(nat(text, svc1.fw)[1]).toBe(
      `-A ${svc1.fw} -m comment --comment "ns1/svc1:p80 loadbalancer IP" -s 5.6.7.8 -j ${svc1.ext}`,
    );
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

  it('short-circuits pod and node traffic to the cluster chain and sends the rest to KUBE-SVL-', () => {
    const text = renderIptables(ctx(FAKE_NODE)).ipv4;
    expect(nat(text, svc1.ext)).toEqual([
      `-A ${svc1.ext} -m comment --comment "pod traffic for ns1/svc1:p80 external destinations" -s 10.0.0.0/8 -j ${svc1.svc}`,
      `-A ${svc1.ext} -m comment --comment "masquerade LOCAL traffic for ns1/svc1:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ`,
      `-A ${svc1.ext} -m comment --comment "route LOCAL traffic for ns1/svc1:p80 external destinations" -m addrtype --src-type LOCAL -j ${svc1.svc}`,
      `-A ${svc1.ext} -j ${svc1.svl}`,
    ]);
    expect(nat(text, svc1.svl)).toEqual([
      `-A ${svc1.svl} -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -j ${sep('10.180.0.1:80')}`,
    ]);
    expect(nat(text, svc1.svc)).toHaveLength(3);
  });

  it('opens the health check node port in the filter table', () => {
    expect(filter(renderIptables(ctx(FAKE_NODE)).ipv4, 'KUBE-NODEPORTS')).toEqual([
      '-A KUBE-NODEPORTS -m comment --comment "ns1/svc1:p80 health check node port" -m tcp -p tcp --dport 30000 -j ACCEPT',
    ]);
  });

  it('drops external traffic when this node has no endpoint, keeping the short-circuit rules', () => {
    const text = renderIptables(ctx(undefined)).ipv4;
    expect(filter(text, 'KUBE-EXTERNAL-SERVICES')).toEqual([
      '-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/svc1:p80 has no local endpoints" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j DROP',
      '-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/svc1:p80 has no local endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30080 -j DROP',
    ]);
    expect(nat(text, svc1.ext)).toHaveLength(3);
    expect(text).not.toContain(`:${svc1.svl}`);
  });
});

describe('internalTrafficPolicy: Local', () => {
  it('sends ClusterIP traffic to KUBE-SVL- with only this node’s endpoints', () => {
    const text = renderIptables(
      fakeOneServiceWorld({ internalTrafficPolicy: 'Local' }, [
        fakeEndpoint('10.180.0.1', { nodeName: FAKE_NODE }),
        fakeEndpoint('10.180.0.2'),
      ]),
    ).ipv4;
    expect(nat(text, 'KUBE-SERVICES')[0]).toContain(`-j ${svc1.svl}`);
    expect(nat(text, svc1.svl)).toEqual([
      `-A ${svc1.svl} -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ`,
      `-A ${svc1.svl} -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -j ${sep('10.180.0.1:80')}`,
    ]);
    expect(text).not.toContain(sep('10.180.0.2:80'));
  });

  it('drops ClusterIP traffic when this node has no endpoint', () => {
    const text = renderIptables(
      fakeOneServiceWorld({ internalTrafficPolicy: 'Local' }, [fakeEndpoint('10.180.0.2')]),
    ).ipv4;
    expect(filter(text, 'KUBE-SERVICES')).toEqual([
      '-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 has no local endpoints" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j DROP',
    ]);
  });
});

describe('session affinity ClientIP', () => {
  it('checks and records the client with -m recent under the endpoint chain name', () => {
    const text = renderIptables(
      fakeOneServiceWorld({ sessionAffinity: 'ClientIP', sessionAffinityTimeoutSeconds: 600 }, [
        fakeEndpoint('10.180.0.1'),
        fakeEndpoint('10.180.0.2'),
      ]),
    ).ipv4;
    const a = sep('10.180.0.1:80');
    expect(nat(text, svc1.svc).slice(1, 3)).toEqual([
      `-A ${svc1.svc} -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -m recent --name ${a} --rcheck --seconds 600 --reap -j ${a}`,
      `-A ${svc1.svc} -m comment --comment "ns1/svc1:p80 -> 10.180.0.2:80" -m recent --name ${sep('10.180.0.2:80')} --rcheck --seconds 600 --reap -j ${sep('10.180.0.2:80')}`,
    ]);
    expect(nat(text, a)[1]).toBe(
      `-A ${a} -m comment --comment ns1/svc1:p80 -m recent --name ${a} --set -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80`,
    );
  });
});

describe('services without usable endpoints', () => {
  it('REJECTs the cluster IP, external IPs, LB IPs and node port in the filter table', () => {
    const text = renderIptables(
      fakeOneServiceWorld(
        {
          type: 'LoadBalancer',
          ports: [fakePort('p80', 80, { nodePort: 30080 })],
          externalIPs: ['192.168.99.11'],
          loadBalancerIPs: ['1.2.3.4'],
        },
        [],
      ),
    ).ipv4;
    expect(filter(text, 'KUBE-SERVICES')).toEqual([
      '-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j REJECT',
    ]);
    expect(filter(text, 'KUBE-EXTERNAL-SERVICES').map((r) => r.split(' -j ')[1])).toEqual([
      'REJECT',
      'REJECT',
      'REJECT',
    ]);
    expect(text).not.toContain('KUBE-SVC-');
    expect(text).not.toContain('KUBE-EXT-');
  });

  it('falls back to serving terminating endpoints only when none is ready', () => {
    const terminating = (ip: string, serving = true) =>
      fakeEndpoint(ip, { ready: false, serving, terminating: true });
    const onlyTerminating = renderIptables(
      fakeOneServiceWorld({}, [terminating('10.180.0.1'), terminating('10.180.0.2', false)]),
    ).ipv4;
    expect(nat(onlyTerminating, svc1.svc)[1]).toContain(`-j ${sep('10.180.0.1:80')}`);
    expect(onlyTerminating).not.toContain(sep('10.180.0.2:80'));
    const mixed = renderIptables(
      fakeOneServiceWorld({}, [terminating('10.180.0.1'), fakeEndpoint('10.180.0.3')]),
    ).ipv4;
    expect(nat(mixed, svc1.svc).slice(1)).toEqual([
      `-A ${svc1.svc} -m comment --comment "ns1/svc1:p80 -> 10.180.0.3:80" -j ${sep('10.180.0.3:80')}`,
    ]);
  });
});

describe('options', () => {
  it('masqueradeAll masquerades every ClusterIP connection', () => {
    const text = renderIptables(fakeOneServiceWorld({}), { masqueradeAll: true }).ipv4;
    expect(nat(text, svc1.svc)[0]).toBe(
      `-A ${svc1.svc} -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-MARK-MASQ`,
    );
  });

  it('masqueradeBit sets the mark; iptables.masqueradeBit wins over it', () => {
    expect(
      nat(renderIptables(fakeOneServiceWorld({}), { masqueradeBit: 0 }).ipv4, 'KUBE-MARK-MASQ')[0],
    ).toContain('--or-mark 0x00000001');
    const both = renderIptables(fakeOneServiceWorld({}), {
      masqueradeBit: 0,
      iptables: { masqueradeBit: 31 },
    }).ipv4;
    expect(nat(both, 'KUBE-MARK-MASQ')[0]).toContain('--or-mark 0x80000000');
  });

  it('detectLocalMode chooses how pod traffic is recognised', () => {
    const rule = (o: object) => nat(renderIptables(fakeOneServiceWorld({}), o).ipv4, svc1.svc)[0];
    expect(rule({ detectLocalMode: 'NodeCIDR' })).toContain('! -s 10.0.0.0/24 -j KUBE-MARK-MASQ');
    expect(rule({ detectLocalMode: 'BridgeInterface', detectLocal: { bridgeInterface: 'cni0' } })).toContain(
      '! -i cni0 -j',
    );
    expect(
      rule({ detectLocalMode: 'InterfaceNamePrefix', detectLocal: { interfaceNamePrefix: 'veth' } }),
    ).toContain('! -i veth+ -j');
    expect(rule({ clusterCIDR: '10.244.0.0/16' })).toContain('! -s 10.244.0.0/16 -j');
  });

  it('writes no masquerade rule for ClusterIPs without a pod CIDR to tell pods apart', () => {
    const text = renderIptables(fakeOneServiceWorld({}, undefined, { clusterCIDRs: [] })).ipv4;
    expect(nat(text, svc1.svc)).toHaveLength(1);
  });

  it('conntrack.tcpBeLiberal drops the INVALID rule; host.randomFully false drops --random-fully', () => {
    const text = renderIptables(fakeOneServiceWorld({}), {
      conntrack: { tcpBeLiberal: true },
      host: { randomFully: false },
    }).ipv4;
    expect(filter(text, 'KUBE-FORWARD')).toHaveLength(2);
    expect(nat(text, 'KUBE-POSTROUTING')[2]).toMatch(/-j MASQUERADE$/);
  });

  it('reads ClusterNetwork.spec.proxy at render time, over the factory options', () => {
    const ctx = fakeOneServiceWorld({}, undefined, { proxy: { mode: 'iptables', masqueradeBit: 3 } });
    const out = iptablesProxy({ masqueradeBit: 5, masqueradeAll: true }).render(ctx).iptables?.ipv4 ?? '';
    expect(nat(out, 'KUBE-MARK-MASQ')[0]).toContain('--or-mark 0x00000008');
    expect(nat(out, svc1.svc)[0]).not.toContain('! -s');
  });
});

describe('large cluster mode', () => {
  const many = (n: number) =>
    fakeOneServiceWorld(
      {},
      Array.from({ length: n }, (_, i) => fakeEndpoint(`10.181.${i >> 8}.${i & 255}`)),
    );

  it('keeps comments up to 1000 endpoints and drops the endpoint comments above', () => {
    const small = renderIptables(many(1000)).ipv4;
    expect(nat(small, svc1.svc)[1]).toContain('-m comment --comment "ns1/svc1:p80 -> 10.181.0.0:80"');
    const large = renderIptables(many(1001)).ipv4;
    expect(nat(large, svc1.svc)[1]).toBe(
      `-A ${svc1.svc} -m statistic --mode random --probability 0.0009990010 -j ${sep('10.181.0.0:80')}`,
    );
    expect(nat(large, sep('10.181.0.0:80'))[0]).toBe(
      `-A ${sep('10.181.0.0:80')} -s 10.181.0.0 -j KUBE-MARK-MASQ`,
    );
    expect(nat(large, svc1.svc)[0]).toContain('-m comment --comment "ns1/svc1:p80 cluster IP"');
  });
});

describe('EnsureRule block', () => {
  it('follows the restore data and reproduces kube-proxy’s jump order in the built-in chains', () => {
    const text = renderIptables(fakeOneServiceWorld({})).ipv4;
    expect(restoreData(text, ENSURE_MARKER)).not.toContain('-I ');
    const tables = applyRestore([text]);
    expect(tables.get('filter')?.get('INPUT')).toEqual([
      '-j KUBE-FIREWALL',
      '-m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
      '-m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS',
      '-m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
    ]);
    expect(tables.get('nat')?.get('PREROUTING')).toEqual([
      '-m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    ]);
    expect(tables.get('mangle')?.has('KUBE-PROXY-CANARY')).toBe(true);
  });
});

import { RuleParseError } from '@podnet/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { enumeratePaths } from './chooser.js';
import { VirtualClock } from './conntrack.js';
import { NetfilterHarness, type PacketSpec } from './harness.js';
import { tokenize } from './nft-lexer.js';
import { NftRuleset } from './nft-ruleset.js';
import { TCP_ACK } from './packet.js';

const NODE = {
  addresses: [
    { dev: 'eth0', cidr: '192.168.99.2/24' },
    { dev: 'cni0', cidr: '10.180.0.254/16' },
  ],
  routes: [{ dst: 'default', dev: 'eth0' }],
};

function node(nft: string, clock?: VirtualClock): NetfilterHarness {
  const h = new NetfilterHarness(NODE, { clock });
  h.nf.applyNft(nft, { source: 'test.nft' });
  return h;
}

const pkt = (p: Partial<PacketSpec> = {}): PacketSpec => ({
  proto: 'tcp',
  src: '203.0.113.5',
  dst: '172.30.0.41',
  sport: 40000,
  dport: 80,
  iif: 'eth0',
  ...p,
});

/** kube-proxy's nftables-mode shape, as knftables writes it (cf. pkg/proxy/nftables). */
const KUBE_PROXY = `
add table ip kube-proxy { comment "rules for kube-proxy" ; }
add chain ip kube-proxy filter-prerouting { type filter hook prerouting priority -110 ; }
add chain ip kube-proxy filter-forward { type filter hook forward priority -110 ; }
add chain ip kube-proxy filter-input { type filter hook input priority -110 ; }
add chain ip kube-proxy filter-output { type filter hook output priority -110 ; }
add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }
add chain ip kube-proxy nat-output { type nat hook output priority -100 ; }
add chain ip kube-proxy nat-postrouting { type nat hook postrouting priority 100 ; }
add chain ip kube-proxy endpoints-check
add chain ip kube-proxy firewall-check
add chain ip kube-proxy services
add chain ip kube-proxy masquerading
add chain ip kube-proxy mark-for-masquerade
add chain ip kube-proxy reject-chain { comment "helper for @no-endpoint-services / @no-endpoint-nodeports" ; }
add rule ip kube-proxy reject-chain reject
add rule ip kube-proxy filter-input ct state new jump endpoints-check
add rule ip kube-proxy filter-forward ct state new jump endpoints-check
add rule ip kube-proxy filter-output ct state new jump endpoints-check
add rule ip kube-proxy filter-prerouting ct state new jump firewall-check
add rule ip kube-proxy nat-output jump services
add rule ip kube-proxy nat-prerouting jump services
add rule ip kube-proxy nat-postrouting jump masquerading
add rule ip kube-proxy mark-for-masquerade mark set mark or 0x4000
add rule ip kube-proxy masquerading mark and 0x4000 == 0 return
add rule ip kube-proxy masquerading mark set mark xor 0x4000
add rule ip kube-proxy masquerading masquerade fully-random
add map ip kube-proxy no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to services with no endpoints" ; }
add map ip kube-proxy no-endpoint-nodeports { type inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to service nodeports with no endpoints" ; }
add rule ip kube-proxy endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services
add rule ip kube-proxy endpoints-check fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @no-endpoint-nodeports
add map ip kube-proxy firewall-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "destinations that are subject to LoadBalancerSourceRanges" ; }
add rule ip kube-proxy firewall-check ip daddr . meta l4proto . th dport vmap @firewall-ips
add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }
add map ip kube-proxy service-nodeports { type inet_proto . inet_service : verdict ; comment "NodePort traffic" ; }
add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips
add rule ip kube-proxy services fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports

add chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80
add chain ip kube-proxy endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80
add chain ip kube-proxy endpoint-6OJB2KTY-ns1/svc1/tcp/p80__10.180.0.2/80
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 ip daddr 172.30.0.41 tcp dport 80 ip saddr != 10.0.0.0/8 jump mark-for-masquerade
add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 numgen random mod 2 vmap { 0 : goto endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 , 1 : goto endpoint-6OJB2KTY-ns1/svc1/tcp/p80__10.180.0.2/80 }
add rule ip kube-proxy endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 ip saddr 10.180.0.1 jump mark-for-masquerade
add rule ip kube-proxy endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 meta l4proto tcp dnat to 10.180.0.1:80
add rule ip kube-proxy endpoint-6OJB2KTY-ns1/svc1/tcp/p80__10.180.0.2/80 ip saddr 10.180.0.2 jump mark-for-masquerade
add rule ip kube-proxy endpoint-6OJB2KTY-ns1/svc1/tcp/p80__10.180.0.2/80 meta l4proto tcp dnat to 10.180.0.2:80
add element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }
add element ip kube-proxy service-nodeports { tcp . 3001 : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }

add element ip kube-proxy no-endpoint-services { 172.30.0.44 . tcp . 80 comment "ns4/svc4:p80" : goto reject-chain }
add element ip kube-proxy no-endpoint-services { 172.30.0.45 . udp . 53 comment "ns5/svc5:dns" : drop }

add chain ip kube-proxy firewall-ALLOW
add rule ip kube-proxy firewall-ALLOW ip saddr != { 203.0.113.0/25, 198.51.100.7 } drop
add element ip kube-proxy firewall-ips { 5.6.7.8 . tcp . 80 comment "ns6/svc6:p80" : goto firewall-ALLOW }
`;

describe('nft -f: kube-proxy nftables mode', () => {
  it('loads the ruleset', () => {
    const h = node(KUBE_PROXY);
    const t = h.nf.nft.tables.get('ip kube-proxy')!;
    expect(t.comment).toBe('rules for kube-proxy');
    expect(t.chains.get('nat-prerouting')!.base).toEqual({
      type: 'nat',
      hook: 'prerouting',
      priority: -100,
      policy: 'accept',
      device: undefined,
    });
    expect(t.sets.get('service-ips')!.def.keyTypes).toEqual(['ipv4_addr', 'inet_proto', 'inet_service']);
    expect(t.sets.get('service-ips')!.size).toBe(1);
    expect(t.chains.get('masquerading')!.rules.map((r) => r.text)).toEqual([
      'mark and 0x4000 == 0 return',
      'mark set mark xor 0x4000',
      'masquerade fully-random',
    ]);
  });

  it('DNATs a ClusterIP to both endpoints with probability 1/2 each, masquerading outside traffic on the way to the pod', () => {
    const h = node(KUBE_PROXY);
    const paths = enumeratePaths((chooser) => {
      const undo: (() => void)[] = [];
      const o = h.send(pkt(), { chooser, undo: (f) => undo.push(f) });
      for (const f of undo.reverse()) f();
      return `${o.packet.dst}:${o.packet.dport} from ${o.packet.src}`;
    });
    expect(paths.map((p) => [p.result, p.probability, p.choices])).toEqual([
      [
        '10.180.0.1:80 from 10.180.0.254',
        0.5,
        ['0 : goto endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80'],
      ],
      [
        '10.180.0.2:80 from 10.180.0.254',
        0.5,
        ['1 : goto endpoint-6OJB2KTY-ns1/svc1/tcp/p80__10.180.0.2/80'],
      ],
    ]);
  });

  it('keeps the pod source for in-cluster clients, hairpins an endpoint to itself with masquerade', () => {
    const h = node(KUBE_PROXY);
    const inCluster = h.send(pkt({ src: '10.0.3.4', iif: 'eth0' }));
    expect(inCluster.packet.src).toBe('10.0.3.4');
    const hairpin = enumeratePaths((chooser) => {
      const undo: (() => void)[] = [];
      const o = h.send(pkt({ src: '10.180.0.1', iif: 'cni0', sport: 1 }), {
        chooser,
        undo: (f) => undo.push(f),
      });
      for (const f of undo.reverse()) f();
      return [o.packet.dst, o.packet.src];
    });
    expect(hairpin.map((p) => p.result)).toEqual([
      ['10.180.0.1', '10.180.0.254'],
      ['10.180.0.2', '10.180.0.1'],
    ]);
  });

  it('NodePorts on local addresses, not on loopback-routed or foreign ones', () => {
    const h = node(KUBE_PROXY);
    const o = h.send(pkt({ dst: '192.168.99.2', dport: 3001 }));
    expect(['10.180.0.1', '10.180.0.2']).toContain(o.packet.dst);
    expect(h.send(pkt({ dst: '192.168.99.3', dport: 3001 })).packet.dst).toBe('192.168.99.3');
  });

  it('rejects and drops services without endpoints; applies LoadBalancerSourceRanges', () => {
    const h = node(KUBE_PROXY);
    expect(h.send(pkt({ dst: '172.30.0.44' })).reject).toMatchObject({
      with: 'icmp',
      icmpType: 3,
      icmpCode: 3,
    });
    expect(h.send(pkt({ proto: 'udp', dst: '172.30.0.45', dport: 53 })).disposition).toBe('dropped');
    expect(h.send(pkt({ dst: '5.6.7.8', src: '203.0.113.200' })).disposition).toBe('dropped');
    expect(h.send(pkt({ dst: '5.6.7.8', src: '203.0.113.9' })).disposition).toBe('forwarded');
    expect(h.send(pkt({ dst: '5.6.7.8', src: '198.51.100.7' })).disposition).toBe('forwarded');
  });

  it('session affinity with a dynamic set and timeout', () => {
    const clock = new VirtualClock();
    const aff = `
add table ip kp
add chain ip kp pre { type nat hook prerouting priority -100 ; }
add set ip kp affinity-A { type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }
add set ip kp affinity-B { type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }
add chain ip kp ep-A
add rule ip kp ep-A update @affinity-A { ip saddr }
add rule ip kp ep-A meta l4proto tcp dnat to 10.180.0.1:80
add chain ip kp ep-B
add rule ip kp ep-B update @affinity-B { ip saddr }
add rule ip kp ep-B meta l4proto tcp dnat to 10.180.0.2:80
add chain ip kp svc
add rule ip kp svc ip saddr @affinity-A goto ep-A
add rule ip kp svc ip saddr @affinity-B goto ep-B
add rule ip kp svc numgen random mod 2 vmap { 0 : goto ep-A , 1 : goto ep-B }
add rule ip kp pre ip daddr 172.30.0.41 tcp dport 80 jump svc
`;
    const h = node(aff, clock);
    // pin the first choice to B, then every connection follows it
    const first = h.send(pkt(), { chooser: { choose: () => 1 } });
    expect(first.packet.dst).toBe('10.180.0.2');
    for (let i = 1; i <= 3; i++)
      expect(h.send(pkt({ sport: 40000 + i }), { chooser: { choose: () => 0 } }).packet.dst).toBe(
        '10.180.0.2',
      );
    clock.advance(10801);
    expect(h.send(pkt({ sport: 41000 }), { chooser: { choose: () => 0 } }).packet.dst).toBe('10.180.0.1');
  });
});

describe('nft -f: expressions and statements', () => {
  it('sets and anonymous sets, ranges, prefixes, ct state lists, iifname wildcards, meta mark ops', () => {
    const h = node(`
table inet f {
  set ports { type inet_service ; flags interval ; elements = { 8000-8010, 9000 } }
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    ct state invalid drop
    iifname "veth*" meta l4proto { tcp, udp } th dport @ports accept
    ip saddr 203.0.113.0/24 tcp dport != { 22, 23 } meta mark set meta mark or 0x10 accept
    ip6 saddr fd00::/8 accept
  }
}
`);
    const veth = h.packet(pkt({ dport: 8005 }));
    veth.iif = 'veth1';
    expect(h.send(veth).disposition).toBe('forwarded');
    expect(h.send(pkt({ src: '198.51.100.1', dport: 8005 })).disposition).toBe('dropped');
    const marked = h.send(pkt({ dport: 443 }));
    expect(marked.disposition).toBe('forwarded');
    expect(marked.packet.mark).toBe(0x10);
    expect(h.send(pkt({ dport: 22, sport: 2 })).disposition).toBe('dropped');
    // replies of an accepted connection are established
    expect(h.reply(marked, { iif: 'cni0' }).disposition).toBe('forwarded');
    expect(h.send(pkt({ dport: 443, tcpFlags: TCP_ACK })).disposition).toBe('forwarded');
    expect(h.send({ proto: 'udp', src: 'fd01::1', dst: 'fd02::2', iif: 'eth0' }).disposition).toBe(
      'forwarded',
    );
  });

  it('snat, dnat through data maps, redirect, masquerade to ports', () => {
    const h = node(`
add table ip n
add chain ip n pre { type nat hook prerouting priority dstnat ; }
add chain ip n post { type nat hook postrouting priority srcnat ; }
add map ip n backends { type inet_service : ipv4_addr . inet_service ; }
add element ip n backends { 80 : 10.180.0.1 . 8080, 81 : 10.180.0.2 . 9090 }
add rule ip n pre ip daddr 192.168.99.2 meta l4proto tcp dnat ip addr . port to tcp dport map @backends
add rule ip n pre tcp dport 82 redirect to :8082
add rule ip n post oifname "eth0" meta l4proto udp snat to 192.168.99.100:2000-2001
add rule ip n post oifname "eth0" meta l4proto tcp masquerade to :30000-30010 random
`);
    expect(h.send(pkt({ dst: '192.168.99.2', dport: 81 })).packet).toMatchObject({
      dst: '10.180.0.2',
      dport: 9090,
    });
    const r = h.send(pkt({ dst: '1.2.3.4', dport: 82 }));
    expect(r.disposition).toBe('local');
    expect(r.packet).toMatchObject({ dst: '192.168.99.2', dport: 8082 });
    const s = h.send({
      proto: 'udp',
      src: '10.180.0.9',
      dst: '8.8.8.8',
      sport: 53000,
      dport: 53,
      iif: 'cni0',
    });
    expect(s.packet.src).toBe('192.168.99.100');
    expect([2000, 2001]).toContain(s.packet.sport);
    const m = h.send({
      proto: 'tcp',
      src: '10.180.0.9',
      dst: '8.8.8.8',
      sport: 53000,
      dport: 443,
      iif: 'cni0',
    });
    expect(m.packet.src).toBe('192.168.99.2');
    expect(m.packet.sport).toBeGreaterThanOrEqual(30000);
    expect(m.packet.sport).toBeLessThanOrEqual(30010);
  });

  it('reject variants follow the protocol context', () => {
    const h = node(`
add table inet f
add chain inet f fwd2 { type filter hook forward priority 0 ; }
add rule inet f fwd2 tcp dport 1 reject
add rule inet f fwd2 udp dport 2 reject
add rule inet f fwd2 tcp dport 3 reject with tcp reset
add rule inet f fwd2 udp dport 4 reject with icmpx type admin-prohibited
add rule inet f fwd2 udp dport 5 reject with icmp host-unreachable
`);
    expect(h.send(pkt({ dport: 1 })).reject).toMatchObject({ with: 'tcp-reset' });
    expect(h.send(pkt({ proto: 'udp', dport: 2 })).reject).toMatchObject({ icmpType: 3, icmpCode: 3 });
    expect(h.send(pkt({ dport: 3 })).reject).toMatchObject({ with: 'tcp-reset' });
    expect(h.send(pkt({ proto: 'udp', dport: 4 })).reject).toMatchObject({ icmpType: 3, icmpCode: 13 });
    expect(
      h.send({ proto: 'udp', src: 'fd01::1', dst: 'fd02::2', dport: 4, iif: 'eth0' }).reject,
    ).toMatchObject({ icmpType: 1, icmpCode: 1 });
    expect(h.send(pkt({ proto: 'udp', dport: 5 })).reject).toMatchObject({ icmpType: 3, icmpCode: 1 });
  });

  it('runs base chains by priority and NAT chains inside the NAT hook: the first mapping wins', () => {
    const h = new NetfilterHarness(NODE);
    h.nf.applyIptables(
      '*nat\n-A PREROUTING -d 10.96.0.1 -p tcp -j DNAT --to-destination 10.180.0.9\nCOMMIT\n',
      4,
    );
    h.nf.applyNft(
      'add table ip a\nadd chain ip a n { type nat hook prerouting priority -110 ; }\nadd rule ip a n ip daddr 10.96.0.1 meta l4proto tcp dnat to 10.180.0.7\n',
    );
    expect(h.send(pkt({ dst: '10.96.0.1' })).packet.dst).toBe('10.180.0.7');
    h.nf.applyNft(
      'delete table ip a\nadd table ip b\nadd chain ip b n { type nat hook prerouting priority -90 ; }\nadd rule ip b n ip daddr 10.96.0.1 meta l4proto tcp dnat to 10.180.0.7\n',
    );
    expect(h.send(pkt({ dst: '10.96.0.1', sport: 2 })).packet.dst).toBe('10.180.0.9');
    // a filter chain at -150 sees the packet before DNAT, one at 0 after it
    h.nf.applyNft(
      'add table ip c\nadd chain ip c early { type filter hook prerouting priority -150 ; }\nadd rule ip c early ip daddr 10.96.0.1 meta mark set 1\nadd chain ip c late { type filter hook prerouting priority 0 ; }\nadd rule ip c late ip daddr 10.180.0.9 meta mark set meta mark or 2\n',
    );
    expect(h.send(pkt({ dst: '10.96.0.1', sport: 3 })).packet.mark).toBe(3);
  });
});

describe('nft -f: transactions and refusals', () => {
  function fails(text: string, line: number, msg: RegExp, rs = new NftRuleset()) {
    let err: unknown;
    try {
      rs.apply(text, { source: 'x.nft' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RuleParseError);
    expect((err as RuleParseError).line).toBe(line);
    expect((err as RuleParseError).message).toMatch(msg);
  }

  it.each([
    ['a keyword as a chain name', 'add table ip t\nadd chain ip t fwd\n', 2, /unexpected fwd/],
    [
      'dstnat outside prerouting',
      'add table ip t\nadd chain ip t o { type nat hook output priority dstnat ; }\n',
      2,
      /invalid priority/,
    ],
    [
      'dstnat-10 without spaces',
      'add table ip t\nadd chain ip t o { type filter hook prerouting priority dstnat-10 ; }\n',
      2,
      /invalid priority/,
    ],
    [
      'a nat chain at conntrack priority',
      'add table ip t\nadd chain ip t b { type nat hook prerouting priority -200 ; }\n',
      2,
      /Operation not supported/,
    ],
    [
      'a nat chain on forward',
      'add table ip t\nadd chain ip t b { type nat hook forward priority 0 ; }\n',
      2,
      /Operation not supported/,
    ],
    [
      'a jump to a missing chain',
      'add table ip t\nadd chain ip t c\nadd rule ip t c jump nope\n',
      3,
      /No such file or directory/,
    ],
    [
      'dnat in a filter chain',
      'add table ip t\nadd chain ip t f { type filter hook prerouting priority 0 ; }\nadd rule ip t f meta l4proto tcp dnat to 1.2.3.4:80\n',
      3,
      /Operation not supported/,
    ],
    [
      'masquerade in output',
      'add table ip t\nadd chain ip t o { type nat hook output priority -100 ; }\nadd rule ip t o masquerade\n',
      3,
      /masquerade is not valid/,
    ],
    [
      'a port mapping without a protocol match',
      'add table ip t\nadd chain ip t o { type nat hook output priority -100 ; }\nadd rule ip t o dnat to 1.2.3.4:80\n',
      3,
      /transport protocol mapping/,
    ],
    [
      'an inet dnat without ip',
      'add table inet x\nadd chain inet x n { type nat hook prerouting priority -100 ; }\nadd rule inet x n meta l4proto tcp dnat to 1.2.3.4:80\n',
      3,
      /inet table/,
    ],
    [
      'ip6 in an ip table',
      'add table ip t\nadd chain ip t c\nadd rule ip t c ip6 saddr ::1 accept\n',
      3,
      /conflicting protocols/,
    ],
    [
      'a prefix in a set without flags interval',
      'add table ip t\nadd set ip t s { type ipv4_addr ; }\nadd element ip t s { 10.0.0.0/8 }\n',
      3,
      /flags interval/,
    ],
    [
      'create of an existing element',
      'add table ip t\nadd set ip t s { type ipv4_addr ; }\nadd element ip t s { 1.1.1.1 }\ncreate element ip t s { 1.1.1.1 }\n',
      4,
      /File exists/,
    ],
    [
      'delete of a missing element',
      'add table ip t\nadd set ip t s { type ipv4_addr ; }\ndelete element ip t s { 9.9.9.9 }\n',
      3,
      /No such file/,
    ],
    [
      'a loop reached from a base chain through a map',
      'add table ip t\nadd chain ip t b { type filter hook input priority 0 ; }\nadd chain ip t l1\nadd chain ip t l2\nadd rule ip t l1 jump l2\nadd rule ip t l2 jump l1\nadd map ip t m { type ipv4_addr : verdict ; }\nadd element ip t m { 1.1.1.1 : jump l1 }\nadd rule ip t b ip daddr vmap @m\n',
      6,
      /Too many links/,
    ],
    [
      'a key of the wrong type',
      'add table ip t\nadd map ip t m { type ipv4_addr . inet_service : verdict ; }\nadd element ip t m { 1.1.1.1 . tcp : drop }\n',
      3,
      /inet_service/,
    ],
    [
      'an unmodelled statement',
      'add table ip t\nadd chain ip t c\nadd rule ip t c limit rate 10/second accept\n',
      3,
      /not modelled/,
    ],
    ['an unterminated string', 'add table ip t { comment "x ; }\n', 1, /unterminated/],
    ['a missing table', 'add chain ip nope c\n', 1, /No such file or directory/],
  ])('refuses %s, naming the line', (_what, text, line, msg) => fails(text, line, msg));

  it('refuses deleting a chain still referenced, also from a map', () => {
    const rs = new NftRuleset();
    rs.apply(
      'add table ip t\nadd chain ip t c\nadd map ip t m { type ipv4_addr : verdict ; }\nadd element ip t m { 1.2.3.4 : goto c }\n',
    );
    fails('delete chain ip t c\n', 1, /Device or resource busy/, rs);
  });

  it('applies a file all or nothing', () => {
    const rs = new NftRuleset();
    rs.apply('add table ip t\nadd chain ip t c\nadd rule ip t c accept\n');
    expect(() => rs.apply('add rule ip t c drop\nadd chain ip t d\nadd rule ip t d jump nowhere\n')).toThrow(
      RuleParseError,
    );
    const t = rs.tables.get('ip t')!;
    expect(t.chains.get('c')!.rules.map((r) => r.text)).toEqual(['accept']);
    expect(t.chains.has('d')).toBe(false);
  });

  it('add/delete element, flush chain, flush table (sets kept), insert/replace/delete rule by handle', () => {
    const rs = new NftRuleset();
    rs.apply(
      'add table ip t\nadd chain ip t c\nadd set ip t s { type ipv4_addr ; }\nadd element ip t s { 1.1.1.1, 2.2.2.2 }\nadd rule ip t c ip saddr @s accept\nadd rule ip t c drop\n',
    );
    const t = () => rs.tables.get('ip t')!;
    const handles = t()
      .chains.get('c')!
      .rules.map((r) => r.handle);
    rs.apply(
      `insert rule ip t c counter\nadd rule ip t c handle ${handles[0]} ip daddr 9.9.9.9 accept\nreplace rule ip t c handle ${handles[1]} reject\ndelete element ip t s { 1.1.1.1 }\n`,
    );
    expect(
      t()
        .chains.get('c')!
        .rules.map((r) => r.text),
    ).toEqual(['counter', 'ip saddr @s accept', 'ip daddr 9.9.9.9 accept', 'reject']);
    expect(t().sets.get('s')!.size).toBe(1);
    rs.apply(`delete rule ip t c handle ${t().chains.get('c')!.rules[0].handle}\n`);
    expect(t().chains.get('c')!.rules).toHaveLength(3);
    rs.apply('flush table ip t\n');
    expect(t().chains.get('c')!.rules).toHaveLength(0);
    expect(t().sets.get('s')!.size).toBe(1);
    rs.apply('flush set ip t s\nflush ruleset\n');
    expect(rs.tables.size).toBe(0);
  });

  it('tokenizes words, strings, punctuation and map colons, keeping IPv6 colons', () => {
    const toks = tokenize(
      'add element ip t m { fd00:: : goto x, 0: drop } # comment\nadd rule ip t c comment "a \\"b\\""',
    );
    expect(toks.filter((t) => t.kind !== 'nl').map((t) => t.value)).toEqual([
      'add',
      'element',
      'ip',
      't',
      'm',
      '{',
      'fd00::',
      ':',
      'goto',
      'x',
      ',',
      '0',
      ':',
      'drop',
      '}',
      'add',
      'rule',
      'ip',
      't',
      'c',
      'comment',
      'a "b"',
    ]);
    fc.assert(
      fc.property(
        fc.array(fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/), { minLength: 1, maxLength: 10 }),
        (words) => {
          expect(tokenize(words.join(' ')).map((t) => t.value)).toEqual(words);
        },
      ),
    );
  });
});

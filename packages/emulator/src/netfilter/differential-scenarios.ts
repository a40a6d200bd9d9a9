/**
 * Rule files and packets for the differential test (differential.linux.test.ts): each scenario
 * is applied to a real router namespace and to the emulator, the same connections are made
 * through both, and verdicts, NAT results and conntrack entries are compared. `expect` states the
 * outcome the scenario is about, so a broken setup cannot make both sides agree by accident.
 *
 * Topology: client C (10.77.1.2, fd77:1::2) — r0 [router R] r1 — server S (10.77.2.2-4,
 * fd77:2::2-3). Rules are loaded in R. 10.77.9.9 / fd77:9::9 is a virtual IP no one owns.
 */

export const ADDR = {
  client: '10.77.1.2',
  client2: '10.77.1.3',
  r0: '10.77.1.1',
  r1: '10.77.2.1',
  s1: '10.77.2.2',
  s2: '10.77.2.3',
  s3: '10.77.2.4',
  vip: '10.77.9.9',
  client6: 'fd77:1::2',
  r06: 'fd77:1::1',
  r16: 'fd77:2::1',
  s16: 'fd77:2::2',
  s26: 'fd77:2::3',
  vip6: 'fd77:9::9',
} as const;

export type Outcome = 'delivered' | 'dropped' | 'ECONNREFUSED' | 'EHOSTUNREACH' | 'ENETUNREACH' | 'EACCES';

export interface Send {
  /** Who connects: the client namespace or the router itself (OUTPUT path). @default 'client' */
  from?: 'client' | 'router';
  proto: 'tcp' | 'udp';
  dst: string;
  port: number;
  expect: Outcome;
  /** Where it must arrive (address:port the listener saw as local), when delivered. */
  at?: string;
  /** The source address the listener must see, when delivered (SNAT/MASQUERADE checks). */
  seenFrom?: string;
  /** Client source address (default: the client's first address). */
  src?: string;
  /** Client source port (default: a fresh one per send). */
  sport?: number;
  /** NAT must have moved the source port (kernel and emulator pick it at random): compare addresses. */
  portMoved?: boolean;
}

export interface Scenario {
  name: string;
  /** iptables-restore inputs applied in order (`noflush` per step). */
  iptables?: { text: string; noflush?: boolean }[];
  ip6tables?: string;
  nft?: string;
  sends: Send[];
  /** Source ports are picked at random by the kernel (random-fully / port ranges): compare addresses only. */
  randomPorts?: boolean;
  /** SNAT to a port range: the source port seen must lie in it. */
  portRange?: [number, number];
}

const A = ADDR;

/** The kube-proxy iptables shape for one service with the given endpoints (statistic chain). */
function kubeProxyIptables(
  endpoints: { ip: string; port: number; probability?: string }[],
  opts: { affinity?: boolean } = {},
): string {
  const sep = (i: number) => `KUBE-SEP-E${i}`;
  const lines = [
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':POSTROUTING ACCEPT [0:0]',
    ':KUBE-SERVICES - [0:0]',
    ':KUBE-POSTROUTING - [0:0]',
    ':KUBE-MARK-MASQ - [0:0]',
    ':KUBE-SVC-TEST - [0:0]',
    ...endpoints.map((_, i) => `:${sep(i)} - [0:0]`),
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
    '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
    '-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000',
    '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
    '-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000',
    `-A KUBE-SERVICES -m comment --comment "ns/svc:http cluster IP" -m tcp -p tcp -d ${A.vip}/32 --dport 80 -j KUBE-SVC-TEST`,
    `-A KUBE-SVC-TEST -m comment --comment "ns/svc:http cluster IP" -m tcp -p tcp -d ${A.vip}/32 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ`,
  ];
  if (opts.affinity) {
    for (let i = 0; i < endpoints.length; i++) {
      lines.push(
        `-A KUBE-SVC-TEST -m comment --comment "ns/svc:http -> ep${i}" -m recent --name ${sep(i)} --mask 255.255.255.255 --rsource --rcheck --seconds 10800 --reap -j ${sep(i)}`,
      );
    }
  }
  endpoints.forEach((e, i) => {
    const p = e.probability ? ` -m statistic --mode random --probability ${e.probability}` : '';
    lines.push(`-A KUBE-SVC-TEST -m comment --comment "ns/svc:http -> ${e.ip}:${e.port}"${p} -j ${sep(i)}`);
    lines.push(`-A ${sep(i)} -m comment --comment "ns/svc:http" -s ${e.ip}/32 -j KUBE-MARK-MASQ`);
    const aff = opts.affinity ? ` -m recent --set --name ${sep(i)} --mask 255.255.255.255 --rsource` : '';
    lines.push(
      `-A ${sep(i)} -m comment --comment "ns/svc:http"${aff} -m tcp -p tcp -j DNAT --to-destination ${e.ip}:${e.port}`,
    );
  });
  lines.push('COMMIT');
  return `${lines.join('\n')}\n`;
}

/** The kube-proxy nftables shape (knftables syntax) for one service. */
function kubeProxyNft(endpoints: { ip: string; port: number }[]): string {
  const ep = (i: number) => `endpoint-E${i}XXXXX-ns/svc/tcp/http__${endpoints[i].ip}/${endpoints[i].port}`;
  const svc = 'service-ABCDEFGH-ns/svc/tcp/http';
  return [
    'add table ip kube-proxy { comment "rules for kube-proxy" ; }',
    'add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }',
    'add chain ip kube-proxy nat-output { type nat hook output priority -100 ; }',
    'add chain ip kube-proxy nat-postrouting { type nat hook postrouting priority 100 ; }',
    'add chain ip kube-proxy filter-forward { type filter hook forward priority -110 ; }',
    'add chain ip kube-proxy mark-for-masquerade',
    'add rule ip kube-proxy mark-for-masquerade mark set mark or 0x4000',
    'add chain ip kube-proxy masquerading',
    'add rule ip kube-proxy masquerading mark and 0x4000 == 0 return',
    'add rule ip kube-proxy masquerading mark set mark xor 0x4000',
    'add rule ip kube-proxy masquerading masquerade fully-random',
    'add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }',
    'add chain ip kube-proxy services',
    'add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips',
    'add rule ip kube-proxy nat-prerouting jump services',
    'add rule ip kube-proxy nat-output jump services',
    'add rule ip kube-proxy nat-postrouting jump masquerading',
    'add rule ip kube-proxy filter-forward ct state new accept',
    ...endpoints.flatMap((_, i) => [`add chain ip kube-proxy ${ep(i)}`]),
    `add chain ip kube-proxy ${svc}`,
    `add rule ip kube-proxy ${svc} ip daddr ${A.vip} tcp dport 80 ip saddr != 10.244.0.0/16 jump mark-for-masquerade`,
    `add rule ip kube-proxy ${svc} numgen random mod ${endpoints.length} vmap { ${endpoints.map((_, i) => `${i} : goto ${ep(i)}`).join(' , ')} }`,
    ...endpoints.flatMap((e, i) => [
      `add rule ip kube-proxy ${ep(i)} ip saddr ${e.ip} jump mark-for-masquerade`,
      `add rule ip kube-proxy ${ep(i)} meta l4proto tcp dnat to ${e.ip}:${e.port}`,
    ]),
    `add element ip kube-proxy service-ips { ${A.vip} . tcp . 80 : goto ${svc} }`,
    '',
  ].join('\n');
}

const filter = (rules: string[], policy = 'ACCEPT') =>
  `*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ${policy} [0:0]\n:OUTPUT ACCEPT [0:0]\n${rules.join('\n')}\nCOMMIT\n`;
const nat = (rules: string[], chains: string[] = []) =>
  `*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n${chains.map((c) => `:${c} - [0:0]`).join('\n')}${chains.length ? '\n' : ''}${rules.join('\n')}\nCOMMIT\n`;

const s1 = `${A.s1}:8080`;

export const SCENARIOS: Scenario[] = [
  {
    name: 'no rules: forwarded untouched, conntrack stays off',
    sends: [{ proto: 'tcp', dst: A.s1, port: 8080, expect: 'delivered', at: s1, seenFrom: A.client }],
  },
  {
    name: 'ctstate match turns conntrack on (udp entry)',
    iptables: [{ text: filter(['-A FORWARD -m conntrack --ctstate NEW,ESTABLISHED -j ACCEPT']) }],
    sends: [{ proto: 'udp', dst: A.s1, port: 8080, expect: 'delivered', at: s1 }],
  },
  {
    name: 'DROP by destination port',
    iptables: [{ text: filter(['-A FORWARD -p tcp -m tcp --dport 8081 -j DROP']) }],
    sends: [
      { proto: 'tcp', dst: A.s1, port: 8081, expect: 'dropped' },
      { proto: 'tcp', dst: A.s1, port: 8080, expect: 'delivered', at: s1 },
    ],
  },
  {
    name: 'REJECT default (icmp-port-unreachable) on tcp',
    iptables: [{ text: filter(['-A FORWARD -p tcp --dport 8081 -j REJECT']) }],
    sends: [{ proto: 'tcp', dst: A.s1, port: 8081, expect: 'ECONNREFUSED' }],
  },
  {
    name: 'REJECT --reject-with tcp-reset',
    iptables: [{ text: filter(['-A FORWARD -p tcp -m tcp --dport 8081 -j REJECT --reject-with tcp-reset']) }],
    sends: [
      { proto: 'tcp', dst: A.s1, port: 8081, expect: 'ECONNREFUSED' },
      { proto: 'tcp', dst: A.s1, port: 8080, expect: 'delivered', at: s1 },
    ],
  },
  {
    name: 'REJECT udp with port unreachable',
    iptables: [
      {
        text: filter(['-A FORWARD -p udp -m udp --dport 8081 -j REJECT --reject-with icmp-port-unreachable']),
      },
    ],
    sends: [{ proto: 'udp', dst: A.s1, port: 8081, expect: 'ECONNREFUSED' }],
  },
  {
    name: 'REJECT with host unreachable',
    iptables: [{ text: filter(['-A FORWARD -j REJECT --reject-with icmp-host-unreachable']) }],
    sends: [
      { proto: 'tcp', dst: A.s1, port: 8080, expect: 'EHOSTUNREACH' },
      // a UDP socket only hears of "hard" ICMP errors: this one looks like a drop
      { proto: 'udp', dst: A.s1, port: 8080, expect: 'dropped' },
    ],
  },
  {
    name: 'REJECT tcp with net unreachable',
    iptables: [{ text: filter(['-A FORWARD -p tcp -j REJECT --reject-with icmp-net-unreachable']) }],
    sends: [{ proto: 'tcp', dst: A.s1, port: 8080, expect: 'ENETUNREACH' }],
  },
  {
    name: 'REJECT udp with admin prohibited',
    iptables: [{ text: filter(['-A FORWARD -p udp -j REJECT --reject-with icmp-admin-prohibited']) }],
    sends: [{ proto: 'udp', dst: A.s1, port: 8080, expect: 'EHOSTUNREACH' }],
  },
  {
    name: 'policy DROP with stateful accept (tcp)',
    iptables: [
      {
        text: filter(
          [
            '-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
            '-A FORWARD -p tcp -m conntrack --ctstate NEW -m tcp --dport 8080 -j ACCEPT',
          ],
          'DROP',
        ),
      },
    ],
    sends: [
      { proto: 'tcp', dst: A.s1, port: 8080, expect: 'delivered', at: s1 },
      { proto: 'tcp', dst: A.s1, port: 8081, expect: 'dropped' },
    ],
  },
  {
    name: 'policy DROP with stateful accept (udp, state match)',
    iptables: [
      {
        text: filter(
          [
            '-A FORWARD -m state --state RELATED,ESTABLISHED -j ACCEPT',
            '-A FORWARD -p udp -m state --state NEW --dport 9090 -j ACCEPT',
          ],
          'DROP',
        ),
      },
    ],
    sends: [
      { proto: 'udp', dst: A.s1, port: 9090, expect: 'delivered', at: `${A.s1}:9090` },
      { proto: 'udp', dst: A.s1, port: 8080, expect: 'dropped' },
    ],
  },
  {
    name: 'DNAT a virtual IP (tcp)',
    iptables: [
      {
        text: nat([
          `-A PREROUTING -d ${A.vip}/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination ${A.s1}:8080`,
        ]),
      },
    ],
    sends: [{ proto: 'tcp', dst: A.vip, port: 80, expect: 'delivered', at: s1, seenFrom: A.client }],
  },
  {
    name: 'DNAT a virtual IP (udp)',
    iptables: [
      { text: nat([`-A PREROUTING -d ${A.vip}/32 -p udp --dport 53 -j DNAT --to-destination ${A.s2}:8080`]) },
    ],
    sends: [{ proto: 'udp', dst: A.vip, port: 53, expect: 'delivered', at: `${A.s2}:8080` }],
  },
  {
    name: 'DNAT to the router itself (INPUT)',
    iptables: [
      { text: nat([`-A PREROUTING -d ${A.vip}/32 -p tcp --dport 80 -j DNAT --to-destination ${A.r0}:8080`]) },
    ],
    sends: [{ proto: 'tcp', dst: A.vip, port: 80, expect: 'delivered', at: `${A.r0}:8080` }],
  },
  {
    name: 'SNAT --to-source keeps the port',
    iptables: [{ text: nat([`-A POSTROUTING -o r1 -p tcp -j SNAT --to-source ${A.r1}`]) }],
    sends: [{ proto: 'tcp', dst: A.s1, port: 8080, expect: 'delivered', at: s1, seenFrom: A.r1 }],
  },
  {
    name: 'SNAT to a port range',
    iptables: [{ text: nat([`-A POSTROUTING -o r1 -p tcp -j SNAT --to-source ${A.r1}:20000-20010`]) }],
    sends: [{ proto: 'tcp', dst: A.s1, port: 8080, expect: 'delivered', at: s1, seenFrom: A.r1 }],
    randomPorts: true,
    portRange: [20000, 20010],
  },
  {
    name: 'MASQUERADE (tcp)',
    iptables: [{ text: nat(['-A POSTROUTING -o r1 -j MASQUERADE']) }],
    sends: [{ proto: 'tcp', dst: A.s1, port: 8080, expect: 'delivered', at: s1, seenFrom: A.r1 }],
  },
  {
    name: 'MASQUERADE (udp)',
    iptables: [{ text: nat([`-A POSTROUTING -s ${A.client}/32 -o r1 -j MASQUERADE`]) }],
    sends: [{ proto: 'udp', dst: A.s2, port: 9090, expect: 'delivered', at: `${A.s2}:9090`, seenFrom: A.r1 }],
  },
  {
    name: 'MASQUERADE keeps a free source port and moves a clashing one',
    iptables: [{ text: nat(['-A POSTROUTING -o r1 -j MASQUERADE']) }],
    sends: [
      {
        proto: 'udp',
        src: A.client,
        sport: 45000,
        dst: A.s1,
        port: 8080,
        expect: 'delivered',
        at: s1,
        seenFrom: A.r1,
      },
      {
        proto: 'udp',
        src: A.client2,
        sport: 45000,
        dst: A.s1,
        port: 8080,
        expect: 'delivered',
        at: s1,
        seenFrom: A.r1,
        portMoved: true,
      },
      {
        proto: 'tcp',
        src: A.client,
        sport: 45001,
        dst: A.s1,
        port: 8080,
        expect: 'delivered',
        at: s1,
        seenFrom: A.r1,
      },
      {
        proto: 'tcp',
        src: A.client2,
        sport: 45001,
        dst: A.s1,
        port: 8080,
        expect: 'delivered',
        at: s1,
        seenFrom: A.r1,
        portMoved: true,
      },
    ],
  },
  {
    name: 'MASQUERADE --random-fully',
    iptables: [{ text: nat(['-A POSTROUTING -o r1 -j MASQUERADE --random-fully']) }],
    sends: [{ proto: 'tcp', dst: A.s1, port: 8080, expect: 'delivered', at: s1, seenFrom: A.r1 }],
    randomPorts: true,
  },
  {
    name: 'kube-proxy service, statistic --probability 1.0, masquerade mark',
    iptables: [
      {
        text: kubeProxyIptables([
          { ip: A.s1, port: 8080, probability: '1.0000000000' },
          { ip: A.s2, port: 8080 },
        ]),
      },
    ],
    sends: [
      { proto: 'tcp', dst: A.vip, port: 80, expect: 'delivered', at: s1, seenFrom: A.r1 },
      { proto: 'tcp', dst: A.vip, port: 80, expect: 'delivered', at: s1, seenFrom: A.r1 },
    ],
    randomPorts: true,
  },
  {
    name: 'kube-proxy service, two endpoints at random',
    iptables: [
      {
        text: kubeProxyIptables([
          { ip: A.s1, port: 8080, probability: '0.5000000000' },
          { ip: A.s2, port: 8080 },
        ]),
      },
    ],
    sends: [
      { proto: 'tcp', dst: A.vip, port: 80, expect: 'delivered', seenFrom: A.r1 },
      { proto: 'tcp', dst: A.vip, port: 80, expect: 'delivered', seenFrom: A.r1 },
      { proto: 'tcp', dst: A.vip, port: 80, expect: 'delivered', seenFrom: A.r1 },
    ],
    randomPorts: true,
  },
  {
    name: 'kube-proxy session affinity with -m recent',
    iptables: [
      {
        text: kubeProxyIptables(
          [
            { ip: A.s1, port: 8080, probability: '0.3333333333' },
            { ip: A.s2, port: 8080, probability: '0.5000000000' },
            { ip: A.s3, port: 8080 },
          ],
          { affinity: true },
        ),
      },
    ],
    sends: [
      { proto: 'tcp', dst: A.vip, port: 80, expect: 'delivered' },
      { proto: 'tcp', dst: A.vip, port: 80, expect: 'delivered' },
      { proto: 'tcp', dst: A.vip, port: 80, expect: 'delivered' },
      { proto: 'tcp', dst: A.vip, port: 80, expect: 'delivered' },
    ],
    randomPorts: true,
  },
  {
    name: 'statistic --mode nth alternates',
    iptables: [
      {
        text: nat(
          [
            `-A PREROUTING -d ${A.vip}/32 -p tcp --dport 80 -m statistic --mode nth --every 2 --packet 0 -j DNAT --to-destination ${A.s1}:8080`,
            `-A PREROUTING -d ${A.vip}/32 -p tcp --dport 80 -j DNAT --to-destination ${A.s2}:8080`,
          ],
          [],
        ),
      },
    ],
    sends: [
      { proto: 'tcp', dst: A.vip, port: 80, expect: 'delivered' },
      { proto: 'tcp', dst: A.vip, port: 80, expect: 'delivered' },
      { proto: 'tcp', dst: A.vip, port: 80, expect: 'delivered' },
      { proto: 'tcp', dst: A.vip, port: 80, expect: 'delivered' },
    ],
  },
  {
    name: 'multiport',
    iptables: [
      {
        text: filter([
          '-A FORWARD -p tcp -m multiport --dports 8081,9000:9100 -j REJECT --reject-with tcp-reset',
        ]),
      },
    ],
    sends: [
      { proto: 'tcp', dst: A.s1, port: 9090, expect: 'ECONNREFUSED' },
      { proto: 'tcp', dst: A.s1, port: 8081, expect: 'ECONNREFUSED' },
      { proto: 'tcp', dst: A.s1, port: 8080, expect: 'delivered', at: s1 },
    ],
  },
  {
    name: 'MARK in mangle, -m mark in filter',
    iptables: [
      {
        text: '*mangle\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p udp --dport 8081 -j MARK --set-xmark 0x10/0xff\nCOMMIT\n',
      },
      { text: filter(['-A FORWARD -m mark --mark 0x10/0xff -j REJECT']), noflush: true },
    ],
    sends: [
      { proto: 'udp', dst: A.s1, port: 8081, expect: 'ECONNREFUSED' },
      { proto: 'udp', dst: A.s1, port: 8080, expect: 'delivered', at: s1 },
    ],
  },
  {
    name: 'addrtype --dst-type LOCAL DNAT (a node port)',
    iptables: [
      {
        text: nat([
          `-A PREROUTING -m addrtype --dst-type LOCAL -p tcp --dport 8888 -j DNAT --to-destination ${A.s1}:8080`,
        ]),
      },
    ],
    sends: [
      { proto: 'tcp', dst: A.r0, port: 8888, expect: 'delivered', at: s1 },
      { proto: 'tcp', dst: A.r1, port: 8888, expect: 'delivered', at: s1 },
    ],
  },
  {
    name: 'addrtype ! --dst-type LOCAL with --limit-iface-in',
    iptables: [
      {
        text:
          '*mangle\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p tcp -m addrtype --dst-type LOCAL --limit-iface-in -j MARK --set-mark 0x1\nCOMMIT\n' +
          filter([
            '-A INPUT -p tcp -m mark --mark 0x1 --dport 8081 -j REJECT --reject-with tcp-reset',
            '-A FORWARD -p tcp -m addrtype ! --dst-type LOCAL --dport 8081 -j REJECT --reject-with tcp-reset',
          ]),
      },
    ],
    sends: [
      { proto: 'tcp', dst: A.r0, port: 8081, expect: 'ECONNREFUSED' },
      { proto: 'tcp', dst: A.r1, port: 8080, expect: 'delivered', at: `${A.r1}:8080` },
      { proto: 'tcp', dst: A.s1, port: 8081, expect: 'ECONNREFUSED' },
    ],
  },
  {
    name: 'interface wildcards',
    iptables: [
      {
        text: filter([
          '-A FORWARD -o eth+ -j DROP',
          '-A FORWARD -i r+ -o r1 -p udp --dport 8081 -j REJECT',
          '-A FORWARD ! -i r+ -j DROP',
        ]),
      },
    ],
    sends: [
      { proto: 'udp', dst: A.s1, port: 8081, expect: 'ECONNREFUSED' },
      { proto: 'udp', dst: A.s1, port: 9090, expect: 'delivered', at: `${A.s1}:9090` },
    ],
  },
  {
    name: 'jumps, gotos and RETURN',
    iptables: [
      {
        text:
          '*filter\n:FORWARD ACCEPT [0:0]\n:A - [0:0]\n:B - [0:0]\n:C - [0:0]\n' +
          '-A FORWARD -i r1 -j ACCEPT\n-A FORWARD -p tcp -j A\n-A FORWARD -p tcp --dport 8081 -j ACCEPT\n-A FORWARD -p tcp -j REJECT --reject-with tcp-reset\n' +
          '-A A -p tcp --dport 8081 -g B\n-A A -p tcp --dport 9090 -j C\n-A A -p tcp --dport 8081 -j DROP\n-A A -p tcp --dport 9090 -j ACCEPT\n' +
          '-A B -j RETURN\n-A C -j RETURN\nCOMMIT\n',
      },
    ],
    sends: [
      // goto B: B's RETURN goes back to FORWARD (not to A), whose next rule accepts 8081
      { proto: 'tcp', dst: A.s1, port: 8081, expect: 'delivered', at: `${A.s1}:8081` },
      // jump C: C's RETURN goes back into A, which accepts 9090
      { proto: 'tcp', dst: A.s1, port: 9090, expect: 'delivered', at: `${A.s1}:9090` },
      // A falls through to FORWARD, which rejects the rest
      { proto: 'tcp', dst: A.s1, port: 8080, expect: 'ECONNREFUSED' },
    ],
  },
  {
    name: 'INPUT REJECT on the router',
    iptables: [{ text: filter(['-A INPUT -p tcp --dport 8081 -j REJECT --reject-with tcp-reset']) }],
    sends: [
      { proto: 'tcp', dst: A.r0, port: 8081, expect: 'ECONNREFUSED' },
      { proto: 'tcp', dst: A.r0, port: 8080, expect: 'delivered', at: `${A.r0}:8080` },
    ],
  },
  {
    name: 'REDIRECT to a local port',
    iptables: [{ text: nat(['-A PREROUTING -i r0 -p tcp --dport 80 -j REDIRECT --to-ports 8080']) }],
    sends: [
      { proto: 'tcp', dst: A.s1, port: 80, expect: 'delivered', at: `${A.r0}:8080`, seenFrom: A.client },
    ],
  },
  {
    name: 'OUTPUT DNAT for locally generated traffic',
    iptables: [
      { text: nat([`-A OUTPUT -d ${A.vip}/32 -p tcp --dport 80 -j DNAT --to-destination ${A.s1}:8080`]) },
    ],
    sends: [
      { from: 'router', proto: 'tcp', dst: A.vip, port: 80, expect: 'delivered', at: s1, seenFrom: A.r1 },
    ],
  },
  {
    name: 'conntrack --ctorigdst after DNAT',
    iptables: [
      { text: nat([`-A PREROUTING -d ${A.vip}/32 -p tcp --dport 80 -j DNAT --to-destination ${A.s1}:8080`]) },
      {
        text: filter([
          `-A FORWARD -p tcp -m conntrack --ctorigdst ${A.vip} --ctstate NEW,DNAT -j REJECT --reject-with tcp-reset`,
        ]),
      },
    ],
    sends: [
      { proto: 'tcp', dst: A.vip, port: 80, expect: 'ECONNREFUSED' },
      { proto: 'tcp', dst: A.s1, port: 8080, expect: 'delivered', at: s1 },
    ],
  },
  {
    name: '--noflush insert on top of an existing table',
    iptables: [
      { text: filter(['-A FORWARD -p tcp -j ACCEPT']) },
      {
        text: '*filter\n-I FORWARD 1 -p tcp --dport 8081 -j REJECT --reject-with tcp-reset\nCOMMIT\n',
        noflush: true,
      },
    ],
    sends: [
      { proto: 'tcp', dst: A.s1, port: 8081, expect: 'ECONNREFUSED' },
      { proto: 'tcp', dst: A.s1, port: 8080, expect: 'delivered', at: s1 },
    ],
  },
  {
    name: 'nft kube-proxy service (numgen mod 1, masquerade fully-random)',
    nft: kubeProxyNft([{ ip: A.s1, port: 8080 }]),
    sends: [{ proto: 'tcp', dst: A.vip, port: 80, expect: 'delivered', at: s1, seenFrom: A.r1 }],
    randomPorts: true,
  },
  {
    name: 'nft kube-proxy service, two endpoints at random',
    nft: kubeProxyNft([
      { ip: A.s1, port: 8080 },
      { ip: A.s2, port: 8080 },
    ]),
    sends: [
      { proto: 'tcp', dst: A.vip, port: 80, expect: 'delivered', seenFrom: A.r1 },
      { proto: 'tcp', dst: A.vip, port: 80, expect: 'delivered', seenFrom: A.r1 },
      { proto: 'tcp', dst: A.vip, port: 80, expect: 'delivered', seenFrom: A.r1 },
    ],
    randomPorts: true,
  },
  {
    name: 'nft concatenated set lookup with reject',
    nft: [
      'add table inet f',
      'add set inet f blocked { type ipv4_addr . inet_proto . inet_service ; elements = { 10.77.2.2 . tcp . 8081, 10.77.2.2 . udp . 9090 } ; }',
      'add chain inet f forward { type filter hook forward priority 0 ; policy accept ; }',
      'add rule inet f forward ip daddr . meta l4proto . th dport @blocked counter reject',
      '',
    ].join('\n'),
    sends: [
      { proto: 'tcp', dst: A.s1, port: 8081, expect: 'ECONNREFUSED' },
      { proto: 'udp', dst: A.s1, port: 9090, expect: 'ECONNREFUSED' },
      { proto: 'tcp', dst: A.s1, port: 8080, expect: 'delivered', at: s1 },
    ],
  },
  {
    name: 'nft interval set and anonymous verdict map',
    nft: [
      'table ip f {',
      '  set nets {',
      '    type ipv4_addr',
      '    flags interval',
      '    elements = { 10.77.1.0/24, 192.168.0.0/16 }',
      '  }',
      '  chain forward {',
      '    type filter hook forward priority filter; policy accept;',
      '    ip saddr @nets udp dport vmap { 8081 : drop, 9090 : accept }',
      '    ip saddr @nets udp dport 9090 reject',
      '  }',
      '}',
      '',
    ].join('\n'),
    sends: [
      { proto: 'udp', dst: A.s1, port: 8081, expect: 'dropped' },
      { proto: 'udp', dst: A.s1, port: 9090, expect: 'delivered', at: `${A.s1}:9090` },
    ],
  },
  {
    name: 'nft policy drop with ct state',
    nft: [
      'add table ip f',
      'add chain ip f forward { type filter hook forward priority 0 ; policy drop ; }',
      'add rule ip f forward ct state established,related accept',
      'add rule ip f forward ct state new tcp dport { 8080, 9090 } accept',
      'add rule ip f forward ct state new udp dport 8081 reject with icmp type admin-prohibited',
      '',
    ].join('\n'),
    sends: [
      { proto: 'tcp', dst: A.s1, port: 9090, expect: 'delivered', at: `${A.s1}:9090` },
      { proto: 'tcp', dst: A.s1, port: 8081, expect: 'dropped' },
      { proto: 'udp', dst: A.s1, port: 8081, expect: 'EHOSTUNREACH' },
    ],
  },
  {
    name: 'nft fib daddr type local (node port)',
    nft: [
      'add table ip n',
      'add chain ip n pre { type nat hook prerouting priority dstnat ; }',
      `add rule ip n pre fib daddr type local tcp dport 8888 dnat to ${A.s2}:8080`,
      '',
    ].join('\n'),
    sends: [
      { proto: 'tcp', dst: A.r0, port: 8888, expect: 'delivered', at: `${A.s2}:8080` },
      { proto: 'tcp', dst: A.s1, port: 8080, expect: 'delivered', at: s1 },
    ],
  },
  {
    name: 'nft snat by oifname',
    nft: [
      'add table ip n',
      'add chain ip n post { type nat hook postrouting priority srcnat ; }',
      `add rule ip n post oifname "r1" meta l4proto udp snat to ${A.r1}`,
      '',
    ].join('\n'),
    sends: [{ proto: 'udp', dst: A.s1, port: 8080, expect: 'delivered', at: s1, seenFrom: A.r1 }],
  },
  {
    name: 'nft dnat via a data map',
    nft: [
      'add table ip n',
      'add chain ip n pre { type nat hook prerouting priority -100 ; }',
      `add rule ip n pre meta l4proto tcp dnat to tcp dport map { 80 : ${A.s2}, 81 : ${A.s3} }`,
      'add rule ip n pre meta l4proto tcp tcp dport 82 redirect to :8080',
      '',
    ].join('\n'),
    sends: [
      { proto: 'tcp', dst: A.vip, port: 80, expect: 'delivered', at: `${A.s2}:80` },
      { proto: 'tcp', dst: A.s1, port: 82, expect: 'delivered', at: `${A.r0}:8080` },
    ],
  },
  {
    name: 'nft nat chain before iptables nat (priority -110)',
    nft: [
      'add table ip n',
      'add chain ip n pre { type nat hook prerouting priority -110 ; }',
      `add rule ip n pre ip daddr ${A.vip} tcp dport 80 dnat to ${A.s1}:8080`,
      '',
    ].join('\n'),
    iptables: [
      { text: nat([`-A PREROUTING -d ${A.vip}/32 -p tcp --dport 80 -j DNAT --to-destination ${A.s2}:8080`]) },
    ],
    sends: [{ proto: 'tcp', dst: A.vip, port: 80, expect: 'delivered', at: s1 }],
  },
  {
    name: 'iptables nat before an nft nat chain (priority -90)',
    nft: [
      'add table ip n',
      'add chain ip n pre { type nat hook prerouting priority -90 ; }',
      `add rule ip n pre ip daddr ${A.vip} tcp dport 80 dnat to ${A.s1}:8080`,
      '',
    ].join('\n'),
    iptables: [
      { text: nat([`-A PREROUTING -d ${A.vip}/32 -p tcp --dport 80 -j DNAT --to-destination ${A.s2}:8080`]) },
    ],
    sends: [{ proto: 'tcp', dst: A.vip, port: 80, expect: 'delivered', at: `${A.s2}:8080` }],
  },
  {
    name: 'nft filter drop beside an iptables accept',
    nft: [
      'add table ip f',
      'add chain ip f forward { type filter hook forward priority 10 ; }',
      'add rule ip f forward tcp dport 8081 drop',
      '',
    ].join('\n'),
    iptables: [{ text: filter(['-A FORWARD -j ACCEPT']) }],
    sends: [
      { proto: 'tcp', dst: A.s1, port: 8081, expect: 'dropped' },
      { proto: 'tcp', dst: A.s1, port: 8080, expect: 'delivered', at: s1 },
    ],
  },
  {
    name: 'ip6tables DNAT',
    ip6tables: `*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -d ${A.vip6}/128 -p tcp -m tcp --dport 80 -j DNAT --to-destination [${A.s26}]:8080\nCOMMIT\n`,
    sends: [
      {
        proto: 'tcp',
        dst: A.vip6,
        port: 80,
        expect: 'delivered',
        at: `[${A.s26}]:8080`,
        seenFrom: A.client6,
      },
    ],
  },
  {
    name: 'ip6tables REJECT and MASQUERADE',
    ip6tables: `*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -p udp --dport 8081 -j REJECT\nCOMMIT\n*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -o r1 -j MASQUERADE\nCOMMIT\n`,
    sends: [
      { proto: 'udp', dst: A.s16, port: 8081, expect: 'ECONNREFUSED' },
      { proto: 'udp', dst: A.s16, port: 8080, expect: 'delivered', at: `[${A.s16}]:8080`, seenFrom: A.r16 },
    ],
  },
];

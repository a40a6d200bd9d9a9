import { describe, expect, it } from 'vitest';
import { presentRecord, type Rcode } from './records.js';
import { createResolver, podLabelToIp, type Resolver } from './resolver.js';
import type { ResolverOptions } from './resolver-options.js';
import { lines, testCluster } from './test-cluster.js';

/** One case in CoreDNS's test.Case shape: records in dig's presentation format. */
interface Case {
  qname: string;
  qtype: string;
  rcode: Rcode;
  answer?: string[];
  ns?: string[];
  extra?: string[];
  /** Expected AA flag. @default true */
  aa?: boolean;
}

const SERIAL = 1499347823;
const SOA = `cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. ${SERIAL} 7200 1800 86400 5`;

function check(resolver: Resolver, tc: Case): void {
  const a = resolver.resolve({ name: tc.qname, type: tc.qtype });
  expect(a.rcode).toBe(tc.rcode);
  expect(lines(a.answers.map(presentRecord))).toEqual(lines(tc.answer ?? []));
  expect(lines(a.authorities.map(presentRecord))).toEqual(lines(tc.ns ?? []));
  expect(lines(a.additionals.map(presentRecord))).toEqual(lines(tc.extra ?? []));
  expect(a.authoritative).toBe(tc.aa ?? true);
}

function table(title: string, cases: Case[], options: ResolverOptions = {}): void {
  describe(title, () => {
    const resolver = createResolver(testCluster(), { serial: SERIAL, ...options });
    it.each(cases)('$qname $qtype → $rcode', (tc) => check(resolver, tc));
  });
}

table('ClusterIP services: A, AAAA, SRV', [
  {
    qname: 'svc1.testns.svc.cluster.local.',
    qtype: 'A',
    rcode: 'NOERROR',
    answer: ['svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1'],
  },
  {
    qname: 'svcempty.testns.svc.cluster.local',
    qtype: 'A',
    rcode: 'NOERROR',
    answer: ['svcempty.testns.svc.cluster.local. 5 IN A 10.0.0.2'],
  },
  { qname: 'svc1.testns.svc.cluster.local.', qtype: 'AAAA', rcode: 'NOERROR', ns: [SOA] },
  {
    qname: 'svc6.testns.svc.cluster.local.',
    qtype: 'AAAA',
    rcode: 'NOERROR',
    answer: ['svc6.testns.svc.cluster.local. 5 IN AAAA 1234:abcd::1'],
  },
  { qname: 'svc6.testns.svc.cluster.local.', qtype: 'A', rcode: 'NOERROR', ns: [SOA] },
  {
    qname: 'dual.testns.svc.cluster.local.',
    qtype: 'A',
    rcode: 'NOERROR',
    answer: ['dual.testns.svc.cluster.local. 5 IN A 10.0.0.3'],
  },
  {
    qname: 'dual.testns.svc.cluster.local.',
    qtype: 'AAAA',
    rcode: 'NOERROR',
    answer: ['dual.testns.svc.cluster.local. 5 IN AAAA fd00:96::3'],
  },
  {
    qname: '_http._tcp.svc1.testns.svc.cluster.local.',
    qtype: 'SRV',
    rcode: 'NOERROR',
    answer: ['_http._tcp.svc1.testns.svc.cluster.local. 5 IN SRV 0 100 80 svc1.testns.svc.cluster.local.'],
    extra: ['svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1'],
  },
  {
    qname: 'svc1.testns.svc.cluster.local.',
    qtype: 'SRV',
    rcode: 'NOERROR',
    answer: ['svc1.testns.svc.cluster.local. 5 IN SRV 0 100 80 svc1.testns.svc.cluster.local.'],
    extra: ['svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1'],
  },
  {
    qname: '_http._tcp.svc6.testns.svc.cluster.local.',
    qtype: 'SRV',
    rcode: 'NOERROR',
    answer: ['_http._tcp.svc6.testns.svc.cluster.local. 5 IN SRV 0 100 80 svc6.testns.svc.cluster.local.'],
    extra: ['svc6.testns.svc.cluster.local. 5 IN AAAA 1234:abcd::1'],
  },
  // Dual-stack: CoreDNS splits the weight over one entry per ClusterIP, then dedups the target.
  {
    qname: '_http._tcp.dual.testns.svc.cluster.local.',
    qtype: 'SRV',
    rcode: 'NOERROR',
    answer: ['_http._tcp.dual.testns.svc.cluster.local. 5 IN SRV 0 50 80 dual.testns.svc.cluster.local.'],
    extra: [
      'dual.testns.svc.cluster.local. 5 IN A 10.0.0.3',
      'dual.testns.svc.cluster.local. 5 IN AAAA fd00:96::3',
    ],
  },
  {
    qname: 'dual.testns.svc.cluster.local.',
    qtype: 'SRV',
    rcode: 'NOERROR',
    answer: [
      'dual.testns.svc.cluster.local. 5 IN SRV 0 25 80 dual.testns.svc.cluster.local.',
      'dual.testns.svc.cluster.local. 5 IN SRV 0 25 443 dual.testns.svc.cluster.local.',
    ],
    extra: [
      'dual.testns.svc.cluster.local. 5 IN A 10.0.0.3',
      'dual.testns.svc.cluster.local. 5 IN AAAA fd00:96::3',
    ],
  },
  // Unnamed ports have no `_port._proto` SRV name (spec), but the bare service name lists them.
  { qname: '_http._tcp.unnamed.testns.svc.cluster.local.', qtype: 'SRV', rcode: 'NXDOMAIN', ns: [SOA] },
  {
    qname: 'unnamed.testns.svc.cluster.local.',
    qtype: 'SRV',
    rcode: 'NOERROR',
    answer: ['unnamed.testns.svc.cluster.local. 5 IN SRV 0 100 8080 unnamed.testns.svc.cluster.local.'],
    extra: ['unnamed.testns.svc.cluster.local. 5 IN A 10.0.0.4'],
  },
  { qname: '_http._udp.svc1.testns.svc.cluster.local.', qtype: 'SRV', rcode: 'NXDOMAIN', ns: [SOA] },
  { qname: '_https._tcp.svc1.testns.svc.cluster.local.', qtype: 'SRV', rcode: 'NXDOMAIN', ns: [SOA] },
  // An endpoint name works on a ClusterIP service too (CoreDNS's endpoint branch).
  {
    qname: 'ep1a.svc1.testns.svc.cluster.local.',
    qtype: 'A',
    rcode: 'NOERROR',
    answer: ['ep1a.svc1.testns.svc.cluster.local. 5 IN A 172.0.0.1'],
  },
]);

table('headless services', [
  {
    qname: 'hdls1.testns.svc.cluster.local.',
    qtype: 'A',
    rcode: 'NOERROR',
    answer: ['172.0.0.2', '172.0.0.3', '172.0.0.4', '172.0.0.5'].map(
      (ip) => `hdls1.testns.svc.cluster.local. 5 IN A ${ip}`,
    ),
  },
  {
    qname: 'hdls1.testns.svc.cluster.local.',
    qtype: 'AAAA',
    rcode: 'NOERROR',
    answer: ['5678:abcd::1', '5678:abcd::2'].map((ip) => `hdls1.testns.svc.cluster.local. 5 IN AAAA ${ip}`),
  },
  {
    qname: 'hdlsprtls.testns.svc.cluster.local.',
    qtype: 'A',
    rcode: 'NOERROR',
    answer: ['hdlsprtls.testns.svc.cluster.local. 5 IN A 172.0.0.20'],
  },
  {
    qname: '172-0-0-20.hdlsprtls.testns.svc.cluster.local.',
    qtype: 'A',
    rcode: 'NOERROR',
    answer: ['172-0-0-20.hdlsprtls.testns.svc.cluster.local. 5 IN A 172.0.0.20'],
  },
  { qname: 'hdlsprtls.testns.svc.cluster.local.', qtype: 'SRV', rcode: 'NOERROR', ns: [SOA] },
  {
    qname: '172-0-0-2.hdls1.testns.svc.cluster.local.',
    qtype: 'A',
    rcode: 'NOERROR',
    answer: ['172-0-0-2.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.2'],
  },
  {
    qname: 'dup-name.hdls1.testns.svc.cluster.local.',
    qtype: 'A',
    rcode: 'NOERROR',
    answer: [
      'dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.4',
      'dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.5',
    ],
  },
  {
    qname: '5678-abcd--2.hdls1.testns.svc.cluster.local',
    qtype: 'AAAA',
    rcode: 'NOERROR',
    answer: ['5678-abcd--2.hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::2'],
  },
  {
    qname: '_http._tcp.hdls1.testns.svc.cluster.local.',
    qtype: 'SRV',
    rcode: 'NOERROR',
    answer: ['172-0-0-2', '172-0-0-3', '5678-abcd--1', '5678-abcd--2', 'dup-name'].map(
      (h) =>
        `_http._tcp.hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 80 ${h}.hdls1.testns.svc.cluster.local.`,
    ),
    extra: [
      '172-0-0-2.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.2',
      '172-0-0-3.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.3',
      '5678-abcd--1.hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::1',
      '5678-abcd--2.hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::2',
      'dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.4',
      'dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.5',
    ],
  },
  { qname: 'bogusendpoint.hdls1.testns.svc.cluster.local.', qtype: 'A', rcode: 'NXDOMAIN', ns: [SOA] },
  { qname: 'bogusendpoint.svc0.testns.svc.cluster.local.', qtype: 'A', rcode: 'NXDOMAIN', ns: [SOA] },
  // No ready endpoint: NXDOMAIN (spec 2.4.1).
  { qname: 'hdlsempty.testns.svc.cluster.local.', qtype: 'A', rcode: 'NXDOMAIN', ns: [SOA] },
  // StatefulSet: hostnames, the not-ready pod left out.
  {
    qname: 'pg.db.svc.cluster.local.',
    qtype: 'A',
    rcode: 'NOERROR',
    answer: ['pg.db.svc.cluster.local. 5 IN A 10.244.1.10', 'pg.db.svc.cluster.local. 5 IN A 10.244.2.10'],
  },
  {
    qname: 'pg-0.pg.db.svc.cluster.local.',
    qtype: 'A',
    rcode: 'NOERROR',
    answer: ['pg-0.pg.db.svc.cluster.local. 5 IN A 10.244.1.10'],
  },
  { qname: 'pg-2.pg.db.svc.cluster.local.', qtype: 'A', rcode: 'NXDOMAIN', ns: [SOA] },
  {
    qname: '_pg._tcp.pg.db.svc.cluster.local.',
    qtype: 'SRV',
    rcode: 'NOERROR',
    answer: [
      '_pg._tcp.pg.db.svc.cluster.local. 5 IN SRV 0 50 5432 pg-0.pg.db.svc.cluster.local.',
      '_pg._tcp.pg.db.svc.cluster.local. 5 IN SRV 0 50 5432 pg-1.pg.db.svc.cluster.local.',
    ],
    extra: [
      'pg-0.pg.db.svc.cluster.local. 5 IN A 10.244.1.10',
      'pg-1.pg.db.svc.cluster.local. 5 IN A 10.244.2.10',
    ],
  },
  // publishNotReadyAddresses: not-ready endpoints are published.
  {
    qname: 'pgu-0.pg-unready.db.svc.cluster.local.',
    qtype: 'A',
    rcode: 'NOERROR',
    answer: ['pgu-0.pg-unready.db.svc.cluster.local. 5 IN A 10.244.1.12'],
  },
]);

table('ExternalName services', [
  {
    qname: 'external.testns.svc.cluster.local.',
    qtype: 'CNAME',
    rcode: 'NOERROR',
    answer: ['external.testns.svc.cluster.local. 5 IN CNAME ext.interwebs.test.'],
  },
  {
    qname: 'external.testns.svc.cluster.local.',
    qtype: 'A',
    rcode: 'NOERROR',
    answer: ['external.testns.svc.cluster.local. 5 IN CNAME ext.interwebs.test.'],
  },
  {
    qname: 'external-to-service.testns.svc.cluster.local',
    qtype: 'A',
    rcode: 'NOERROR',
    answer: [
      'external-to-service.testns.svc.cluster.local. 5 IN CNAME svc1.testns.svc.cluster.local.',
      'svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1',
    ],
  },
  {
    qname: 'external-static.testns.svc.cluster.local',
    qtype: 'AAAA',
    rcode: 'NOERROR',
    answer: [
      'external-static.testns.svc.cluster.local. 5 IN CNAME static.example.com.',
      'static.example.com. 5 IN AAAA 2001:db8::53',
    ],
  },
  { qname: 'external.testns.svc.cluster.local.', qtype: 'SRV', rcode: 'NOERROR', ns: [SOA] },
  // x CNAME x is a loop: no record.
  { qname: 'external-loop.testns.svc.cluster.local.', qtype: 'A', rcode: 'NOERROR', ns: [SOA] },
  { qname: 'svc1.testns.svc.cluster.local.', qtype: 'CNAME', rcode: 'NOERROR', ns: [SOA] },
]);

table('schema version, apex, NS, SOA and negative answers', [
  {
    qname: 'dns-version.cluster.local.',
    qtype: 'TXT',
    rcode: 'NOERROR',
    answer: ['dns-version.cluster.local. 28800 IN TXT "1.1.0"'],
  },
  { qname: 'dns-version.cluster.local.', qtype: 'A', rcode: 'NOERROR', ns: [SOA] },
  { qname: 'svc1.testns.svc.cluster.local.', qtype: 'TXT', rcode: 'NOERROR', ns: [SOA] },
  { qname: 'svc0.testns.svc.cluster.local.', qtype: 'TXT', rcode: 'NXDOMAIN', ns: [SOA] },
  {
    qname: 'cluster.local.',
    qtype: 'NS',
    rcode: 'NOERROR',
    answer: ['cluster.local. 5 IN NS kube-dns.kube-system.svc.cluster.local.'],
    extra: ['kube-dns.kube-system.svc.cluster.local. 5 IN A 10.96.0.10'],
  },
  { qname: 'cluster.local.', qtype: 'SOA', rcode: 'NOERROR', answer: [SOA] },
  { qname: 'cluster.local.', qtype: 'A', rcode: 'NOERROR', ns: [SOA] },
  {
    qname: 'ns.dns.cluster.local.',
    qtype: 'A',
    rcode: 'NOERROR',
    answer: ['ns.dns.cluster.local. 5 IN A 10.96.0.10'],
  },
  { qname: 'ns.dns.cluster.local.', qtype: 'AAAA', rcode: 'NOERROR', ns: [SOA] },
  { qname: 'svc1.testns.svc.cluster.local.', qtype: 'SOA', rcode: 'NOERROR', ns: [SOA] },
  { qname: 'foo.cluster.local.', qtype: 'NS', rcode: 'NXDOMAIN', ns: [SOA] },
  { qname: 'svc.cluster.local.', qtype: 'A', rcode: 'NOERROR', ns: [SOA] },
  { qname: 'pod.cluster.local.', qtype: 'A', rcode: 'NOERROR', ns: [SOA] },
  { qname: 'testns.svc.cluster.local.', qtype: 'A', rcode: 'NOERROR', ns: [SOA] },
  { qname: 'emptyns.svc.cluster.local.', qtype: 'A', rcode: 'NOERROR', ns: [SOA] },
  { qname: 'nonexist.svc.cluster.local.', qtype: 'A', rcode: 'NXDOMAIN', ns: [SOA] },
  { qname: 'svc0.testns.svc.cluster.local.', qtype: 'A', rcode: 'NXDOMAIN', ns: [SOA] },
  { qname: 'svc0.testns.svc.cluster.local.', qtype: 'AAAA', rcode: 'NXDOMAIN', ns: [SOA] },
  { qname: 'svc0.svc-nons.svc.cluster.local.', qtype: 'A', rcode: 'NXDOMAIN', ns: [SOA] },
  { qname: 'web.default.cluster.local.', qtype: 'A', rcode: 'NXDOMAIN', ns: [SOA] },
  { qname: 'a.b.c.svc1.testns.svc.cluster.local.', qtype: 'A', rcode: 'NXDOMAIN', ns: [SOA] },
  { qname: 'svc1.testns.svc.cluster.local.', qtype: 'MX', rcode: 'NOERROR', ns: [SOA] },
  { qname: 'svc0.testns.svc.cluster.local.', qtype: 'HINFO', rcode: 'NXDOMAIN', ns: [SOA] },
  { qname: 'svc1.testns.svc.cluster.local.', qtype: 'PTR', rcode: 'NOERROR', ns: [SOA] },
  { qname: 'svc1.testns.svc.cluster.local.', qtype: 'UNKNOWN_65280', rcode: 'NOERROR', ns: [SOA] },
  {
    qname: 'svc1.testns.svc.cluster.local.',
    qtype: 'ANY',
    rcode: 'NOERROR',
    answer: [
      'svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1',
      'svc1.testns.svc.cluster.local. 5 IN SRV 0 100 80 svc1.testns.svc.cluster.local.',
    ],
  },
]);

table('pods insecure (the ClusterNetwork default)', [
  {
    qname: '10-240-0-1.podns.pod.cluster.local.',
    qtype: 'A',
    rcode: 'NOERROR',
    answer: ['10-240-0-1.podns.pod.cluster.local. 5 IN A 10.240.0.1'],
  },
  {
    qname: '172-0-0-2.podns.pod.cluster.local.',
    qtype: 'A',
    rcode: 'NOERROR',
    answer: ['172-0-0-2.podns.pod.cluster.local. 5 IN A 172.0.0.2'],
  },
  {
    qname: 'fd00--1.podns.pod.cluster.local.',
    qtype: 'AAAA',
    rcode: 'NOERROR',
    answer: ['fd00--1.podns.pod.cluster.local. 5 IN AAAA fd00::1'],
  },
  { qname: '10-240-0-1.podns.pod.cluster.local.', qtype: 'AAAA', rcode: 'NOERROR', ns: [SOA] },
  { qname: 'blah.podns.pod.cluster.local.', qtype: 'A', rcode: 'NXDOMAIN', ns: [SOA] },
  { qname: 'blah.podns.pod.cluster.local.', qtype: 'HINFO', rcode: 'NXDOMAIN', ns: [SOA] },
  { qname: 'blah.pod-nons.pod.cluster.local.', qtype: 'A', rcode: 'NXDOMAIN', ns: [SOA] },
  { qname: 'podns.pod.cluster.local.', qtype: 'A', rcode: 'NOERROR', ns: [SOA] },
  { qname: 'x.10-240-0-1.podns.pod.cluster.local.', qtype: 'A', rcode: 'NXDOMAIN', ns: [SOA] },
]);

table(
  'pods verified',
  [
    {
      qname: '10-240-0-1.podns.pod.cluster.local.',
      qtype: 'A',
      rcode: 'NOERROR',
      answer: ['10-240-0-1.podns.pod.cluster.local. 5 IN A 10.240.0.1'],
    },
    { qname: 'podns.pod.cluster.local.', qtype: 'A', rcode: 'NOERROR', ns: [SOA] },
    { qname: 'testns.svc.cluster.local.', qtype: 'A', rcode: 'NOERROR', ns: [SOA] },
    { qname: 'pod-nons.pod.cluster.local.', qtype: 'A', rcode: 'NXDOMAIN', ns: [SOA] },
    { qname: '172-0-0-2.podns.pod.cluster.local.', qtype: 'A', rcode: 'NXDOMAIN', ns: [SOA] },
    { qname: '10-240-0-1.default.pod.cluster.local.', qtype: 'A', rcode: 'NXDOMAIN', ns: [SOA] },
  ],
  { pods: 'verified' },
);

table(
  'pods disabled',
  [
    { qname: '10-240-0-1.podns.pod.cluster.local.', qtype: 'A', rcode: 'NXDOMAIN', ns: [SOA] },
    { qname: 'podns.pod.cluster.local.', qtype: 'A', rcode: 'NXDOMAIN', ns: [SOA] },
    { qname: 'pod.cluster.local.', qtype: 'A', rcode: 'NOERROR', ns: [SOA] },
  ],
  { pods: 'disabled' },
);

const CASE_SOA = (z: string) => `${z}. 5 IN SOA ns.dns.${z}. hostmaster.${z}. ${SERIAL} 7200 1800 86400 5`;
table('case: matched insensitively, answered in the query case', [
  {
    qname: 'not-a-service.testns.svc.ClUsTeR.lOcAl.',
    qtype: 'A',
    rcode: 'NXDOMAIN',
    ns: [CASE_SOA('ClUsTeR.lOcAl')],
  },
  {
    qname: 'SvC1.TeStNs.SvC.cLuStEr.LoCaL.',
    qtype: 'A',
    rcode: 'NOERROR',
    answer: ['SvC1.TeStNs.SvC.cLuStEr.LoCaL. 5 IN A 10.0.0.1'],
  },
  {
    qname: '_HtTp._TcP.sVc1.TeStNs.SvC.cLuStEr.LoCaL.',
    qtype: 'SRV',
    rcode: 'NOERROR',
    answer: ['_HtTp._TcP.sVc1.TeStNs.SvC.cLuStEr.LoCaL. 5 IN SRV 0 100 80 svc1.testns.svc.cLuStEr.LoCaL.'],
    extra: ['svc1.testns.svc.cLuStEr.LoCaL. 5 IN A 10.0.0.1'],
  },
  { qname: 'Cluster.local.', qtype: 'SOA', rcode: 'NOERROR', answer: [CASE_SOA('Cluster.local')] },
  {
    qname: '1.0.0.10.IN-ADDR.ARPA.',
    qtype: 'PTR',
    rcode: 'NOERROR',
    answer: ['1.0.0.10.IN-ADDR.ARPA. 5 IN PTR svc1.testns.svc.cluster.local.'],
  },
]);

table('reverse lookups', [
  {
    qname: '1.0.0.10.in-addr.arpa.',
    qtype: 'PTR',
    rcode: 'NOERROR',
    answer: ['1.0.0.10.in-addr.arpa. 5 IN PTR svc1.testns.svc.cluster.local.'],
  },
  {
    qname: '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.4.3.2.1.ip6.arpa.',
    qtype: 'PTR',
    rcode: 'NOERROR',
    answer: [
      '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.4.3.2.1.ip6.arpa. 5 IN PTR svc6.testns.svc.cluster.local.',
    ],
  },
  {
    qname: '2.0.0.172.in-addr.arpa.',
    qtype: 'PTR',
    rcode: 'NOERROR',
    answer: ['2.0.0.172.in-addr.arpa. 5 IN PTR 172-0-0-2.hdls1.testns.svc.cluster.local.'],
  },
  {
    qname: '4.0.0.172.in-addr.arpa.',
    qtype: 'PTR',
    rcode: 'NOERROR',
    answer: ['4.0.0.172.in-addr.arpa. 5 IN PTR dup-name.hdls1.testns.svc.cluster.local.'],
  },
  {
    qname: '1.0.0.172.in-addr.arpa.',
    qtype: 'PTR',
    rcode: 'NOERROR',
    answer: ['1.0.0.172.in-addr.arpa. 5 IN PTR ep1a.svc1.testns.svc.cluster.local.'],
  },
  {
    qname: '10.1.244.10.in-addr.arpa.',
    qtype: 'PTR',
    rcode: 'NOERROR',
    answer: ['10.1.244.10.in-addr.arpa. 5 IN PTR pg-0.pg.db.svc.cluster.local.'],
  },
  {
    qname: '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.8.7.6.5.ip6.arpa.',
    qtype: 'PTR',
    rcode: 'NOERROR',
    answer: [
      '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.8.7.6.5.ip6.arpa. 5 IN PTR 5678-abcd--1.hdls1.testns.svc.cluster.local.',
    ],
  },
  {
    qname: '53.2.0.192.in-addr.arpa.',
    qtype: 'PTR',
    rcode: 'NOERROR',
    aa: false,
    answer: ['53.2.0.192.in-addr.arpa. 5 IN PTR static.example.com.'],
  },
  // Not a service or ready endpoint: falls through to upstreams, and there are none.
  { qname: '11.1.244.10.in-addr.arpa.', qtype: 'PTR', rcode: 'REFUSED', aa: false },
  { qname: 'example.org.cluster.local.', qtype: 'PTR', rcode: 'NXDOMAIN', ns: [SOA] },
]);

table(
  'reverse lookups without fallthrough',
  [
    {
      qname: '11.1.244.10.in-addr.arpa.',
      qtype: 'PTR',
      rcode: 'NXDOMAIN',
      ns: [
        `in-addr.arpa. 5 IN SOA ns.dns.in-addr.arpa. hostmaster.in-addr.arpa. ${SERIAL} 7200 1800 86400 5`,
      ],
    },
    {
      qname: '1.0.0.10.in-addr.arpa.',
      qtype: 'PTR',
      rcode: 'NOERROR',
      answer: ['1.0.0.10.in-addr.arpa. 5 IN PTR svc1.testns.svc.cluster.local.'],
    },
  ],
  { fallthrough: false },
);

table('names outside the cluster zone', [
  {
    qname: 'static.example.com.',
    qtype: 'A',
    rcode: 'NOERROR',
    aa: false,
    answer: ['static.example.com. 5 IN A 192.0.2.53'],
  },
  {
    qname: 'STATIC.example.com',
    qtype: 'AAAA',
    rcode: 'NOERROR',
    aa: false,
    answer: ['STATIC.example.com. 5 IN AAAA 2001:db8::53'],
  },
  { qname: 'static.example.com.', qtype: 'MX', rcode: 'NOERROR', aa: false },
  { qname: 'example.org.', qtype: 'A', rcode: 'REFUSED', aa: false },
  { qname: '.', qtype: 'NS', rcode: 'REFUSED', aa: false },
]);

table(
  'wildcards when enabled',
  [
    {
      qname: 'svc1.*.svc.cluster.local.',
      qtype: 'A',
      rcode: 'NOERROR',
      answer: ['svc1.*.svc.cluster.local. 5 IN A 10.0.0.1'],
    },
    {
      qname: '*.any.svc1.*.svc.cluster.local.',
      qtype: 'SRV',
      rcode: 'NOERROR',
      answer: ['*.any.svc1.*.svc.cluster.local. 5 IN SRV 0 100 80 svc1.testns.svc.cluster.local.'],
      extra: ['svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1'],
    },
    { qname: 'nosuch.*.svc.cluster.local.', qtype: 'A', rcode: 'NXDOMAIN', ns: [SOA] },
  ],
  { wildcards: true },
);

table('wildcards are literal labels by default', [
  { qname: 'svc1.*.svc.cluster.local.', qtype: 'A', rcode: 'NXDOMAIN', ns: [SOA] },
]);

describe('resolver details', () => {
  const state = testCluster();

  it('answers one A record per ready endpoint of a headless service with 100 endpoints', () => {
    const a = createResolver(state).resolve({ name: 'many.big.svc.cluster.local', type: 'A' });
    expect(a.answers).toHaveLength(100);
    expect(new Set(a.answers.map((r) => r.data)).size).toBe(100);
  });

  it('uses the ClusterNetwork TTL and 28800 s for dns-version', () => {
    const r = createResolver({
      ...state,
      network: { ...state.network, dns: { ...state.network.dns, ttl: 30 } },
    });
    expect(r.resolve({ name: 'svc1.testns.svc.cluster.local', type: 'A' }).answers[0].ttl).toBe(30);
    expect(r.resolve({ name: 'dns-version.cluster.local', type: 'TXT' }).answers[0].ttl).toBe(28800);
    const soa = r.resolve({ name: 'nosuch.testns.svc.cluster.local', type: 'A' }).authorities[0];
    expect(soa.ttl).toBe(30);
    expect((soa.data as { minimum: number }).minimum).toBe(30);
  });

  it('serves another cluster domain', () => {
    const r = createResolver({ ...state, network: { ...state.network, clusterDomain: 'k8s.example.net' } });
    expect(r.resolve({ name: 'svc1.testns.svc.k8s.example.net', type: 'A' }).answers[0].data).toBe(
      '10.0.0.1',
    );
    expect(r.resolve({ name: 'svc1.testns.svc.cluster.local', type: 'A' }).rcode).toBe('REFUSED');
  });

  it('derives a deterministic SOA serial from the records', () => {
    const a = createResolver(state).serial;
    expect(createResolver(testCluster()).serial).toBe(a);
    const changed = { ...state, services: state.services.filter((s) => s.name !== 'svc1') };
    expect(createResolver(changed).serial).not.toBe(a);
  });

  it('forwards outside names only to clients allowed to recurse, only inside the forward zones', () => {
    const r = createResolver(state, { upstreams: ['192.0.2.1'], forwardZones: ['corp.example'] });
    const fwd = r.resolve({ name: 'git.corp.example', type: 'A' }, { recursion: true });
    expect(fwd.forward).toBe(true);
    expect(fwd.rcode).toBe('SERVFAIL');
    expect(r.resolve({ name: 'git.corp.example', type: 'A' }, { recursion: false }).rcode).toBe('REFUSED');
    expect(r.resolve({ name: 'example.org', type: 'A' }, { recursion: true }).rcode).toBe('REFUSED');
    // With upstreams, an ExternalName target outside the zone is to be chased upstream.
    const ext = r.resolve({ name: 'external.testns.svc.cluster.local', type: 'A' });
    expect(ext.chase).toEqual({ name: 'ext.interwebs.test', type: 'A' });
    expect(ext.answers.map(presentRecord)).toEqual([
      'external.testns.svc.cluster.local. 5 IN CNAME ext.interwebs.test.',
    ]);
  });

  it('refuses zone transfers and other classes', () => {
    const r = createResolver(state);
    expect(r.resolve({ name: 'cluster.local', type: 'AXFR' }).rcode).toBe('REFUSED');
    expect(r.resolve({ name: 'svc1.testns.svc.cluster.local', type: 'A', class: 'CH' }).rcode).toBe(
      'REFUSED',
    );
  });

  it('maps pod labels to addresses like CoreDNS', () => {
    expect(podLabelToIp('10-244-1-5')).toBe('10.244.1.5');
    expect(podLabelToIp('fd00-10-244--5')).toBe('fd00:10:244::5');
    expect(podLabelToIp('010-1-1-1')).toBeUndefined();
    expect(podLabelToIp('a-b-c-d')).toBeUndefined();
  });

  it('rejects bad options with a typed error naming the field', () => {
    expect(() => createResolver(state, { ttl: -1 })).toThrow(/dns\.ttl/);
    expect(() => createResolver(state, { staticHosts: { x: ['nope'] } })).toThrow(/staticHosts/);
    expect(() => createResolver(state, { upstreams: ['dns.google'] })).toThrow(/upstreams/);
  });
});

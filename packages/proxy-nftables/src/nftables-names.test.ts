import { describe, expect, it } from 'vitest';
import { endpointChainNameBase, servicePortChainNameBase, serviceChainNames } from './nftables-names.js';

const LONG_NS = 'very-long-namespace-name-abcdefghijklmnopqrstuvwxyz0123456789xx';
const LONG_SVC = 'very-long-service-name-why-would-you-even-do-this-i-mean-really';
const LONG_PORT = 'port-443-providing-the-hypertext-transmission-protocol-with-tls';

describe('kube-proxy nftables chain names (Test_servicePortChainNameBase)', () => {
  it.each([
    ['ns1', 'svc1', 'tcp', 'p80', 'ULMVA6XW-ns1/svc1/tcp/p80'],
    ['testing', 'service', 'tcp', 'http', 'P4ZYZVCF-testing/service/tcp/http'],
    ['testing', 'service', 'tcp', 'https', 'LZBRENCP-testing/service/tcp/https'],
    [LONG_NS, LONG_SVC, 'sctp', LONG_PORT, `KR6NACJP-${LONG_NS}/${LONG_SVC}/sctp/${LONG_PORT}`],
  ])('%s/%s/%s/%s', (ns, name, proto, p, expected) => {
    expect(servicePortChainNameBase(ns, name, proto, p)).toBe(expected);
  });

  it('prefixes the four per-service chains', () => {
    expect(serviceChainNames('ns5', 'svc5', 'tcp', 'p80')).toEqual({
      service: 'service-HVFWP5L3-ns5/svc5/tcp/p80',
      local: 'local-HVFWP5L3-ns5/svc5/tcp/p80',
      external: 'external-HVFWP5L3-ns5/svc5/tcp/p80',
      firewall: 'firewall-HVFWP5L3-ns5/svc5/tcp/p80',
    });
  });
});

describe('kube-proxy nftables endpoint names (Test_servicePortEndpointChainNameBase)', () => {
  it.each([
    ['10.180.0.1', 80, 'JO2XBXZR-testing/service/tcp/http__10.180.0.1/80'],
    ['10.180.0.2', 80, '5S6H3H22-testing/service/tcp/http__10.180.0.2/80'],
    [
      'fd80:abcd:12::a1b2:c3d4:e5f6:9999',
      80,
      'U7E2ET36-testing/service/tcp/http__fd80.abcd.12..a1b2.c3d4.e5f6.9999/80',
    ],
  ])('%s:%d', (ip, p, expected) => {
    expect(endpointChainNameBase('testing', 'service', 'tcp', 'http', ip, p)).toBe(expected);
  });

  it('keeps names up to 240 bytes and truncates longer ones behind the hash', () => {
    expect(
      endpointChainNameBase(LONG_NS, LONG_SVC, 'sctp', LONG_PORT, '1234:5678:9abc:def0::abc:1234', 443),
    ).toBe(`5YS7AFEA-${LONG_NS}/${LONG_SVC}/sctp/${LONG_PORT}__1234.5678.9abc.def0..abc.1234/443`);
    const t1 = endpointChainNameBase(
      LONG_NS,
      LONG_SVC,
      'sctp',
      LONG_PORT,
      '1234:5678:9abc:def0::abcd:1234:5678',
      443,
    );
    const t2 = endpointChainNameBase(
      LONG_NS,
      LONG_SVC,
      'sctp',
      LONG_PORT,
      '1234:5678:9abc:def0::abcd:1234:8765',
      443,
    );
    expect(t1).toBe(`CI6C53Q3-${LONG_NS}/${LONG_SVC}/sctp/${LONG_PORT}__1234.5678.9abc.def0..abcd.1234...`);
    expect(t2).toBe(`2FLXFK6X-${LONG_NS}/${LONG_SVC}/sctp/${LONG_PORT}__1234.5678.9abc.def0..abcd.1234...`);
    expect(t1.length).toBe(240);
  });

  it('matches the TestOverallNFTablesRules endpoint chains', () => {
    expect(endpointChainNameBase('ns1', 'svc1', 'tcp', 'p80', '10.180.0.1', 80)).toBe(
      '5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80',
    );
    expect(endpointChainNameBase('ns5', 'svc5', 'tcp', 'p80', '10.180.0.3', 80)).toBe(
      'GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80',
    );
  });
});

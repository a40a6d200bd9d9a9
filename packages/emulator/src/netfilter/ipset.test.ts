import { RuleParseError } from '@podnet/core';
import { describe, expect, it } from 'vitest';
import { VirtualClock } from './conntrack.js';
import { IpsetStore } from './ipset.js';
import type { NfPacket } from './packet.js';

const p = (x: Partial<NfPacket>): NfPacket => ({
  family: 4,
  proto: 6,
  src: '10.244.1.5',
  dst: '10.96.0.1',
  sport: 40000,
  dport: 443,
  mark: 0,
  ...x,
});

/** What kube-proxy's IPVS mode writes with `ipset restore -exist`. */
const KUBE_IPVS = `create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536
create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 65536
create KUBE-NODE-PORT-TCP bitmap:port range 0-65535
create KUBE-LOAD-BALANCER-SOURCE-CIDR hash:ip,port,net family inet hashsize 1024 maxelem 65536
create KUBE-6-CLUSTER-IP hash:ip,port family inet6 hashsize 1024 maxelem 65536
add KUBE-CLUSTER-IP 10.96.0.1,tcp:443
add KUBE-CLUSTER-IP 10.96.0.10,udp:53
add KUBE-LOOP-BACK 10.244.1.5,tcp:8080,10.244.1.5
add KUBE-NODE-PORT-TCP 30080
add KUBE-LOAD-BALANCER-SOURCE-CIDR 5.6.7.8,tcp:80,203.0.113.0/24
add KUBE-6-CLUSTER-IP fd00::1,tcp:443
`;

describe('ipset', () => {
  it('loads kube-proxy IPVS-mode sets and matches by dimension and direction', () => {
    const s = new IpsetStore(new VirtualClock());
    s.restore(KUBE_IPVS, { exist: true });
    expect(s.names()).toHaveLength(5);
    expect(s.test('KUBE-CLUSTER-IP', p({}), ['dst', 'dst'])).toBe(true);
    expect(s.test('KUBE-CLUSTER-IP', p({ dport: 80 }), ['dst', 'dst'])).toBe(false);
    expect(s.test('KUBE-CLUSTER-IP', p({ proto: 17, dst: '10.96.0.10', dport: 53 }), ['dst', 'dst'])).toBe(
      true,
    );
    expect(s.test('KUBE-CLUSTER-IP', p({ proto: 6, dst: '10.96.0.10', dport: 53 }), ['dst', 'dst'])).toBe(
      false,
    );
    expect(s.test('KUBE-LOOP-BACK', p({ dst: '10.244.1.5', dport: 8080 }), ['dst', 'dst', 'src'])).toBe(true);
    expect(
      s.test('KUBE-LOOP-BACK', p({ dst: '10.244.1.5', dport: 8080, src: '10.244.1.6' }), [
        'dst',
        'dst',
        'src',
      ]),
    ).toBe(false);
    expect(s.test('KUBE-NODE-PORT-TCP', p({ dport: 30080 }), ['dst'])).toBe(true);
    expect(
      s.test('KUBE-LOAD-BALANCER-SOURCE-CIDR', p({ dst: '5.6.7.8', dport: 80, src: '203.0.113.77' }), [
        'dst',
        'dst',
        'src',
      ]),
    ).toBe(true);
    expect(
      s.test('KUBE-LOAD-BALANCER-SOURCE-CIDR', p({ dst: '5.6.7.8', dport: 80, src: '203.0.114.77' }), [
        'dst',
        'dst',
        'src',
      ]),
    ).toBe(false);
    expect(s.test('KUBE-6-CLUSTER-IP', { ...p({}), family: 6, dst: 'fd00::1' }, ['dst', 'dst'])).toBe(true);
    expect(s.test('KUBE-6-CLUSTER-IP', p({}), ['dst', 'dst'])).toBe(false);
    // -exist: loading the same text again is fine
    s.restore(KUBE_IPVS, { exist: true });
  });

  it('nomatch entries, most specific prefix first; timeouts on the clock; list:set', () => {
    const clock = new VirtualClock();
    const s = new IpsetStore(clock);
    s.restore(
      'create N hash:net\nadd N 10.0.0.0/8\nadd N 10.1.0.0/16 nomatch\nadd N 10.1.2.0/24\ncreate T hash:ip timeout 60\nadd T 1.1.1.1\nadd T 2.2.2.2 timeout 10\ncreate L list:set\nadd L N\nadd L T\n',
    );
    expect(s.test('N', p({ src: '10.9.9.9' }), ['src'])).toBe(true);
    expect(s.test('N', p({ src: '10.1.9.9' }), ['src'])).toBe(false);
    expect(s.test('N', p({ src: '10.1.2.9' }), ['src'])).toBe(true);
    expect(s.test('L', p({ src: '2.2.2.2' }), ['src'])).toBe(true);
    clock.advance(11);
    expect(s.test('T', p({ src: '2.2.2.2' }), ['src'])).toBe(false);
    expect(s.test('T', p({ src: '1.1.1.1' }), ['src'])).toBe(true);
    clock.advance(50);
    expect(s.test('L', p({ src: '1.1.1.1' }), ['src'])).toBe(false);
  });

  it('del, flush, swap, rename, destroy', () => {
    const s = new IpsetStore(new VirtualClock());
    s.restore('create A hash:ip\nadd A 1.1.1.1\ncreate B hash:ip\nadd B 2.2.2.2\n');
    s.restore('swap A B\n');
    expect(s.test('A', p({ src: '2.2.2.2' }), ['src'])).toBe(true);
    s.restore('rename A C\ndel C 2.2.2.2\nflush B\ndestroy B\n');
    expect(s.names()).toEqual(['C']);
    expect(s.test('C', p({ src: '2.2.2.2' }), ['src'])).toBe(false);
  });

  it.each([
    ['an element added twice', 'create A hash:ip\nadd A 1.1.1.1\nadd A 1.1.1.1\n', 3, /already added/],
    ['a missing set', 'add NOPE 1.1.1.1\n', 1, /does not exist/],
    ['an element of the wrong shape', 'create A hash:ip,port\nadd A 1.1.1.1\n', 2, /does not fit/],
    [
      'a port outside the bitmap range',
      'create P bitmap:port range 1000-2000\nadd P 3000\n',
      2,
      /outside the range/,
    ],
    ['an unknown type', 'create X hash:mac\n', 1, /not supported/],
    ['an unknown option', 'create X hash:ip frobnicate 1\n', 1, /unknown option "frobnicate"/],
    ['an IPv6 element in an inet set', 'create X hash:ip\nadd X fd00::1\n', 2, /invalid IPv4/],
    ['a set created again with another type', 'create X hash:ip\ncreate X hash:net\n', 2, /already exists/],
  ])('refuses %s, naming the line, and applies nothing', (_w, text, line, msg) => {
    const s = new IpsetStore(new VirtualClock());
    s.restore('create KEEP hash:ip\n');
    let err: unknown;
    try {
      s.restore(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RuleParseError);
    expect((err as RuleParseError).line).toBe(line);
    expect((err as RuleParseError).message).toMatch(msg);
    expect(s.names()).toEqual(['KEEP']);
  });
});

import fc from 'fast-check';
import { Address6 } from 'ip-address';
import { describe, expect, it } from 'vitest';
import { PodnetError } from './errors.js';
import {
  addressIndex,
  bigIntToIp,
  canonicalIp,
  cidrContains,
  cidrSize,
  cidrsOverlap,
  compareIps,
  intToIpv4,
  ipFromReverseName,
  ipToBigInt,
  ipv4ToInt,
  isCidr,
  isIp,
  nthAddress,
  parseCidr,
  reverseName,
  splitCidr,
  subnetAt,
  subnetCount,
} from './ip.js';

describe('ip helpers', () => {
  it('parses and canonicalises both families', () => {
    expect(canonicalIp('10.0.0.1')).toBe('10.0.0.1');
    expect(canonicalIp('FD00:0:0::1')).toBe('fd00::1');
    expect(canonicalIp('2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1');
    for (const bad of ['10.0.0', '10.0.0.256', 'x', '', '10.0.0.1/8', 'fe80::1%eth0', '1.2.3.4.5']) {
      expect(isIp(bad), bad).toBe(false);
      expect(() => canonicalIp(bad)).toThrow(PodnetError);
    }
  });

  it('does CIDR arithmetic', () => {
    const c = parseCidr('10.244.1.7/24');
    expect(c.text).toBe('10.244.1.0/24');
    expect(() => parseCidr('10.244.1.7/24', { strict: true })).toThrow(/host bits/);
    expect(cidrSize('10.244.0.0/16')).toBe(65536n);
    expect(nthAddress('10.244.1.0/24', 1)).toBe('10.244.1.1');
    expect(nthAddress('10.244.1.0/24', -1)).toBe('10.244.1.255');
    expect(nthAddress('fd00::/64', 2)).toBe('fd00::2');
    expect(() => nthAddress('10.0.0.0/30', 4)).toThrow(PodnetError);
    expect(addressIndex('10.0.0.0/24', '10.0.0.9')).toBe(9n);
    expect(addressIndex('10.0.0.0/24', '10.0.1.9')).toBe(-1n);
    expect(cidrContains('10.244.0.0/16', '10.244.200.3')).toBe(true);
    expect(cidrContains('10.244.0.0/16', '10.245.0.3')).toBe(false);
    expect(cidrContains('10.244.0.0/16', 'fd00::1')).toBe(false);
    expect(cidrsOverlap('10.0.0.0/8', '10.96.0.0/12')).toBe(true);
    expect(cidrsOverlap('10.244.0.0/16', '10.96.0.0/12')).toBe(false);
    expect(subnetCount('10.244.0.0/16', 24)).toBe(256n);
    expect(subnetAt('10.244.0.0/16', 24, 3).text).toBe('10.244.3.0/24');
    expect(subnetAt('fd00:10:244::/56', 64, 1).text).toBe('fd00:10:244:1::/64');
    expect([...splitCidr('192.168.0.0/23', 24)].map((s) => s.text)).toEqual([
      '192.168.0.0/24',
      '192.168.1.0/24',
    ]);
    for (const bad of ['10.0.0.0', '10.0.0.0/33', 'fd00::/129', '10.0.0.0/-1', 'x/8', '10.0.0.0/8/8']) {
      expect(isCidr(bad), bad).toBe(false);
    }
  });

  it('builds reverse names both ways', () => {
    expect(reverseName('10.96.0.10')).toBe('10.0.96.10.in-addr.arpa');
    expect(ipFromReverseName('10.0.96.10.in-addr.arpa.')).toBe('10.96.0.10');
    const v6 = reverseName('fd00::1');
    expect(v6).toBe(`1.${'0.'.repeat(27)}0.0.d.f.ip6.arpa`);
    expect(ipFromReverseName(v6)).toBe('fd00::1');
    expect(ipFromReverseName('1.2.3.in-addr.arpa')).toBeUndefined();
    expect(ipFromReverseName('01.2.3.4.in-addr.arpa')).toBeUndefined();
  });

  it('round-trips addresses through bigint and int forms (property)', () => {
    fc.assert(
      fc.property(fc.ipV4(), (ip) => {
        expect(intToIpv4(ipv4ToInt(ip))).toBe(ip);
        expect(bigIntToIp(BigInt(ipv4ToInt(ip)), 4)).toBe(ip);
      }),
    );
    fc.assert(
      fc.property(fc.ipV6(), (ip) => {
        const c = canonicalIp(ip);
        expect(canonicalIp(c)).toBe(c);
        expect(compareIps(c, ip)).toBe(0);
      }),
    );
  });

  it('formats IPv6 as ip-address does (RFC 5952), for any value (property)', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }),
        fc.integer({ min: 0, max: 7 }),
        (v, zeros) => {
          // bias toward zero runs: clear `zeros` random-width fields
          const masked = v & ~(((1n << BigInt(16 * zeros)) - 1n) << BigInt(16 * (7 - zeros)));
          for (const x of [v, masked]) expect(bigIntToIp(x, 6)).toBe(Address6.fromBigInt(x).correctForm());
        },
      ),
    );
    for (const t of ['::', '::1', '1::', 'fd00::1:0:0:1', '1:0:1:0:1:0:1:0', '2001:db8:0:1:1:1:1:1']) {
      expect(bigIntToIp(ipToBigInt(t), 6)).toBe(t);
    }
  });

  it('splits a CIDR into disjoint subnets that cover it (property)', () => {
    fc.assert(
      fc.property(
        fc.ipV4(),
        fc.integer({ min: 8, max: 28 }),
        fc.integer({ min: 0, max: 4 }),
        (ip, prefix, extra) => {
          const parent = parseCidr(`${ip}/${prefix}`);
          const subs = [...splitCidr(parent, prefix + extra)];
          expect(BigInt(subs.length)).toBe(subnetCount(parent, prefix + extra));
          for (let i = 1; i < subs.length; i++) expect(cidrsOverlap(subs[i - 1], subs[i])).toBe(false);
          expect(subs.reduce((n, s) => n + cidrSize(s), 0n)).toBe(cidrSize(parent));
          expect(cidrContains(parent, nthAddress(subs[subs.length - 1], -1))).toBe(true);
        },
      ),
    );
  });
});

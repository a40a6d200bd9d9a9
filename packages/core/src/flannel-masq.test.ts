import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from './errors.js';
import { flannelMasqRules } from './flannel-masq.js';

describe('flannelMasqRules', () => {
  it('renders flannel’s golden nat and filter rules (e2e/rules.go) as iptables-restore text', () => {
    const { ipv4, ipv6 } = flannelMasqRules(['10.244.0.0/16'], ['10.244.1.0/24']);
    expect(ipv6).toBe('');
    expect(ipv4.split('\n')).toEqual([
      '*nat',
      ':FLANNEL-POSTRTG - [0:0]',
      '-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG',
      '-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN',
      '-A FLANNEL-POSTRTG -s 10.244.1.0/24 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j RETURN',
      '-A FLANNEL-POSTRTG -s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment "flanneld masq" -j RETURN',
      '-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment "flanneld masq" -j RETURN',
      '-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully',
      '-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully',
      'COMMIT',
      '*filter',
      ':FLANNEL-FWD - [0:0]',
      '-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD',
      '-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT',
      '-A FLANNEL-FWD -d 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT',
      'COMMIT',
      '',
    ]);
  });

  it('renders IPv6 with ff00::/8 and honours randomFully/forwardRules', () => {
    const { ipv4, ipv6 } = flannelMasqRules(
      ['10.244.0.0/16', 'fd00:10:244::/56'],
      ['10.244.1.0/24', 'fd00:10:244:1::/64'],
      {
        randomFully: false,
        forwardRules: false,
      },
    );
    expect(ipv6).toContain(
      '-A FLANNEL-POSTRTG -s fd00:10:244::/56 ! -d ff00::/8 -m comment --comment "flanneld masq" -j MASQUERADE\n',
    );
    expect(ipv4).not.toContain('--random-fully');
    expect(ipv4).not.toContain('FLANNEL-FWD');
  });

  it('refuses two cluster CIDRs of one family and a missing lease', () => {
    expect(() => flannelMasqRules(['10.244.0.0/16', '10.245.0.0/16'], ['10.244.1.0/24'])).toThrow(
      InvalidArgumentError,
    );
    expect(() => flannelMasqRules(['10.244.0.0/16'], [])).toThrow(/exactly one IPv4 pod CIDR/);
  });
});

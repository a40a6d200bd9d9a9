import { PodnetError } from '@podnet/core';
import { describe, expect, it } from 'vitest';
import { decrementTtl, ipv4Destination, netUnreachable } from './ipv4-packet.js';
import { ipv4Packet, onesComplement as sum } from './test-support.js';
import { type FlannelUdpConfig, UdpProxy } from './udp-proxy.js';

const config: FlannelUdpConfig = {
  tun: 'flannel0',
  port: 8285,
  localIP: '192.168.50.10',
  tunIP: '10.244.0.0',
  mtu: 1472,
  peers: [
    { podCIDR: '10.244.1.0/24', nodeIP: '192.168.50.11' },
    { podCIDR: '10.244.2.0/24', nodeIP: '192.168.60.10' },
  ],
};

describe('ipv4 packet helpers', () => {
  it('reads the destination and refuses non-IPv4', () => {
    expect(ipv4Destination(ipv4Packet('10.244.0.2', '10.244.1.3'))).toBe('10.244.1.3');
    expect(ipv4Destination(new Uint8Array([0x60, 0, 0, 0]))).toBeUndefined();
  });

  it('decrements the TTL in place with a valid checksum, and refuses TTL 1 untouched', () => {
    const p = ipv4Packet('10.244.0.2', '10.244.1.3', { ttl: 64 });
    expect(decrementTtl(p)).toBe(true);
    expect(p[8]).toBe(63);
    expect(sum(p, 0, 20)).toBe(0);
    const last = ipv4Packet('1.1.1.1', '2.2.2.2', { ttl: 1 });
    const before = [...last];
    expect(decrementTtl(last)).toBe(false);
    expect([...last]).toEqual(before);
    expect(decrementTtl(new Uint8Array([0x60, 0, 0, 0]))).toBe(false);
  });

  it('builds ICMP net unreachable quoting header + 8 bytes, never for ICMP or later fragments', () => {
    const offender = ipv4Packet('10.244.0.2', '10.9.0.1', { payload: 100 });
    const icmp = netUnreachable(offender, '10.244.0.0')!;
    expect(icmp.length).toBe(20 + 8 + 28);
    expect(ipv4Destination(icmp)).toBe('10.244.0.2');
    expect([...icmp.subarray(12, 16)]).toEqual([10, 244, 0, 0]);
    expect(icmp[9]).toBe(1);
    expect([icmp[20], icmp[21]]).toEqual([3, 0]);
    expect(sum(icmp, 0, 20)).toBe(0);
    expect(sum(icmp, 20, icmp.length)).toBe(0);
    expect([...icmp.subarray(28)]).toEqual([...offender.subarray(0, 28)]);
    expect(netUnreachable(ipv4Packet('10.244.0.2', '10.9.0.1', { proto: 1 }), '10.244.0.0')).toBeUndefined();
    expect(netUnreachable(ipv4Packet('10.244.0.2', '10.9.0.1', { frag: 10 }), '10.244.0.0')).toBeUndefined();
  });
});

describe('UdpProxy', () => {
  const proxy = new UdpProxy(config);

  it('sends a TUN packet, whole, to the node owning its destination', () => {
    const p = ipv4Packet('10.244.0.2', '10.244.2.7');
    const v = proxy.fromTun(p);
    expect(v.action).toBe('send');
    if (v.action !== 'send') return;
    expect(v.nodeIP).toBe('192.168.60.10');
    expect(v.packet).toBe(p);
    expect(v.packet[8]).toBe(63);
  });

  it('answers an unowned destination with ICMP net unreachable from the TUN address', () => {
    const v = proxy.fromTun(ipv4Packet('10.244.0.2', '10.244.9.1'));
    expect(v).toMatchObject({ action: 'reply', reason: 'no peer owns 10.244.9.1' });
  });

  it('drops non-IPv4 and expiring packets, passes received datagrams back with TTL − 1', () => {
    expect(proxy.fromTun(new Uint8Array(10)).action).toBe('drop');
    expect(proxy.fromTun(ipv4Packet('10.244.0.2', '10.244.1.3', { ttl: 1 }))).toEqual({
      action: 'drop',
      reason: 'TTL expired for 10.244.1.3',
    });
    expect(proxy.fromUdp(ipv4Packet('10.244.1.3', '10.244.0.2'))?.[8]).toBe(63);
  });

  it('refuses a bad config naming the field', () => {
    expect(() => new UdpProxy({ ...config, peers: [{ podCIDR: 'x', nodeIP: '1.2.3.4' }] })).toThrow(
      'flannel-udp config.peers[0].podCIDR: must be a CIDR, got "x"',
    );
    expect(() => new UdpProxy({ ...config, localIP: 'nope' })).toThrow(PodnetError);
  });
});

/**
 * The forwarding decisions of flannel's UDP proxy, shared by the emulated and the real daemon:
 * a packet read from the TUN goes, whole and without any extra header, as the payload of one UDP
 * datagram to the node that owns its destination subnet; a datagram received goes back into the
 * TUN. Both directions decrement the TTL; a destination no peer owns gets ICMP net unreachable.
 */
import { cidrContains, InvalidArgumentError, isIp, parseCidr } from '@podnet/core';
import { decrementTtl, ipv4Destination, netUnreachable } from './ipv4-packet.js';

/** Configuration of the `flannel-udp` app, as the udp backend renders it. */
export interface FlannelUdpConfig {
  /** TUN device name. */
  tun: string;
  /** UDP port to listen on and to send to on peers. */
  port: number;
  /** This node's underlay address: the socket is bound to it. */
  localIP: string;
  /** The address on the TUN (the node subnet's `.0`): source of the ICMP errors the proxy sends. */
  tunIP: string;
  /** TUN MTU, bytes: the largest packet read. */
  mtu: number;
  /** Every other node: its pod CIDR and underlay address. */
  peers: { podCIDR: string; nodeIP: string }[];
  /** Run face only: an open file descriptor on the TUN device (IFF_TUN | IFF_NO_PI). */
  tunFd?: number;
}

export type TunVerdict =
  | { action: 'send'; nodeIP: string; packet: Uint8Array }
  | { action: 'reply'; packet: Uint8Array; reason: string }
  | { action: 'drop'; reason: string };

export class UdpProxy {
  private readonly routes: { cidr: ReturnType<typeof parseCidr>; nodeIP: string }[];

  constructor(readonly config: FlannelUdpConfig) {
    this.routes = checkConfig(config).peers.map((p) => ({ cidr: parseCidr(p.podCIDR), nodeIP: p.nodeIP }));
  }

  /** A packet the kernel routed into the TUN; a packet to send is `packet` itself, TTL decremented in place. */
  fromTun(packet: Uint8Array): TunVerdict {
    const dst = ipv4Destination(packet);
    if (dst === undefined) return { action: 'drop', reason: `not an IPv4 packet (${packet.length} bytes)` };
    const route = this.routes.find((r) => cidrContains(r.cidr, dst));
    if (!route) {
      const icmp = netUnreachable(packet, this.config.tunIP);
      const reason = `no peer owns ${dst}`;
      return icmp ? { action: 'reply', packet: icmp, reason } : { action: 'drop', reason };
    }
    if (!decrementTtl(packet)) return { action: 'drop', reason: `TTL expired for ${dst}` };
    return { action: 'send', nodeIP: route.nodeIP, packet };
  }

  /** A datagram received on the UDP port: the packet to write into the TUN (TTL − 1, in place), if any. */
  fromUdp(payload: Uint8Array): Uint8Array | undefined {
    return decrementTtl(payload) ? payload : undefined;
  }
}

function checkConfig(config: FlannelUdpConfig): FlannelUdpConfig {
  const bad = (field: string, why: string) => new InvalidArgumentError(`flannel-udp config.${field}`, why);
  if (typeof config !== 'object' || config === null) throw bad('', 'must be an object');
  if (typeof config.tun !== 'string' || config.tun === '') throw bad('tun', 'must be a device name');
  if (!Number.isInteger(config.port) || config.port < 1 || config.port > 65535)
    throw bad('port', `must be 1-65535, got ${config.port}`);
  if (!isIp(config.localIP))
    throw bad('localIP', `must be an IP address, got ${JSON.stringify(config.localIP)}`);
  if (!isIp(config.tunIP)) throw bad('tunIP', `must be an IP address, got ${JSON.stringify(config.tunIP)}`);
  if (!Number.isInteger(config.mtu) || config.mtu < 68)
    throw bad('mtu', `must be an integer of at least 68, got ${config.mtu}`);
  if (!Array.isArray(config.peers)) throw bad('peers', 'must be a list');
  config.peers.forEach((p, i) => {
    if (!isIp(p?.nodeIP))
      throw bad(`peers[${i}].nodeIP`, `must be an IP address, got ${JSON.stringify(p?.nodeIP)}`);
    try {
      parseCidr(p.podCIDR);
    } catch {
      throw bad(`peers[${i}].podCIDR`, `must be a CIDR, got ${JSON.stringify(p.podCIDR)}`);
    }
  });
  return config;
}

/**
 * flannel's udp backend (pkg/backend/udp): a TUN device `flannel0` holding the node subnet's
 * `.0/32`, a route of the whole cluster network into it, and the `flannel-udp` daemon that carries
 * each packet as one UDP datagram to the owning node. flannel documents it as a debugging backend:
 * every packet crosses into userspace twice.
 */
import {
  type DataplaneFragment,
  flannelMasqRules,
  nthAddress,
  type OverlayBackend,
  parseCidr,
  type RenderContext,
  ROOT_NETNS,
  SPECIFICATION_VERSION,
  sortBy,
} from '@podnet/core';
import { FLANNEL_UDP_APP } from './flannel-udp-app.js';
import { resolveUdpOptions, type UdpOptions } from './udp-options.js';
import type { FlannelUdpConfig } from './udp-proxy.js';

/** Outer IPv4 20 + UDP 8: the packet itself is the payload. */
export const UDP_ENCAP_OVERHEAD = 28;
export const TUN_NAME = 'flannel0';

function v4(list: readonly string[]): string | undefined {
  return list.find((x) => !x.includes(':'));
}

export function udp(options: UdpOptions = {}): OverlayBackend {
  const opts = resolveUdpOptions(options);
  return {
    specificationVersion: SPECIFICATION_VERSION,
    kind: 'overlay',
    name: 'udp',
    encapOverhead: UDP_ENCAP_OVERHEAD,
    capabilities: { ipv6: false, crossSubnet: true },
    render(ctx: RenderContext): DataplaneFragment {
      const { node, state } = ctx;
      const subnet = node.podCIDRs.find((c) => parseCidr(c).family === 4);
      const localIP = v4(node.internalIPs);
      const network = state.network.clusterCIDRs.find((c) => parseCidr(c).family === 4);
      if (!subnet || !localIP || !network) return {};
      const mtu = state.network.underlay.mtu - UDP_ENCAP_OVERHEAD;
      const tunIP = nthAddress(subnet, 0);
      const peers: FlannelUdpConfig['peers'] = [];
      for (const peer of sortBy(state.nodes, (n) => n.name)) {
        if (peer.name === node.name) continue;
        const podCIDR = peer.podCIDRs.find((c) => parseCidr(c).family === 4);
        const nodeIP = v4(peer.internalIPs);
        if (podCIDR && nodeIP) peers.push({ podCIDR, nodeIP });
      }
      const config: FlannelUdpConfig = { tun: TUN_NAME, port: opts.port, localIP, tunIP, mtu, peers };
      const fragment: DataplaneFragment = {
        links: [{ kind: 'tun', name: TUN_NAME, netns: ROOT_NETNS, mtu, owner: FLANNEL_UDP_APP }],
        addresses: [{ netns: ROOT_NETNS, dev: TUN_NAME, cidr: `${tunIP}/32` }],
        routes: [{ netns: ROOT_NETNS, dst: parseCidr(network).text, family: 4, dev: TUN_NAME }],
        apps: [{ name: FLANNEL_UDP_APP, netns: ROOT_NETNS, app: FLANNEL_UDP_APP, config }],
      };
      if (opts.ipMasq) fragment.iptables = flannelMasqRules(state.network.clusterCIDRs, node.podCIDRs);
      return fragment;
    },
  };
}

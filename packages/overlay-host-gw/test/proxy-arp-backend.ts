/**
 * A test-only overlay backend written against @podnet/core's public API alone, to show that the
 * contributor path works: it passes the same contract suite as the shipped backends.
 *
 * "proxy-arp": no next-hop routes at all. Each node routes every remote pod CIDR straight onto the
 * uplink (`dev eth0`, scope link), so it ARPs for the remote pod's own address on the underlay
 * segment; the node that hosts the pod answers with its own MAC because it has `proxy_arp` on its
 * uplink and a route to the pod through another device (cni0). Like host-gw it needs one L2
 * segment; unlike host-gw the neighbour table holds one entry per remote pod, not per node.
 */
import {
  type DataplaneFragment,
  flannelMasqRules,
  type OverlayBackend,
  type RenderContext,
  ROOT_NETNS,
  SPECIFICATION_VERSION,
} from '@podnet/core';

export function proxyArp(): OverlayBackend {
  return {
    specificationVersion: SPECIFICATION_VERSION,
    kind: 'overlay',
    name: 'proxy-arp',
    encapOverhead: 0,
    capabilities: { ipv6: false, crossSubnet: false },
    render(ctx: RenderContext): DataplaneFragment {
      const { node, state, uplink } = ctx;
      return {
        routes: state.nodes
          .filter((peer) => peer.name !== node.name && peer.podCIDRs.length > 0)
          .map((peer) => ({ netns: ROOT_NETNS, dst: peer.podCIDRs[0], family: 4 as const, dev: uplink, scope: 'link' as const })),
        sysctls: [{ netns: ROOT_NETNS, key: `net.ipv4.conf.${uplink}.proxy_arp`, value: '1' }],
        iptables: flannelMasqRules(state.network.clusterCIDRs, node.podCIDRs),
      };
    },
  };
}

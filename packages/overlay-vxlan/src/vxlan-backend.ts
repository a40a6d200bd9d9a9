/**
 * flannel's vxlan backend (pkg/backend/vxlan). The device is created with `nolearning` and never
 * floods: for each remote node flannel writes a permanent neighbour entry (remote subnet `.0` →
 * remote VTEP MAC), an FDB entry (VTEP MAC → remote underlay IP) and only then an onlink route via
 * that `.0` address, so the kernel never has to ARP or learn. The local device holds its own
 * subnet's `.0/32`, a source address for node→pod traffic without broadcast routes.
 */
import {
  type DataplaneFragment,
  deterministicMac,
  type FdbEntry,
  flannelMasqRules,
  InvalidArgumentError,
  type Neighbor,
  type NodeInfo,
  nthAddress,
  type OverlayBackend,
  parseCidr,
  type RenderContext,
  ROOT_NETNS,
  type Route,
  SPECIFICATION_VERSION,
  sortBy,
} from '@podnet/core';
import { resolveVxlanOptions, type VxlanOptions } from './vxlan-options.js';

/** VXLAN header 8 + UDP 8 + outer IPv4 20 + inner Ethernet 14. */
export const VXLAN_ENCAP_OVERHEAD = 50;

/** The VTEP MAC flannel publishes in the node's lease (`VtepMAC`); derived from the node name. */
export function vtepMac(node: string, vni: number): string {
  return deterministicMac(`vtep/${node}/flannel.${vni}`);
}

function ipv4Lease(node: NodeInfo): { subnet: string; publicIP: string } | undefined {
  const subnet = node.podCIDRs.find((c) => parseCidr(c).family === 4);
  const publicIP = node.internalIPs.find((ip) => !ip.includes(':'));
  return subnet && publicIP ? { subnet, publicIP } : undefined;
}

export function vxlan(options: VxlanOptions = {}): OverlayBackend {
  const opts = resolveVxlanOptions(options);
  const dev = `flannel.${opts.vni}`;
  return {
    specificationVersion: SPECIFICATION_VERSION,
    kind: 'overlay',
    name: 'vxlan',
    encapOverhead: VXLAN_ENCAP_OVERHEAD,
    capabilities: { ipv6: false, crossSubnet: true },
    render(ctx: RenderContext): DataplaneFragment {
      const { node, state } = ctx;
      const own = ipv4Lease(node);
      if (!own) return {};
      const underlayMtu = state.network.underlay.mtu;
      const maxMtu = underlayMtu - VXLAN_ENCAP_OVERHEAD;
      if (opts.mtu !== undefined && opts.mtu > maxMtu) {
        throw new InvalidArgumentError(
          'vxlan.mtu',
          `${opts.mtu} leaves no room for the ${VXLAN_ENCAP_OVERHEAD}-byte VXLAN header on a ${underlayMtu}-byte underlay (at most ${maxMtu})`,
        );
      }
      const neighbors: Neighbor[] = [];
      const fdb: FdbEntry[] = [];
      const routes: Route[] = [];
      for (const peer of sortBy(state.nodes, (n) => n.name)) {
        if (peer.name === node.name) continue;
        const lease = ipv4Lease(peer);
        if (!lease) continue;
        if (opts.directRouting && peer.underlaySubnet === node.underlaySubnet) {
          routes.push({
            netns: ROOT_NETNS,
            dst: lease.subnet,
            family: 4,
            via: lease.publicIP,
            dev: ctx.uplink,
          });
          continue;
        }
        const gw = nthAddress(lease.subnet, 0);
        const mac = vtepMac(peer.name, opts.vni);
        neighbors.push({ netns: ROOT_NETNS, dev, ip: gw, lladdr: mac, state: 'permanent' });
        fdb.push({ netns: ROOT_NETNS, dev, lladdr: mac, dst: lease.publicIP, permanent: true });
        routes.push({ netns: ROOT_NETNS, dst: lease.subnet, family: 4, via: gw, dev, onlink: true });
      }
      const fragment: DataplaneFragment = {
        links: [
          {
            kind: 'vxlan',
            name: dev,
            netns: ROOT_NETNS,
            vni: opts.vni,
            local: own.publicIP,
            dstport: opts.port,
            learning: false,
            dev: ctx.uplink,
            mtu: opts.mtu ?? maxMtu,
            mac: vtepMac(node.name, opts.vni),
          },
        ],
        addresses: [{ netns: ROOT_NETNS, dev, cidr: `${nthAddress(own.subnet, 0)}/32` }],
        neighbors,
        fdb,
        routes,
      };
      if (opts.ipMasq) fragment.iptables = flannelMasqRules(state.network.clusterCIDRs, node.podCIDRs);
      return fragment;
    },
  };
}

/**
 * flannel's host-gw backend (pkg/backend/hostgw, route_network.go): no encapsulation, a route per
 * remote node's pod CIDR `via` that node's underlay address on the uplink. The next hop must be on
 * the same L2 segment, so the backend declares `crossSubnet: false` and the engine refuses a
 * cluster whose nodes sit on different subnets instead of rendering routes the kernel would reject.
 */
import {
  type DataplaneFragment,
  flannelMasqRules,
  InvalidArgumentError,
  type OverlayBackend,
  parseCidr,
  type RenderContext,
  ROOT_NETNS,
  type Route,
  SPECIFICATION_VERSION,
  sortBy,
} from '@podnet/core';

export interface HostGwOptions {
  /** Install flanneld's `--ip-masq` rules (FLANNEL-POSTRTG, FLANNEL-FWD). @default true */
  ipMasq?: boolean;
}

export function hostGw(options: HostGwOptions = {}): OverlayBackend {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidArgumentError('host-gw', 'options must be an object');
  }
  for (const key of Object.keys(options)) {
    if (key !== 'ipMasq') throw new InvalidArgumentError(`host-gw.${key}`, 'unknown option (known: ipMasq)');
  }
  if (options.ipMasq !== undefined && typeof options.ipMasq !== 'boolean') {
    throw new InvalidArgumentError(
      'host-gw.ipMasq',
      `must be a boolean, got ${JSON.stringify(options.ipMasq)}`,
    );
  }
  const ipMasq = options.ipMasq ?? true;
  return {
    specificationVersion: SPECIFICATION_VERSION,
    kind: 'overlay',
    name: 'host-gw',
    encapOverhead: 0,
    capabilities: { ipv6: false, crossSubnet: false },
    render(ctx: RenderContext): DataplaneFragment {
      const { node, state } = ctx;
      const routes: Route[] = [];
      for (const peer of sortBy(state.nodes, (n) => n.name)) {
        if (peer.name === node.name) continue;
        const subnet = peer.podCIDRs.find((c) => parseCidr(c).family === 4);
        const publicIP = peer.internalIPs.find((ip) => !ip.includes(':'));
        if (!subnet || !publicIP) continue;
        routes.push({ netns: ROOT_NETNS, dst: subnet, family: 4, via: publicIP, dev: ctx.uplink });
      }
      const fragment: DataplaneFragment = { routes };
      if (ipMasq && node.podCIDRs.length > 0)
        fragment.iptables = flannelMasqRules(state.network.clusterCIDRs, node.podCIDRs);
      return fragment;
    },
  };
}

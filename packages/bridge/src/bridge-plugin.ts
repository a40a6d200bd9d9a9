import {
  type Address,
  type DataplaneFragment,
  type Link,
  type Netns,
  type PodNetworkPlugin,
  PodnetError,
  podNetnsName,
  type RenderContext,
  ROOT_NETNS,
  type Route,
  SPECIFICATION_VERSION,
  type Sysctl,
} from '@podnet/core';
import { gatewayCidrs, podAddresses } from './addressing.js';
import { type BridgeOptions, resolveBridgeOptions } from './bridge-options.js';
import { bridgeMac, hostVethMac, POD_IFNAME, podIfMac, vethName } from './cni-names.js';
import { ipMasqRules, type MasqEntry } from './ip-masq.js';

/**
 * The CNI `bridge` plugin as a pod network: per node a bridge holding the gateway address, per pod a
 * namespace joined to it by a veth pair. Pods with `hostNetwork` live in the node's namespace and
 * get nothing.
 */
export function bridge(options: BridgeOptions = {}): PodNetworkPlugin {
  const opts = resolveBridgeOptions(options);
  return {
    specificationVersion: SPECIFICATION_VERSION,
    kind: 'pod-network',
    name: 'bridge',
    bridgeName: opts.bridge,
    render(ctx: RenderContext): DataplaneFragment {
      const { node } = ctx;
      const mtu = opts.mtu ?? ctx.podMtu;
      const namespaces: Netns[] = [];
      const links: Link[] = [
        {
          kind: 'bridge',
          name: opts.bridge,
          netns: ROOT_NETNS,
          mtu,
          mac: bridgeMac(node.name, opts.bridge),
          ...(opts.promiscMode ? { promisc: true } : {}),
        },
      ];
      const addresses: Address[] = [];
      const routes: Route[] = [];
      const gateways = gatewayCidrs(node);
      const families = new Set(gateways.map((g) => g.family));
      const sysctls: Sysctl[] = [];
      if (opts.isGateway) {
        for (const g of gateways) addresses.push({ netns: ROOT_NETNS, dev: opts.bridge, cidr: g.cidr });
        if (families.has(4)) sysctls.push({ netns: ROOT_NETNS, key: 'net.ipv4.ip_forward', value: '1' });
        if (families.has(6))
          sysctls.push({ netns: ROOT_NETNS, key: 'net.ipv6.conf.all.forwarding', value: '1' });
      }
      // kube-proxy needs bridged pod-to-pod frames to traverse iptables (br_netfilter).
      sysctls.push({ netns: ROOT_NETNS, key: 'net.bridge.bridge-nf-call-iptables', value: '1' });
      if (families.has(6))
        sysctls.push({ netns: ROOT_NETNS, key: 'net.bridge.bridge-nf-call-ip6tables', value: '1' });

      const masq: MasqEntry[] = [];
      const vethOwners = new Map<string, string>();
      for (const pod of ctx.pods) {
        if (pod.hostNetwork) continue;
        const netns = podNetnsName(pod);
        const host = vethName(pod);
        const other = vethOwners.get(host);
        if (other !== undefined) {
          throw new PodnetError(
            'PODNET_PLAN_CONFLICT',
            `node ${node.name}: pods ${other} and ${netns} hash to the same host veth name ${host}; rename one of them`,
          );
        }
        vethOwners.set(host, netns);
        const addrs = podAddresses(pod, node);
        namespaces.push({ name: netns, kind: 'pod', pod: { namespace: pod.namespace, name: pod.name } });
        links.push(
          { kind: 'loopback', name: 'lo', netns, mtu: 65536 },
          {
            kind: 'veth',
            name: host,
            netns: ROOT_NETNS,
            mtu,
            mac: hostVethMac(pod),
            master: opts.bridge,
            hairpin: opts.hairpinMode,
            peer: { name: POD_IFNAME, netns, mtu, mac: podIfMac(pod) },
          },
        );
        addresses.push({ netns, dev: 'lo', cidr: '127.0.0.1/8', scope: 'host' });
        if (addrs.some((a) => a.family === 6))
          addresses.push({ netns, dev: 'lo', cidr: '::1/128', scope: 'host' });
        for (const a of addrs) addresses.push({ netns, dev: POD_IFNAME, cidr: a.cidr });
        for (const a of addrs) {
          if (opts.isDefaultGateway) {
            routes.push({ netns, dst: 'default', family: a.family, via: a.gateway, dev: POD_IFNAME });
          } else if (opts.isGateway) {
            // flannel's CNI delegate routes the cluster network via the gateway when it is not the default.
            for (const c of ctx.state.network.clusterCIDRs) {
              if (c.includes(':') === (a.family === 6))
                routes.push({ netns, dst: c, family: a.family, via: a.gateway, dev: POD_IFNAME });
            }
          }
        }
        sysctls.push({ netns, key: `net.ipv4.conf.${POD_IFNAME}.arp_notify`, value: '1' });
        if (opts.ipMasq) masq.push({ pod, addresses: addrs });
      }
      const fragment: DataplaneFragment = { namespaces, links, addresses, routes, sysctls };
      if (masq.length > 0) fragment.iptables = ipMasqRules(opts.name, masq);
      return fragment;
    },
  };
}

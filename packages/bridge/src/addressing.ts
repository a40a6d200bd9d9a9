import { cidrContains, InvalidArgumentError, ipFamily, nthAddress, parseCidr } from '@podnet/core';
import type { NodeInfo, PodInfo } from '@podnet/core';

/** One of a pod's addresses with what the bridge plugin derives from it. */
export interface PodAddress {
  family: 4 | 6;
  ip: string;
  /** The pod address with the node pod CIDR's prefix: `10.244.1.2/24`. */
  cidr: string;
  /** The node's pod CIDR it belongs to: `10.244.1.0/24`. */
  subnet: string;
  /** The plugin's gateway: the first address of the subnet (`calcGatewayIP`). */
  gateway: string;
  prefix: number;
}

/** The gateway of each of the node's pod CIDRs, with its prefix: `10.244.1.1/24`. */
export function gatewayCidrs(node: NodeInfo): { family: 4 | 6; cidr: string; gateway: string }[] {
  return node.podCIDRs.map((c) => {
    const p = parseCidr(c);
    const gateway = nthAddress(p, 1);
    return { family: p.family, cidr: `${gateway}/${p.prefix}`, gateway };
  });
}

export function podAddresses(pod: PodInfo, node: NodeInfo): PodAddress[] {
  return pod.ips.map((ip, i) => {
    const subnet = node.podCIDRs.map((c) => parseCidr(c)).find((c) => cidrContains(c, ip));
    if (!subnet) {
      throw new InvalidArgumentError(
        `pod ${pod.namespace}/${pod.name}: ips[${i}]`,
        `${ip} is outside node ${node.name}'s pod CIDRs (${node.podCIDRs.join(', ') || 'none'})`,
      );
    }
    const gateway = nthAddress(subnet, 1);
    if (gateway === ip) {
      throw new InvalidArgumentError(
        `pod ${pod.namespace}/${pod.name}: ips[${i}]`,
        `${ip} is the gateway address of ${subnet.text}, which the bridge holds`,
      );
    }
    return {
      family: ipFamily(ip),
      ip,
      cidr: `${ip}/${subnet.prefix}`,
      subnet: subnet.text,
      gateway,
      prefix: subnet.prefix,
    };
  });
}

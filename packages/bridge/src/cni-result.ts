/**
 * The result the CNI bridge plugin prints for ADD (containernetworking/cni SPEC.md, "Success"),
 * for the addresses and names this package renders.
 */
import type { NodeInfo, PodInfo } from '@podnet/core';
import { InvalidArgumentError } from '@podnet/core';
import { podAddresses } from './addressing.js';
import { type BridgeOptions, resolveBridgeOptions } from './bridge-options.js';
import { bridgeMac, hostVethMac, POD_IFNAME, podIfMac, sandboxPath, vethName } from './cni-names.js';

export interface CniInterface {
  name: string;
  mac: string;
  /** Only for interfaces inside the container: its netns path. */
  sandbox?: string;
}

export interface CniIpConfig {
  address: string;
  gateway?: string;
  /** Index into `interfaces`. */
  interface: number;
}

export interface CniRoute {
  dst: string;
  gw?: string;
}

export interface CniDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface CniResult {
  cniVersion: string;
  interfaces: CniInterface[];
  ips: CniIpConfig[];
  routes: CniRoute[];
  dns: CniDns;
}

export interface CniResultOptions extends BridgeOptions {
  /** The container's netns path. @default `/var/run/netns/cni-<uuid derived from the pod UID>` */
  sandbox?: string;
  /** The result's version. @default '1.0.0' */
  cniVersion?: string;
}

/**
 * The ADD result for `pod` on `node`: interfaces `[bridge, host veth, container eth0]`, the pod's
 * addresses (interface index 2, the gateway when `isGateway`), the default routes when
 * `isDefaultGateway`, and an empty `dns` (the plugin prints `{}` when IPAM returns none).
 */
export function cniResult(pod: PodInfo, node: NodeInfo, options: CniResultOptions = {}): CniResult {
  const { sandbox, cniVersion, ...bridgeOptions } = options;
  const opts = resolveBridgeOptions(bridgeOptions);
  if (pod.hostNetwork) {
    throw new InvalidArgumentError(
      `pod ${pod.namespace}/${pod.name}`,
      'is a hostNetwork pod: the runtime does not call CNI for it',
    );
  }
  if (pod.node !== node.name) {
    throw new InvalidArgumentError(
      `pod ${pod.namespace}/${pod.name}`,
      `is scheduled on ${pod.node}, not on ${node.name}`,
    );
  }
  const addrs = podAddresses(pod, node);
  const routes: CniRoute[] = [];
  if (opts.isDefaultGateway) {
    for (const family of [4, 6] as const) {
      const first = addrs.find((a) => a.family === family);
      if (first) routes.push({ dst: family === 4 ? '0.0.0.0/0' : '::/0', gw: first.gateway });
    }
  }
  return {
    cniVersion: cniVersion ?? '1.0.0',
    interfaces: [
      { name: opts.bridge, mac: bridgeMac(node.name, opts.bridge) },
      { name: vethName(pod), mac: hostVethMac(pod) },
      { name: POD_IFNAME, mac: podIfMac(pod), sandbox: sandbox ?? sandboxPath(pod) },
    ],
    ips: addrs.map((a) => ({
      address: a.cidr,
      ...(opts.isGateway ? { gateway: a.gateway } : {}),
      interface: 2,
    })),
    routes,
    dns: {},
  };
}

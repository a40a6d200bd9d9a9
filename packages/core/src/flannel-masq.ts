/**
 * The masquerade and forward rules flanneld installs with `--ip-masq` (flannel-io/flannel
 * pkg/trafficmngr/iptables, golden set in e2e/rules.go). Every overlay backend renders them, so
 * they live here rather than in one overlay package (overlays never depend on each other).
 */
import { InvalidArgumentError } from './errors.js';
import { parseCidr } from './ip.js';

/** kube-proxy's masquerade mark: packets it will SNAT itself are left alone. */
export const KUBE_PROXY_MASQ_MARK = '0x4000/0x4000';

export interface FlannelMasqOptions {
  /** Add `--random-fully` to the MASQUERADE rules (flanneld's default when iptables supports it). @default true */
  randomFully?: boolean;
  /** Also render the filter `FLANNEL-FWD` chain (flanneld's `--iptables-forward-rules`). @default true */
  forwardRules?: boolean;
}

/**
 * `iptables-restore --noflush` text per family: nat `FLANNEL-POSTRTG` (jumped from POSTROUTING,
 * comment "flanneld masq") and filter `FLANNEL-FWD` (from FORWARD, "flanneld forward").
 * `clusterCIDRs` is flannel's `Network`/`IPv6Network` (one per family), `podCIDRs` the node's lease.
 */
export function flannelMasqRules(
  clusterCIDRs: readonly string[],
  podCIDRs: readonly string[],
  options: FlannelMasqOptions = {},
): { ipv4: string; ipv6: string } {
  const out = { ipv4: '', ipv6: '' };
  for (const family of [4, 6] as const) {
    const networks = clusterCIDRs.map((c) => parseCidr(c)).filter((c) => c.family === family);
    const leases = podCIDRs.map((c) => parseCidr(c)).filter((c) => c.family === family);
    if (networks.length === 0 && leases.length === 0) continue;
    if (networks.length !== 1) {
      throw new InvalidArgumentError(
        'clusterCIDRs',
        `flannel masquerading needs exactly one IPv${family} cluster CIDR, got ${networks.length} (${clusterCIDRs.join(', ')})`,
      );
    }
    if (leases.length !== 1) {
      throw new InvalidArgumentError(
        'podCIDRs',
        `flannel masquerading needs exactly one IPv${family} pod CIDR for the node, got ${leases.length} (${podCIDRs.join(', ')})`,
      );
    }
    const text = renderFamily(networks[0].text, leases[0].text, family, options);
    if (family === 4) out.ipv4 = text;
    else out.ipv6 = text;
  }
  return out;
}

function renderFamily(network: string, lease: string, family: 4 | 6, options: FlannelMasqOptions): string {
  const masq = '-m comment --comment "flanneld masq"';
  const fwd = '-m comment --comment "flanneld forward"';
  const masquerade = options.randomFully === false ? 'MASQUERADE' : 'MASQUERADE --random-fully';
  const multicast = family === 4 ? '224.0.0.0/4' : 'ff00::/8';
  const lines = [
    '*nat',
    ':FLANNEL-POSTRTG - [0:0]',
    `-A POSTROUTING ${masq} -j FLANNEL-POSTRTG`,
    `-A FLANNEL-POSTRTG -m mark --mark ${KUBE_PROXY_MASQ_MARK} ${masq} -j RETURN`,
    `-A FLANNEL-POSTRTG -s ${lease} -d ${network} ${masq} -j RETURN`,
    `-A FLANNEL-POSTRTG -s ${network} -d ${lease} ${masq} -j RETURN`,
    `-A FLANNEL-POSTRTG ! -s ${network} -d ${lease} ${masq} -j RETURN`,
    `-A FLANNEL-POSTRTG -s ${network} ! -d ${multicast} ${masq} -j ${masquerade}`,
    `-A FLANNEL-POSTRTG ! -s ${network} -d ${network} ${masq} -j ${masquerade}`,
    'COMMIT',
  ];
  if (options.forwardRules !== false) {
    lines.push(
      '*filter',
      ':FLANNEL-FWD - [0:0]',
      `-A FORWARD ${fwd} -j FLANNEL-FWD`,
      `-A FLANNEL-FWD -s ${network} ${fwd} -j ACCEPT`,
      `-A FLANNEL-FWD -d ${network} ${fwd} -j ACCEPT`,
      'COMMIT',
    );
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Options of the nftables proxy under KubeProxyConfiguration field names, validated the same way
 * whether they come from `nftablesProxy(options)` or from `ClusterNetwork.spec.proxy`. The fields
 * every mode shares are validated and resolved by @podnet/core's kube-proxy-config.
 */
import {
  type IpFamily,
  KUBE_PROXY_CONFIG_PATH,
  type KubeProxyCommonOptions,
  type KubeProxyModeSchema,
  type LocalTraffic,
  type RenderContext,
  resolveKubeProxyConfig,
  validateKubeProxyConfig,
} from '@podnet/core';

export type { DetectLocalMode } from '@podnet/core';

export interface NftablesProxyOptions extends KubeProxyCommonOptions {
  /** CIDRs, or `primary` (the node's InternalIPs), of node addresses that accept NodePort traffic; `0.0.0.0/0` for every local address. @default ['primary'] (kube-proxy's nftables-mode default, also for []) */
  nodePortAddresses?: string[];
  nftables?: {
    /** Overrides the top-level masqueradeAll. */
    masqueradeAll?: boolean;
    /** Overrides the top-level masqueradeBit. */
    masqueradeBit?: number;
    syncPeriod?: string;
    minSyncPeriod?: string;
  };
}

const SCHEMA: KubeProxyModeSchema = {
  section: 'nftables',
  sections: {
    nftables: { masqueradeAll: 'boolean', masqueradeBit: 'bit', syncPeriod: 'any', minSyncPeriod: 'any' },
  },
  ignored: ['ipvs', 'iptables', 'conntrack'],
};

/** Validates factory options (errors name them as ClusterNetwork.spec.proxy fields). */
export function validateOptions(raw: unknown): NftablesProxyOptions {
  return validateKubeProxyConfig<NftablesProxyOptions>(raw, KUBE_PROXY_CONFIG_PATH, SCHEMA);
}

/** kube-proxy's LocalTrafficDetector for one family, as nft match words. */
export interface LocalDetector {
  ifLocal: string;
  ifNotLocal: string;
}

export interface ResolvedOptions {
  /** Go's `%#08x` of 1<<masqueradeBit, as kube-proxy prints it: `0x00004000`. */
  masqueradeMark: string;
  masqueradeAll: boolean;
  /** Raw nodePortAddresses (`primary` resolved per family by the writer). */
  nodePortAddresses: string[];
  detectLocal: Record<IpFamily, LocalDetector | undefined>;
}

function detector(local: LocalTraffic | undefined, family: IpFamily): LocalDetector | undefined {
  if (local === undefined) return undefined;
  if (local.by === 'cidr') {
    const ipX = family === 4 ? 'ip' : 'ip6';
    return { ifLocal: `${ipX} saddr ${local.cidr}`, ifNotLocal: `${ipX} saddr != ${local.cidr}` };
  }
  const name = local.prefix ? `${local.name}*` : local.name;
  return { ifLocal: `iifname ${name}`, ifNotLocal: `iifname != ${name}` };
}

export function resolveOptions(factory: NftablesProxyOptions, ctx: RenderContext): ResolvedOptions {
  const {
    options: o,
    masqueradeMark,
    masqueradeAll,
    localTraffic,
  } = resolveKubeProxyConfig(factory, ctx, SCHEMA);
  return {
    masqueradeMark,
    masqueradeAll,
    // kube-proxy's nftables mode turns an empty --nodeport-addresses into `primary`.
    nodePortAddresses: o.nodePortAddresses?.length ? o.nodePortAddresses : ['primary'],
    detectLocal: { 4: detector(localTraffic[4], 4), 6: detector(localTraffic[6], 6) },
  };
}

/**
 * Options of the iptables proxy under KubeProxyConfiguration field names, validated the same way
 * whether they come from `iptablesProxy(options)` or from `ClusterNetwork.spec.proxy`. The fields
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

export interface IptablesProxyOptions extends KubeProxyCommonOptions {
  iptables?: {
    /** Overrides the top-level masqueradeAll. */
    masqueradeAll?: boolean;
    /** Overrides the top-level masqueradeBit. */
    masqueradeBit?: number;
    /** Accept NodePort connections to 127.0.0.0/8 (needs route_localnet; IPv4 only). @default true */
    localhostNodePorts?: boolean;
    syncPeriod?: string;
    minSyncPeriod?: string;
  };
  /** Only `tcpBeLiberal` changes the rules: with it kube-proxy installs no INVALID-state DROP. */
  conntrack?: { tcpBeLiberal?: boolean; [field: string]: unknown };
  /** What kube-proxy probes on the host (not KubeProxyConfiguration fields). */
  host?: {
    /** iptables supports `MASQUERADE --random-fully`. @default true */
    randomFully?: boolean;
    /** kube-proxy's nfacct counters exist (adds `-m nfacct` matches). @default false */
    nfacct?: boolean;
  };
}

const SCHEMA: KubeProxyModeSchema = {
  section: 'iptables',
  sections: {
    iptables: {
      masqueradeAll: 'boolean',
      masqueradeBit: 'bit',
      localhostNodePorts: 'boolean',
      syncPeriod: 'any',
      minSyncPeriod: 'any',
    },
    conntrack: {
      maxPerCore: 'any',
      min: 'any',
      tcpEstablishedTimeout: 'any',
      tcpCloseWaitTimeout: 'any',
      tcpBeLiberal: 'boolean',
      udpTimeout: 'any',
      udpStreamTimeout: 'any',
    },
    host: { randomFully: 'boolean', nfacct: 'boolean' },
  },
  ignored: ['ipvs', 'nftables'],
};

/** Validates factory options (errors name them as ClusterNetwork.spec.proxy fields). */
export function validateOptions(raw: unknown): IptablesProxyOptions {
  return validateKubeProxyConfig<IptablesProxyOptions>(raw, KUBE_PROXY_CONFIG_PATH, SCHEMA);
}

/** kube-proxy's LocalTrafficDetector for one family: the iptables match words. */
export interface LocalDetector {
  ifLocal: string;
  ifNotLocal: string;
}

/** Everything the rule writer needs, per family. */
export interface ResolvedOptions {
  /** Go's `%#08x` of 1<<masqueradeBit, as kube-proxy prints it: `0x00004000`. */
  masqueradeMark: string;
  masqueradeAll: boolean;
  localhostNodePorts: boolean;
  tcpBeLiberal: boolean;
  randomFully: boolean;
  nfacct: boolean;
  /** Raw nodePortAddresses (`primary` resolved per family by the writer). */
  nodePortAddresses: string[];
  detectLocal: Record<IpFamily, LocalDetector | undefined>;
}

function detector(local: LocalTraffic | undefined): LocalDetector | undefined {
  if (local === undefined) return undefined;
  if (local.by === 'cidr') return { ifLocal: `-s ${local.cidr}`, ifNotLocal: `! -s ${local.cidr}` };
  const name = local.prefix ? `${local.name}+` : local.name;
  return { ifLocal: `-i ${name}`, ifNotLocal: `! -i ${name}` };
}

export function resolveOptions(factory: IptablesProxyOptions, ctx: RenderContext): ResolvedOptions {
  const {
    options: o,
    masqueradeMark,
    masqueradeAll,
    localTraffic,
  } = resolveKubeProxyConfig(factory, ctx, SCHEMA);
  return {
    masqueradeMark,
    masqueradeAll,
    localhostNodePorts: o.iptables?.localhostNodePorts ?? true,
    tcpBeLiberal: o.conntrack?.tcpBeLiberal === true,
    randomFully: o.host?.randomFully ?? true,
    nfacct: o.host?.nfacct ?? false,
    nodePortAddresses: o.nodePortAddresses ?? [],
    detectLocal: { 4: detector(localTraffic[4]), 6: detector(localTraffic[6]) },
  };
}

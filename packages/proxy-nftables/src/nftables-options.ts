/**
 * Options of the nftables proxy under KubeProxyConfiguration field names, validated the same way
 * whether they come from `nftablesProxy(options)` or from `ClusterNetwork.spec.proxy`.
 */
import {
  type IpFamily,
  InvalidArgumentError,
  isCidr,
  type NodeInfo,
  parseCidr,
  type RenderContext,
} from '@podnet/core';

export type DetectLocalMode = 'ClusterCIDR' | 'NodeCIDR' | 'BridgeInterface' | 'InterfaceNamePrefix';

export interface NftablesProxyOptions {
  /** Bit of the packet mark that flags connections for SNAT (`mark-for-masquerade`), 0-31. @default 14 */
  masqueradeBit?: number;
  /** SNAT every connection to a ClusterIP, not only those from outside the pod network. @default false */
  masqueradeAll?: boolean;
  /** Pod network CIDRs, comma separated, one per family (detectLocalMode ClusterCIDR). @default ClusterNetwork.spec.clusterCIDRs */
  clusterCIDR?: string;
  /** How pod traffic is told from other traffic. @default 'ClusterCIDR' */
  detectLocalMode?: DetectLocalMode;
  /** Interface names for the BridgeInterface and InterfaceNamePrefix modes. */
  detectLocal?: { bridgeInterface?: string; interfaceNamePrefix?: string };
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

/** Fields of KubeProxyConfiguration that are accepted and have no effect on the rendered rules. */
const IGNORED = new Set([
  'apiVersion',
  'kind',
  'mode',
  'featureGates',
  'clientConnection',
  'logging',
  'hostnameOverride',
  'bindAddress',
  'healthzBindAddress',
  'metricsBindAddress',
  'bindAddressHardFail',
  'enableProfiling',
  'showHiddenMetricsForVersion',
  'iptables',
  'ipvs',
  'winkernel',
  'linux',
  'conntrack',
  'oomScoreAdj',
  'configSyncPeriod',
  'portRange',
  'syncPeriod',
  'minSyncPeriod',
]);
const MODES: readonly DetectLocalMode[] = [
  'ClusterCIDR',
  'NodeCIDR',
  'BridgeInterface',
  'InterfaceNamePrefix',
];

/** Where options from the cluster document are reported. */
export const STATE_PATH = 'ClusterNetwork.spec.proxy';

function bad(path: string, message: string): never {
  throw new InvalidArgumentError(path, message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkBool(v: unknown, path: string): void {
  if (v !== undefined && typeof v !== 'boolean') bad(path, `must be true or false, got ${JSON.stringify(v)}`);
}

function checkBit(v: unknown, path: string): void {
  if (v !== undefined && !(Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 31)) {
    bad(path, `must be 0-31, got ${JSON.stringify(v)}`);
  }
}

function checkString(v: unknown, path: string): void {
  if (v !== undefined && typeof v !== 'string') bad(path, `must be a string, got ${JSON.stringify(v)}`);
}

function checkKeys(o: Record<string, unknown>, known: ReadonlySet<string>, path: string): void {
  for (const k of Object.keys(o)) if (!known.has(k)) bad(`${path}.${k}`, 'unknown field');
}

/** Validates raw options (factory argument or ClusterNetwork.spec.proxy); `path` names their origin. */
export function validateOptions(raw: unknown, path: string): NftablesProxyOptions {
  if (raw === undefined) return {};
  if (!isObject(raw)) bad(path, 'must be a mapping');
  const known = new Set([
    ...IGNORED,
    'masqueradeBit',
    'masqueradeAll',
    'clusterCIDR',
    'detectLocalMode',
    'detectLocal',
    'nodePortAddresses',
    'nftables',
  ]);
  checkKeys(raw, known, path);
  checkBit(raw.masqueradeBit, `${path}.masqueradeBit`);
  checkBool(raw.masqueradeAll, `${path}.masqueradeAll`);
  checkString(raw.clusterCIDR, `${path}.clusterCIDR`);
  if (typeof raw.clusterCIDR === 'string' && raw.clusterCIDR.trim() !== '') {
    const seen = new Set<IpFamily>();
    for (const c of raw.clusterCIDR.split(',')) {
      if (!isCidr(c.trim())) bad(`${path}.clusterCIDR`, `"${c}" is not a CIDR`);
      const family = parseCidr(c.trim()).family;
      if (seen.has(family)) bad(`${path}.clusterCIDR`, `more than one IPv${family} CIDR`);
      seen.add(family);
    }
  }
  if (
    raw.detectLocalMode !== undefined &&
    raw.detectLocalMode !== '' &&
    !MODES.includes(raw.detectLocalMode as DetectLocalMode)
  ) {
    bad(
      `${path}.detectLocalMode`,
      `must be one of ${MODES.join(', ')}, got ${JSON.stringify(raw.detectLocalMode)}`,
    );
  }
  if (raw.detectLocal !== undefined) {
    if (!isObject(raw.detectLocal)) bad(`${path}.detectLocal`, 'must be a mapping');
    checkKeys(raw.detectLocal, new Set(['bridgeInterface', 'interfaceNamePrefix']), `${path}.detectLocal`);
    checkString(raw.detectLocal.bridgeInterface, `${path}.detectLocal.bridgeInterface`);
    checkString(raw.detectLocal.interfaceNamePrefix, `${path}.detectLocal.interfaceNamePrefix`);
  }
  if (raw.nodePortAddresses !== undefined) {
    if (!Array.isArray(raw.nodePortAddresses)) bad(`${path}.nodePortAddresses`, 'must be a list of CIDRs');
    raw.nodePortAddresses.forEach((a, i) => {
      if (a !== 'primary' && (typeof a !== 'string' || !isCidr(a))) {
        bad(`${path}.nodePortAddresses[${i}]`, `${JSON.stringify(a)} is not a CIDR or "primary"`);
      }
    });
  }
  if (raw.nftables !== undefined) {
    const p = `${path}.nftables`;
    if (!isObject(raw.nftables)) bad(p, 'must be a mapping');
    checkKeys(raw.nftables, new Set(['masqueradeAll', 'masqueradeBit', 'syncPeriod', 'minSyncPeriod']), p);
    checkBool(raw.nftables.masqueradeAll, `${p}.masqueradeAll`);
    checkBit(raw.nftables.masqueradeBit, `${p}.masqueradeBit`);
  }
  const mode = (raw.detectLocalMode || 'ClusterCIDR') as DetectLocalMode;
  const dl = (raw.detectLocal ?? {}) as { bridgeInterface?: string; interfaceNamePrefix?: string };
  if (mode === 'BridgeInterface' && !dl.bridgeInterface) {
    bad(`${path}.detectLocal.bridgeInterface`, 'required when detectLocalMode is BridgeInterface');
  }
  if (mode === 'InterfaceNamePrefix' && !dl.interfaceNamePrefix) {
    bad(`${path}.detectLocal.interfaceNamePrefix`, 'required when detectLocalMode is InterfaceNamePrefix');
  }
  return raw as NftablesProxyOptions;
}

/** Cluster-document options merged over factory options (one level deep for the nested sections). */
export function mergeOptions(base: NftablesProxyOptions, over: NftablesProxyOptions): NftablesProxyOptions {
  const out: Record<string, unknown> = { ...base, ...over };
  for (const k of ['nftables', 'detectLocal'] as const) {
    if (base[k] !== undefined || over[k] !== undefined) out[k] = { ...base[k], ...over[k] };
  }
  return out as NftablesProxyOptions;
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

function detector(
  mode: DetectLocalMode,
  o: NftablesProxyOptions,
  family: IpFamily,
  clusterCIDRs: string[],
  node: NodeInfo,
) {
  const ipX = family === 4 ? 'ip' : 'ip6';
  const cidrOf = (list: string[]) => list.find((c) => isCidr(c) && parseCidr(c).family === family);
  const bySource = (cidr: string | undefined) =>
    cidr === undefined
      ? undefined
      : { ifLocal: `${ipX} saddr ${cidr}`, ifNotLocal: `${ipX} saddr != ${cidr}` };
  switch (mode) {
    case 'BridgeInterface': {
      const name = o.detectLocal?.bridgeInterface as string;
      return { ifLocal: `iifname ${name}`, ifNotLocal: `iifname != ${name}` };
    }
    case 'InterfaceNamePrefix': {
      const name = `${o.detectLocal?.interfaceNamePrefix}*`;
      return { ifLocal: `iifname ${name}`, ifNotLocal: `iifname != ${name}` };
    }
    case 'NodeCIDR':
      return bySource(cidrOf(node.podCIDRs));
    case 'ClusterCIDR':
      return bySource(cidrOf(clusterCIDRs));
  }
}

/** Go's fmt.Sprintf("%#08x", v): `0x` and at least eight hex digits. */
export function goHexMark(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}

export function resolveOptions(factory: NftablesProxyOptions, ctx: RenderContext): ResolvedOptions {
  const { mode: _mode, ...fromState } = ctx.state.network.proxy;
  const o = mergeOptions(factory, validateOptions(fromState, STATE_PATH));
  const clusterCIDRs =
    o.clusterCIDR !== undefined && o.clusterCIDR.trim() !== ''
      ? o.clusterCIDR.split(',').map((c) => c.trim())
      : [...ctx.state.network.clusterCIDRs];
  const mode = (o.detectLocalMode || 'ClusterCIDR') as DetectLocalMode;
  return {
    masqueradeMark: goHexMark(2 ** (o.nftables?.masqueradeBit ?? o.masqueradeBit ?? 14)),
    masqueradeAll: o.nftables?.masqueradeAll ?? o.masqueradeAll ?? false,
    // kube-proxy's nftables mode turns an empty --nodeport-addresses into `primary`.
    nodePortAddresses: o.nodePortAddresses?.length ? o.nodePortAddresses : ['primary'],
    detectLocal: {
      4: detector(mode, o, 4, clusterCIDRs, ctx.node),
      6: detector(mode, o, 6, clusterCIDRs, ctx.node),
    },
  };
}

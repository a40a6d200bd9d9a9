/**
 * Options of the iptables proxy under KubeProxyConfiguration field names, validated the same way
 * whether they come from `iptablesProxy(options)` or from `ClusterNetwork.spec.proxy`.
 */
import {
  type IpFamily,
  InvalidArgumentError,
  isCidr,
  parseCidr,
  type NodeInfo,
  type RenderContext,
} from '@podnet/core';

export type DetectLocalMode = 'ClusterCIDR' | 'NodeCIDR' | 'BridgeInterface' | 'InterfaceNamePrefix';

export interface IptablesProxyOptions {
  /** Bit of the packet mark that flags connections for SNAT (`KUBE-MARK-MASQ`), 0-31. @default 14 */
  masqueradeBit?: number;
  /** SNAT every connection to a ClusterIP, not only those from outside the pod network. @default false */
  masqueradeAll?: boolean;
  /** Pod network CIDRs, comma separated, one per family (detectLocalMode ClusterCIDR). @default ClusterNetwork.spec.clusterCIDRs */
  clusterCIDR?: string;
  /** How pod traffic is told from other traffic. @default 'ClusterCIDR' */
  detectLocalMode?: DetectLocalMode;
  /** Interface names for the BridgeInterface and InterfaceNamePrefix modes. */
  detectLocal?: { bridgeInterface?: string; interfaceNamePrefix?: string };
  /** CIDRs (or `primary`: the node's InternalIPs) of node addresses that accept NodePort traffic. @default [] (every local address) */
  nodePortAddresses?: string[];
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
  'ipvs',
  'nftables',
  'winkernel',
  'linux',
  'oomScoreAdj',
  'configSyncPeriod',
  'portRange',
  'syncPeriod',
  'minSyncPeriod',
]);
const CONNTRACK = new Set([
  'maxPerCore',
  'min',
  'tcpEstablishedTimeout',
  'tcpCloseWaitTimeout',
  'tcpBeLiberal',
  'udpTimeout',
  'udpStreamTimeout',
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
export function validateOptions(raw: unknown, path: string): IptablesProxyOptions {
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
    'iptables',
    'conntrack',
    'host',
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
  if (raw.iptables !== undefined) {
    const p = `${path}.iptables`;
    if (!isObject(raw.iptables)) bad(p, 'must be a mapping');
    checkKeys(
      raw.iptables,
      new Set(['masqueradeAll', 'masqueradeBit', 'localhostNodePorts', 'syncPeriod', 'minSyncPeriod']),
      p,
    );
    checkBool(raw.iptables.masqueradeAll, `${p}.masqueradeAll`);
    checkBit(raw.iptables.masqueradeBit, `${p}.masqueradeBit`);
    checkBool(raw.iptables.localhostNodePorts, `${p}.localhostNodePorts`);
  }
  if (raw.conntrack !== undefined) {
    if (!isObject(raw.conntrack)) bad(`${path}.conntrack`, 'must be a mapping');
    checkKeys(raw.conntrack, CONNTRACK, `${path}.conntrack`);
    checkBool(raw.conntrack.tcpBeLiberal, `${path}.conntrack.tcpBeLiberal`);
  }
  if (raw.host !== undefined) {
    if (!isObject(raw.host)) bad(`${path}.host`, 'must be a mapping');
    checkKeys(raw.host, new Set(['randomFully', 'nfacct']), `${path}.host`);
    checkBool(raw.host.randomFully, `${path}.host.randomFully`);
    checkBool(raw.host.nfacct, `${path}.host.nfacct`);
  }
  const mode = (raw.detectLocalMode || 'ClusterCIDR') as DetectLocalMode;
  const dl = (raw.detectLocal ?? {}) as { bridgeInterface?: string; interfaceNamePrefix?: string };
  if (mode === 'BridgeInterface' && !dl.bridgeInterface) {
    bad(`${path}.detectLocal.bridgeInterface`, 'required when detectLocalMode is BridgeInterface');
  }
  if (mode === 'InterfaceNamePrefix' && !dl.interfaceNamePrefix) {
    bad(`${path}.detectLocal.interfaceNamePrefix`, 'required when detectLocalMode is InterfaceNamePrefix');
  }
  return raw as IptablesProxyOptions;
}

/** Cluster-document options merged over factory options (one level deep for the nested sections). */
export function mergeOptions(base: IptablesProxyOptions, over: IptablesProxyOptions): IptablesProxyOptions {
  const out: Record<string, unknown> = { ...base, ...over };
  for (const k of ['iptables', 'conntrack', 'host', 'detectLocal'] as const) {
    if (base[k] !== undefined || over[k] !== undefined) out[k] = { ...base[k], ...over[k] };
  }
  return out as IptablesProxyOptions;
}

/** kube-proxy's LocalTrafficDetector for one family: the iptables match words, or none. */
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

function detector(
  mode: DetectLocalMode,
  o: IptablesProxyOptions,
  family: IpFamily,
  clusterCIDRs: string[],
  node: NodeInfo,
) {
  const cidrOf = (list: string[]) => list.find((c) => isCidr(c) && parseCidr(c).family === family);
  switch (mode) {
    case 'BridgeInterface': {
      const name = o.detectLocal?.bridgeInterface as string;
      return { ifLocal: `-i ${name}`, ifNotLocal: `! -i ${name}` };
    }
    case 'InterfaceNamePrefix': {
      const name = `${o.detectLocal?.interfaceNamePrefix}+`;
      return { ifLocal: `-i ${name}`, ifNotLocal: `! -i ${name}` };
    }
    case 'NodeCIDR': {
      const cidr = cidrOf(node.podCIDRs);
      return cidr === undefined ? undefined : { ifLocal: `-s ${cidr}`, ifNotLocal: `! -s ${cidr}` };
    }
    case 'ClusterCIDR': {
      const cidr = cidrOf(clusterCIDRs);
      return cidr === undefined ? undefined : { ifLocal: `-s ${cidr}`, ifNotLocal: `! -s ${cidr}` };
    }
  }
}

/** Go's fmt.Sprintf("%#08x", v): `0x` and at least eight hex digits. */
export function goHexMark(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}

export function resolveOptions(factory: IptablesProxyOptions, ctx: RenderContext): ResolvedOptions {
  const { mode: _mode, ...fromState } = ctx.state.network.proxy;
  const o = mergeOptions(factory, validateOptions(fromState, STATE_PATH));
  const clusterCIDRs =
    o.clusterCIDR !== undefined && o.clusterCIDR.trim() !== ''
      ? o.clusterCIDR.split(',').map((c) => c.trim())
      : [...ctx.state.network.clusterCIDRs];
  const mode = (o.detectLocalMode || 'ClusterCIDR') as DetectLocalMode;
  return {
    masqueradeMark: goHexMark(2 ** (o.iptables?.masqueradeBit ?? o.masqueradeBit ?? 14)),
    masqueradeAll: o.iptables?.masqueradeAll ?? o.masqueradeAll ?? false,
    localhostNodePorts: o.iptables?.localhostNodePorts ?? true,
    tcpBeLiberal: o.conntrack?.tcpBeLiberal === true,
    randomFully: o.host?.randomFully ?? true,
    nfacct: o.host?.nfacct ?? false,
    nodePortAddresses: o.nodePortAddresses ?? [],
    detectLocal: {
      4: detector(mode, o, 4, clusterCIDRs, ctx.node),
      6: detector(mode, o, 6, clusterCIDRs, ctx.node),
    },
  };
}

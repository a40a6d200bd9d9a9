/**
 * The KubeProxyConfiguration options every kube-proxy mode shares (masquerading, how pod traffic is
 * told apart, NodePort addresses), validated and resolved the same way whether they come from a
 * proxy factory or from `ClusterNetwork.spec.proxy`. Each mode declares the sections only it reads
 * (`iptables`, `nftables`, ...) in a KubeProxyModeSchema.
 */
import { InvalidArgumentError } from './errors.js';
import { type Cidr, cidrContains, type IpFamily, isCidr, parseCidr } from './ip.js';
import type { NodeInfo } from './model.js';
import type { RenderContext } from './plugin.js';

export type DetectLocalMode = 'ClusterCIDR' | 'NodeCIDR' | 'BridgeInterface' | 'InterfaceNamePrefix';

/** The options every mode reads, under their KubeProxyConfiguration names. */
export interface KubeProxyCommonOptions {
  /** Bit of the packet mark that flags connections for SNAT, 0-31. @default 14 */
  masqueradeBit?: number;
  /** SNAT every connection to a ClusterIP, not only those from outside the pod network. @default false */
  masqueradeAll?: boolean;
  /** Pod network CIDRs, comma separated, one per family (detectLocalMode ClusterCIDR). @default ClusterNetwork.spec.clusterCIDRs */
  clusterCIDR?: string;
  /** How pod traffic is told from other traffic. @default 'ClusterCIDR' */
  detectLocalMode?: DetectLocalMode;
  /** Interface names for the BridgeInterface and InterfaceNamePrefix modes. */
  detectLocal?: { bridgeInterface?: string; interfaceNamePrefix?: string };
  /** CIDRs, or `primary` (the node's InternalIPs), of node addresses that accept NodePort traffic. @default [] (every local address, unless the mode says otherwise) */
  nodePortAddresses?: string[];
}

/** How a field of a mode's section is checked: `any` accepts every value (it changes no rule). */
export type KubeProxyFieldCheck = 'boolean' | 'bit' | 'any';

/** The part of KubeProxyConfiguration only one mode reads. */
export interface KubeProxyModeSchema {
  /** The mode's own section (`iptables`, `nftables`): its masqueradeAll and masqueradeBit win over the top-level ones. */
  readonly section: string;
  /** Every mapping the mode reads, its own section among them: name → field → check, checked in this order. */
  readonly sections: Readonly<Record<string, Readonly<Record<string, KubeProxyFieldCheck>>>>;
  /** Further top-level fields accepted without effect (typically other modes' sections). */
  readonly ignored: readonly string[];
}

/** Where options from the cluster document are reported. */
export const KUBE_PROXY_CONFIG_PATH = 'ClusterNetwork.spec.proxy';

/** Fields of KubeProxyConfiguration that every mode accepts and that change no rule. */
const IGNORED = [
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
  'winkernel',
  'linux',
  'oomScoreAdj',
  'configSyncPeriod',
  'portRange',
  'syncPeriod',
  'minSyncPeriod',
];
const COMMON = [
  'masqueradeBit',
  'masqueradeAll',
  'clusterCIDR',
  'detectLocalMode',
  'detectLocal',
  'nodePortAddresses',
];
const MODES: readonly DetectLocalMode[] = [
  'ClusterCIDR',
  'NodeCIDR',
  'BridgeInterface',
  'InterfaceNamePrefix',
];

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

function checkSection(
  raw: unknown,
  fields: Readonly<Record<string, KubeProxyFieldCheck>>,
  path: string,
): void {
  if (!isObject(raw)) bad(path, 'must be a mapping');
  checkKeys(raw, new Set(Object.keys(fields)), path);
  for (const [field, check] of Object.entries(fields)) {
    if (check === 'boolean') checkBool(raw[field], `${path}.${field}`);
    else if (check === 'bit') checkBit(raw[field], `${path}.${field}`);
  }
}

/**
 * Validates raw options (a factory argument or ClusterNetwork.spec.proxy) for one mode; `path`
 * names their origin in the errors (InvalidArgumentError).
 */
export function validateKubeProxyConfig<T extends KubeProxyCommonOptions>(
  raw: unknown,
  path: string,
  schema: KubeProxyModeSchema,
): T {
  if (raw === undefined) return {} as T;
  if (!isObject(raw)) bad(path, 'must be a mapping');
  checkKeys(raw, new Set([...IGNORED, ...schema.ignored, ...COMMON, ...Object.keys(schema.sections)]), path);
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
  for (const [name, fields] of Object.entries(schema.sections)) {
    if (raw[name] !== undefined) checkSection(raw[name], fields, `${path}.${name}`);
  }
  const mode = (raw.detectLocalMode || 'ClusterCIDR') as DetectLocalMode;
  const dl = (raw.detectLocal ?? {}) as { bridgeInterface?: string; interfaceNamePrefix?: string };
  if (mode === 'BridgeInterface' && !dl.bridgeInterface) {
    bad(`${path}.detectLocal.bridgeInterface`, 'required when detectLocalMode is BridgeInterface');
  }
  if (mode === 'InterfaceNamePrefix' && !dl.interfaceNamePrefix) {
    bad(`${path}.detectLocal.interfaceNamePrefix`, 'required when detectLocalMode is InterfaceNamePrefix');
  }
  return raw as T;
}

/** `over` merged over `base`, one level deep for detectLocal and the mode's sections. */
export function mergeKubeProxyConfig<T extends KubeProxyCommonOptions>(
  base: T,
  over: T,
  schema: KubeProxyModeSchema,
): T {
  const b = base as Record<string, unknown>;
  const o = over as Record<string, unknown>;
  const out: Record<string, unknown> = { ...b, ...o };
  for (const k of [...Object.keys(schema.sections), 'detectLocal']) {
    if (b[k] !== undefined || o[k] !== undefined) out[k] = { ...(b[k] as object), ...(o[k] as object) };
  }
  return out as T;
}

/** kube-proxy's LocalTrafficDetector for one family: pod traffic by source CIDR or by input interface. */
export type LocalTraffic =
  | { by: 'cidr'; cidr: string }
  /** `prefix`: every interface whose name starts with `name`. */
  | { by: 'interface'; name: string; prefix: boolean };

export interface ResolvedKubeProxyConfig<T extends KubeProxyCommonOptions> {
  /** The factory options with ClusterNetwork.spec.proxy merged over them, for the mode's own fields. */
  options: T;
  /** Go's `%#08x` of 1<<masqueradeBit, as kube-proxy prints it: `0x00004000`. */
  masqueradeMark: string;
  masqueradeAll: boolean;
  /** Per family; none when the cluster has no pod CIDR of that family to tell pods by. */
  localTraffic: Record<IpFamily, LocalTraffic | undefined>;
}

function localTraffic(
  mode: DetectLocalMode,
  o: KubeProxyCommonOptions,
  family: IpFamily,
  clusterCIDRs: readonly string[],
  node: NodeInfo,
): LocalTraffic | undefined {
  const byCidr = (list: readonly string[]): LocalTraffic | undefined => {
    const cidr = list.find((c) => isCidr(c) && parseCidr(c).family === family);
    return cidr === undefined ? undefined : { by: 'cidr', cidr };
  };
  switch (mode) {
    case 'BridgeInterface':
      return { by: 'interface', name: o.detectLocal?.bridgeInterface as string, prefix: false };
    case 'InterfaceNamePrefix':
      return { by: 'interface', name: o.detectLocal?.interfaceNamePrefix as string, prefix: true };
    case 'NodeCIDR':
      return byCidr(node.podCIDRs);
    case 'ClusterCIDR':
      return byCidr(clusterCIDRs);
  }
}

/** Go's fmt.Sprintf("%#08x", v): `0x` and at least eight hex digits. */
export function goHexMark(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}

/**
 * The options a mode renders `ctx` with: validated factory options, with ClusterNetwork.spec.proxy
 * (validated here, reported under KUBE_PROXY_CONFIG_PATH) merged over them.
 */
export function resolveKubeProxyConfig<T extends KubeProxyCommonOptions>(
  factory: T,
  ctx: RenderContext,
  schema: KubeProxyModeSchema,
): ResolvedKubeProxyConfig<T> {
  const { mode: _mode, ...fromState } = ctx.state.network.proxy;
  const o = mergeKubeProxyConfig(
    factory,
    validateKubeProxyConfig<T>(fromState, KUBE_PROXY_CONFIG_PATH, schema),
    schema,
  );
  const clusterCIDRs =
    o.clusterCIDR !== undefined && o.clusterCIDR.trim() !== ''
      ? o.clusterCIDR.split(',').map((c) => c.trim())
      : ctx.state.network.clusterCIDRs;
  const mode = (o.detectLocalMode || 'ClusterCIDR') as DetectLocalMode;
  const section = (o as Record<string, unknown>)[schema.section] as
    | { masqueradeBit?: number; masqueradeAll?: boolean }
    | undefined;
  return {
    options: o,
    masqueradeMark: goHexMark(2 ** (section?.masqueradeBit ?? o.masqueradeBit ?? 14)),
    masqueradeAll: section?.masqueradeAll ?? o.masqueradeAll ?? false,
    localTraffic: {
      4: localTraffic(mode, o, 4, clusterCIDRs, ctx.node),
      6: localTraffic(mode, o, 6, clusterCIDRs, ctx.node),
    },
  };
}

/** kube-proxy's NodePortAddresses for one family: which node addresses accept NodePort traffic. */
export interface NodePortAddresses {
  /** No CIDR of this family, or one of prefix 0: every local address. */
  matchAll: boolean;
  /** 127.0.0.0/8 is among them (IPv4 only). */
  containsIPv4Loopback: boolean;
  /** Without matchAll: the loopback address and node IPs inside the CIDRs (GetNodeIPs), sorted. */
  ips: string[];
}

/** Resolves raw nodePortAddresses (`primary`: the node's first IP of the family) against the node IPs. */
export function resolveNodePortAddresses(
  raw: readonly string[],
  family: IpFamily,
  nodeIPs: readonly string[],
): NodePortAddresses {
  const host = family === 4 ? 32 : 128;
  const cidrs: Cidr[] = raw
    .flatMap((a) => (a === 'primary' ? nodeIPs.slice(0, 1).map((ip) => `${ip}/${host}`) : [a]))
    .filter((c) => isCidr(c) && parseCidr(c).family === family)
    .map((c) => parseCidr(c));
  const matchAll = cidrs.length === 0 || cidrs.some((c) => c.prefix === 0);
  const containsIPv4Loopback = family === 4 && (matchAll || cidrs.some((c) => cidrContains(c, '127.0.0.0')));
  const candidates = [family === 4 ? '127.0.0.1' : '::1', ...nodeIPs];
  const ips = matchAll
    ? []
    : [...new Set(candidates.filter((ip) => cidrs.some((c) => cidrContains(c, ip))))].sort();
  return { matchAll, containsIPv4Loopback, ips };
}

import { InvalidArgumentError } from '@podnet/core';

/**
 * Options of the `bridge` pod network, named as in the CNI bridge plugin's network config
 * (containernetworking/plugins plugins/main/bridge). Defaults follow the delegate config kube-flannel
 * ships (`hairpinMode: true`, `isDefaultGateway: true`), not the plugin's all-false defaults, so a
 * bare `bridge()` gives a working pod network.
 */
export interface BridgeOptions {
  /** The CNI network name; names the ipMasq chains and comments. @default 'cbr0' */
  name?: string;
  /** Bridge device name on each node. @default 'cni0' */
  bridge?: string;
  /** Put the gateway (first address of the node's pod CIDR) on the bridge. @default true */
  isGateway?: boolean;
  /** Also give each pod a default route via the gateway (implies `isGateway`). @default true */
  isDefaultGateway?: boolean;
  /**
   * Replace a different address already on the bridge. A rendered plan always declares exactly
   * the gateway address, so the plan behaves as if this were true; kept for config compatibility.
   * @default false
   */
  forceAddress?: boolean;
  /** SNAT pod traffic leaving the pod subnet, with the plugin's per-container `CNI-…` chains. @default false */
  ipMasq?: boolean;
  /** MTU of the bridge and both veth ends, bytes. @default the pod MTU (underlay MTU − overlay overhead) */
  mtu?: number;
  /** Hairpin on each host veth port: a pod can reach itself through a Service. @default true */
  hairpinMode?: boolean;
  /** Put the bridge in promiscuous mode (refused together with `hairpinMode`, as the plugin does). @default false */
  promiscMode?: boolean;
}

export interface ResolvedBridgeOptions {
  name: string;
  bridge: string;
  isGateway: boolean;
  isDefaultGateway: boolean;
  forceAddress: boolean;
  ipMasq: boolean;
  mtu: number | undefined;
  hairpinMode: boolean;
  promiscMode: boolean;
}

const KEYS = new Set([
  'name',
  'bridge',
  'isGateway',
  'isDefaultGateway',
  'forceAddress',
  'ipMasq',
  'mtu',
  'hairpinMode',
  'promiscMode',
]);

/** Validate and default; throws InvalidArgumentError naming the option. */
export function resolveBridgeOptions(options: BridgeOptions = {}): ResolvedBridgeOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidArgumentError('bridge', 'options must be an object');
  }
  for (const key of Object.keys(options)) {
    if (!KEYS.has(key))
      throw new InvalidArgumentError(`bridge.${key}`, `unknown option (known: ${[...KEYS].join(', ')})`);
  }
  const bool = (key: keyof BridgeOptions, dflt: boolean): boolean => {
    const v = options[key];
    if (v === undefined) return dflt;
    if (typeof v !== 'boolean')
      throw new InvalidArgumentError(`bridge.${key}`, `must be a boolean, got ${JSON.stringify(v)}`);
    return v;
  };
  const name = options.name ?? 'cbr0';
  if (typeof name !== 'string' || name.length === 0) {
    throw new InvalidArgumentError('bridge.name', 'must be a non-empty string');
  }
  const bridge = options.bridge ?? 'cni0';
  if (typeof bridge !== 'string' || !/^[A-Za-z0-9_.-]{1,15}$/.test(bridge)) {
    throw new InvalidArgumentError(
      'bridge.bridge',
      `"${String(bridge)}" is not a valid Linux interface name (1-15 characters: letters, digits, . _ -)`,
    );
  }
  const mtu = options.mtu;
  if (mtu !== undefined && (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535)) {
    throw new InvalidArgumentError('bridge.mtu', `must be an integer 68-65535, got ${JSON.stringify(mtu)}`);
  }
  const isDefaultGateway = bool('isDefaultGateway', true);
  const resolved: ResolvedBridgeOptions = {
    name,
    bridge,
    isDefaultGateway,
    isGateway: isDefaultGateway || bool('isGateway', true),
    forceAddress: bool('forceAddress', false),
    ipMasq: bool('ipMasq', false),
    mtu,
    hairpinMode: bool('hairpinMode', options.promiscMode !== true),
    promiscMode: bool('promiscMode', false),
  };
  if (resolved.hairpinMode && resolved.promiscMode) {
    throw new InvalidArgumentError(
      'bridge.hairpinMode',
      'cannot set hairpin mode and promiscuous mode at the same time',
    );
  }
  return resolved;
}

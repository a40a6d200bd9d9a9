import { InvalidArgumentError } from '@podnet/core';

/** Options of the vxlan backend, named after flannel's `Backend` keys (`VNI`, `Port`, `DirectRouting`, `MTU`). */
export interface VxlanOptions {
  /** VXLAN network identifier; the device is `flannel.<vni>`. @default 1 */
  vni?: number;
  /** UDP destination port of the encapsulated packets (the Linux kernel's VXLAN default). @default 8472 */
  port?: number;
  /** Route to peers on the same underlay subnet directly (host-gw style), encapsulate only across routers. @default false */
  directRouting?: boolean;
  /** MTU of the `flannel.<vni>` device, bytes; must leave room for the 50-byte header. @default underlay MTU − 50 */
  mtu?: number;
  /** Install flanneld's `--ip-masq` rules (FLANNEL-POSTRTG, FLANNEL-FWD). @default true */
  ipMasq?: boolean;
}

export interface ResolvedVxlanOptions {
  vni: number;
  port: number;
  directRouting: boolean;
  mtu: number | undefined;
  ipMasq: boolean;
}

const KEYS = ['vni', 'port', 'directRouting', 'mtu', 'ipMasq'];

export function resolveVxlanOptions(options: VxlanOptions = {}): ResolvedVxlanOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidArgumentError('vxlan', 'options must be an object');
  }
  for (const key of Object.keys(options)) {
    if (!KEYS.includes(key))
      throw new InvalidArgumentError(`vxlan.${key}`, `unknown option (known: ${KEYS.join(', ')})`);
  }
  const int = (key: 'vni' | 'port' | 'mtu', min: number, max: number): number | undefined => {
    const v = options[key];
    if (v === undefined) return undefined;
    if (!Number.isInteger(v) || v < min || v > max) {
      throw new InvalidArgumentError(
        `vxlan.${key}`,
        `must be an integer ${min}-${max}, got ${JSON.stringify(v)}`,
      );
    }
    return v;
  };
  const bool = (key: 'directRouting' | 'ipMasq', dflt: boolean): boolean => {
    const v = options[key];
    if (v === undefined) return dflt;
    if (typeof v !== 'boolean')
      throw new InvalidArgumentError(`vxlan.${key}`, `must be a boolean, got ${JSON.stringify(v)}`);
    return v;
  };
  const vni = int('vni', 0, 16_777_215) ?? 1;
  if (`flannel.${vni}`.length > 15) {
    throw new InvalidArgumentError(
      'vxlan.vni',
      `device name flannel.${vni} is longer than Linux's 15-character limit; use a VNI below 10000000`,
    );
  }
  return {
    vni,
    port: int('port', 1, 65535) ?? 8472,
    directRouting: bool('directRouting', false),
    mtu: int('mtu', 68, 65535),
    ipMasq: bool('ipMasq', true),
  };
}

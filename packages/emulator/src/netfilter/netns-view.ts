/**
 * What netfilter asks of its network namespace: the type of an address (addrtype, fib) and the
 * source address MASQUERADE picks on an output device. The emulator backs this with its routing
 * state; `staticNetns` is a small stand-alone implementation for tools and tests.
 */
import { type Prefix, parsePrefix, prefixContains } from './addr-match.js';
import { addrValue, type IpFamily } from './packet.js';

export type AddrType =
  | 'UNSPEC'
  | 'UNICAST'
  | 'LOCAL'
  | 'BROADCAST'
  | 'ANYCAST'
  | 'MULTICAST'
  | 'BLACKHOLE'
  | 'UNREACHABLE'
  | 'PROHIBIT'
  | 'THROW'
  | 'NAT'
  | 'XRESOLVE';

export const ADDR_TYPES: readonly AddrType[] = [
  'UNSPEC',
  'UNICAST',
  'LOCAL',
  'BROADCAST',
  'ANYCAST',
  'MULTICAST',
  'BLACKHOLE',
  'UNREACHABLE',
  'PROHIBIT',
  'THROW',
  'NAT',
  'XRESOLVE',
];

export interface NetnsView {
  /**
   * The routing type of an address (`ip route get` / RTN_*). With `dev`, LOCAL only when the
   * address belongs to that device (addrtype `--limit-iface-in/out`, `fib daddr . iif`).
   */
  addrType(ip: string, family: IpFamily, dev?: string): AddrType;
  /** The address MASQUERADE uses as the new source on `dev` toward `dst`. */
  sourceAddress(dev: string | undefined, dst: string, family: IpFamily): string | undefined;
  /** The first address of a device (REDIRECT's target on the input device). */
  deviceAddress(dev: string, family: IpFamily): string | undefined;
}

export interface StaticNetnsSpec {
  /** Interface addresses with prefix, e.g. `{ dev: 'eth0', cidr: '10.0.0.2/24' }`. */
  addresses: { dev: string; cidr: string }[];
  /** Routes of a non-unicast type (`blackhole`, `unreachable`, `prohibit`, `throw`). */
  specialRoutes?: { dst: string; type: 'blackhole' | 'unreachable' | 'prohibit' | 'throw' }[];
}

interface Addr {
  dev: string;
  ip: string;
  family: IpFamily;
  prefix: Prefix;
}

/** A namespace described by its interface addresses; loopback (127.0.0.0/8, ::1) is always local. */
export function staticNetns(spec: StaticNetnsSpec): NetnsView {
  const addrs: Addr[] = [];
  for (const a of spec.addresses) {
    const ip = a.cidr.split('/')[0];
    const family: IpFamily = ip.includes(':') ? 6 : 4;
    const prefix = parsePrefix(a.cidr, family);
    if (!prefix) throw new Error(`invalid address ${a.cidr}`);
    addrs.push({ dev: a.dev, ip, family, prefix });
  }
  const special = (spec.specialRoutes ?? []).map((r) => {
    const family: IpFamily = r.dst.includes(':') ? 6 : 4;
    return { prefix: parsePrefix(r.dst, family)!, family, type: r.type.toUpperCase() as AddrType };
  });
  const lo4 = parsePrefix('127.0.0.0/8', 4)!;
  const mc4 = parsePrefix('224.0.0.0/4', 4)!;
  const mc6 = parsePrefix('ff00::/8', 6)!;
  return {
    addrType(ip, family, dev) {
      const v = addrValue(ip, family);
      if (family === 4 && v === 0) return 'UNSPEC';
      if (family === 6 && v === 0n) return 'UNSPEC';
      const local = addrs.find((a) => a.family === family && a.ip === ip);
      const isLo = family === 4 ? prefixContains(lo4, v) : v === 1n;
      if (local || isLo) {
        if (dev === undefined) return 'LOCAL';
        if (isLo ? dev === 'lo' : local!.dev === dev) return 'LOCAL';
        return 'UNICAST';
      }
      if (family === 4) {
        if (v === 0xffffffff) return 'BROADCAST';
        if (prefixContains(mc4, v)) return 'MULTICAST';
        for (const a of addrs) {
          if (a.family !== 4 || a.prefix.bits >= 31) continue;
          const bcast = ((a.prefix.net as number) | (~(0xffffffff << (32 - a.prefix.bits)) >>> 0)) >>> 0;
          if (v === bcast && (dev === undefined || a.dev === dev)) return 'BROADCAST';
        }
      } else if (prefixContains(mc6, v)) return 'MULTICAST';
      for (const r of special) if (r.family === family && prefixContains(r.prefix, v)) return r.type;
      return 'UNICAST';
    },
    sourceAddress(dev, dst, family) {
      const v = addrValue(dst, family);
      const onDev = addrs.filter((a) => a.family === family && (dev === undefined || a.dev === dev));
      return (onDev.find((a) => prefixContains(a.prefix, v)) ?? onDev[0])?.ip;
    },
    deviceAddress(dev, family) {
      return addrs.find((a) => a.family === family && a.dev === dev)?.ip;
    },
  };
}

/**
 * A FIB table per family: longest-prefix match over a map per prefix length (so a lookup costs
 * one map probe per distinct prefix length present), lowest metric first among equal prefixes,
 * skipping routes whose device is down.
 */
import { ipv4ToInt } from '@podnet/core';
import { maskV4, maskV6, v6Key } from './addr.js';
import type { Device } from './devices.js';
import type { RouteView } from './hooks.js';

export type RouteType = RouteView['type'];

export interface RouteEntry extends RouteView {
  readonly family: 4 | 6;
  readonly prefix: number;
  readonly key: number | bigint;
  /** `default` or the CIDR. */
  readonly dst: string;
  readonly type: RouteType;
  readonly device?: Device;
  readonly via?: string;
  readonly onlink: boolean;
  readonly scope: 'global' | 'link' | 'host';
  readonly metric: number;
  readonly src?: string;
  readonly table: string;
  /** Added by the kernel for an address (proto kernel). */
  readonly kernel: boolean;
  readonly text: string;
}

export class RouteTable {
  private readonly byLen = new Map<number, Map<number | bigint, RouteEntry[]>>();
  private lens: number[] = [];
  private count = 0;

  constructor(readonly family: 4 | 6) {}

  /** Adds a route; returns false when one with the same prefix, metric and type already exists. */
  add(e: RouteEntry): boolean {
    let m = this.byLen.get(e.prefix);
    if (!m) {
      m = new Map();
      this.byLen.set(e.prefix, m);
      this.lens = [...this.byLen.keys()].sort((a, b) => b - a);
    }
    const list = m.get(e.key);
    if (!list) {
      m.set(e.key, [e]);
      this.count++;
      return true;
    }
    if (list.some((x) => x.metric === e.metric && (x.type === 'local') === (e.type === 'local')))
      return false;
    list.push(e);
    list.sort((a, b) => a.metric - b.metric);
    this.count++;
    return true;
  }

  lookup(ip: string): RouteEntry | undefined {
    if (this.family === 4) {
      const n = ipv4ToInt(ip);
      return n < 0 ? undefined : this.lookup4(n);
    }
    const v = v6Key(ip);
    return v === undefined ? undefined : this.lookup6(v);
  }

  lookup4(n: number): RouteEntry | undefined {
    for (const len of this.lens) {
      const list = this.byLen.get(len)!.get((n & maskV4(len)) >>> 0);
      if (list) {
        for (const e of list) if (usable(e)) return e;
      }
    }
    return undefined;
  }

  lookup6(v: bigint): RouteEntry | undefined {
    for (const len of this.lens) {
      const list = this.byLen.get(len)!.get(v & maskV6(len));
      if (list) {
        for (const e of list) if (usable(e)) return e;
      }
    }
    return undefined;
  }

  /** Every route in the order `ip route` lists them: by network address, then prefix length, then metric. */
  entries(): RouteEntry[] {
    const out: RouteEntry[] = [];
    for (const len of this.lens) for (const list of this.byLen.get(len)!.values()) out.push(...list);
    return out.sort((a, b) =>
      a.key < b.key ? -1 : a.key > b.key ? 1 : a.prefix - b.prefix || a.metric - b.metric,
    );
  }

  get size(): number {
    return this.count;
  }
}

function usable(e: RouteEntry): boolean {
  return e.device === undefined || e.device.isUp();
}

/** `ip route` text of an entry. */
export function routeText(r: {
  dst: string;
  type: RouteType;
  via?: string;
  dev?: string;
  onlink?: boolean;
  scope?: string;
  metric?: number;
  src?: string;
  kernel?: boolean;
  table?: string;
}): string {
  let s = r.type === 'unicast' ? r.dst : `${r.type} ${r.dst}`;
  if (r.via) s += ` via ${r.via}`;
  if (r.dev) s += ` dev ${r.dev}`;
  if (r.table && r.table !== 'main') s += ` table ${r.table}`;
  if (r.kernel) s += ' proto kernel';
  if (r.scope && r.scope !== 'global' && !r.dst.includes(':')) s += ` scope ${r.scope}`; // iproute2 prints no scope for IPv6
  if (r.src) s += ` src ${r.src}`;
  if (r.metric) s += ` metric ${r.metric}`;
  if (r.onlink) s += ' onlink';
  return s;
}

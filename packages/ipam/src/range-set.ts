/**
 * CNI host-local ranges (plugins/ipam/host-local/backend/allocator: config.go, range.go,
 * range_set.go): validation, defaults and the round-robin iteration order.
 */
import {
  type Cidr,
  InvalidArgumentError,
  type IpFamily,
  bigIntToIp,
  cidrSize,
  hostPrefix,
} from '@podnet/core';
import { cidrArg, describe, ipArg } from './args.js';

/** One pool of a range set, as written in the CNI config. */
export interface RangeConfig {
  /** The subnet the pool belongs to (host bits must be clear), e.g. `10.244.1.0/24`. */
  subnet: string;
  /** First address handed out, inclusive. @default the subnet's network address + 1 */
  rangeStart?: string;
  /** Last address handed out, inclusive. @default IPv4: broadcast − 1; IPv6: the subnet's last address */
  rangeEnd?: string;
  /** Gateway reported with addresses from this pool; never handed out. @default the network address + 1 */
  gateway?: string;
}

/** Pools that together yield one address per ADD (one set per family for dual-stack). */
export type RangeSetConfig = RangeConfig[];

export interface Range {
  readonly subnet: Cidr;
  readonly family: IpFamily;
  readonly start: bigint;
  readonly end: bigint;
  readonly gateway: bigint;
}

export type RangeSet = readonly Range[];

export function rangeText(r: Range): string {
  return `${bigIntToIp(r.start, r.family)}-${bigIntToIp(r.end, r.family)}`;
}

/** host-local's RangeSet.String(): `10.1.2.1-10.1.2.254,10.1.3.1-10.1.3.254`. */
export function rangeSetText(set: RangeSet): string {
  return set.map(rangeText).join(',');
}

export function rangeContains(r: Range, family: IpFamily, value: bigint): boolean {
  return family === r.family && value >= r.start && value <= r.end;
}

export function rangeFor(set: RangeSet, family: IpFamily, value: bigint): Range | undefined {
  return set.find((r) => rangeContains(r, family, value));
}

function rangesOverlap(a: Range, b: Range): boolean {
  return a.family === b.family && a.start <= b.end && b.start <= a.end;
}

/** Validates and defaults one pool (host-local's Range.Canonicalize). */
export function parseRange(config: unknown, at: string): Range {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new InvalidArgumentError(at, `expected an object with "subnet", got ${describe(config)}`);
  }
  const c = config as Record<string, unknown>;
  const subnet = cidrArg(`${at}.subnet`, c.subnet);
  const bits = hostPrefix(subnet.family);
  if (subnet.prefix > bits - 2)
    throw new InvalidArgumentError(`${at}.subnet`, `network ${subnet.text} too small to allocate from`);
  const given = (c.subnet as string).trim();
  if (
    given !== subnet.text &&
    ipArg(`${at}.subnet`, given.slice(0, given.indexOf('/'))).value !== subnet.network
  ) {
    throw new InvalidArgumentError(
      `${at}.subnet`,
      `network has host bits set: for a prefix length of ${subnet.prefix} the network address is ${bigIntToIp(subnet.network, subnet.family)}`,
    );
  }
  const last = subnet.network + cidrSize(subnet) - 1n;
  const broadcast = subnet.family === 4 ? last : undefined;
  const inSubnet = (field: string): bigint | undefined => {
    if (c[field] === undefined) return undefined;
    const ip = ipArg(`${at}.${field}`, c[field]);
    if (ip.family !== subnet.family || ip.value < subnet.network || ip.value > last) {
      throw new InvalidArgumentError(`${at}.${field}`, `${ip.text} not in network ${subnet.text}`);
    }
    return ip.value;
  };
  const gateway = inSubnet('gateway') ?? subnet.network + 1n;
  const start = inSubnet('rangeStart') ?? subnet.network + 1n;
  const end = inSubnet('rangeEnd') ?? (broadcast === undefined ? last : broadcast - 1n);
  if (start === subnet.network) {
    throw new InvalidArgumentError(
      `${at}.rangeStart`,
      `${bigIntToIp(start, subnet.family)} is the network address of ${subnet.text}`,
    );
  }
  if (end === broadcast) {
    throw new InvalidArgumentError(
      `${at}.rangeEnd`,
      `${bigIntToIp(end, subnet.family)} is the broadcast address of ${subnet.text}`,
    );
  }
  if (start > end) {
    throw new InvalidArgumentError(
      `${at}.rangeStart`,
      `${bigIntToIp(start, subnet.family)} is after rangeEnd ${bigIntToIp(end, subnet.family)}`,
    );
  }
  return { subnet, family: subnet.family, start, end, gateway };
}

/** Validates a list of range sets: each non-empty, one family per set, no overlaps anywhere. */
export function parseRangeSets(sets: unknown, at = 'ranges'): RangeSet[] {
  if (!Array.isArray(sets) || sets.length === 0) throw new InvalidArgumentError(at, 'no IP ranges specified');
  const parsed = sets.map((set, i) => {
    if (!Array.isArray(set))
      throw new InvalidArgumentError(`${at}[${i}]`, `expected an array of ranges, got ${describe(set)}`);
    if (set.length === 0) throw new InvalidArgumentError(`${at}[${i}]`, 'empty range set');
    const ranges = set.map((r, j) => parseRange(r, `${at}[${i}][${j}]`));
    ranges.forEach((r, j) => {
      if (r.family !== ranges[0].family)
        throw new InvalidArgumentError(`${at}[${i}][${j}]`, 'mixed address families');
      for (const other of ranges.slice(j + 1)) {
        if (rangesOverlap(r, other)) {
          throw new InvalidArgumentError(
            `${at}[${i}]`,
            `subnets ${rangeText(r)} and ${rangeText(other)} overlap`,
          );
        }
      }
    });
    return ranges;
  });
  for (let i = 0; i < parsed.length; i++) {
    for (let k = i + 1; k < parsed.length; k++) {
      if (parsed[i].some((x) => parsed[k].some((y) => rangesOverlap(x, y)))) {
        throw new InvalidArgumentError(at, `range set ${i} overlaps with ${k}`);
      }
    }
  }
  return parsed;
}

/**
 * host-local's round-robin order: start just after `lastReserved` when it lies in the set (else at
 * the first range's start), walk each range to its end, continue with the next range, wrap around,
 * stop when back at the first candidate. Gateways are skipped.
 */
export function* iterateRangeSet(
  set: RangeSet,
  lastReserved?: { family: IpFamily; value: bigint },
): Generator<{ range: Range; value: bigint }> {
  let idx = 0;
  let cur: bigint | undefined;
  let startAt: bigint | undefined;
  const from = lastReserved
    ? set.findIndex((r) => rangeContains(r, lastReserved.family, lastReserved.value))
    : -1;
  if (from >= 0 && lastReserved) {
    idx = from;
    cur = lastReserved.value;
  }
  for (;;) {
    let r = set[idx];
    if (cur === undefined) {
      cur = r.start;
      startAt = cur;
    } else {
      if (cur === r.end) {
        idx = (idx + 1) % set.length;
        r = set[idx];
        cur = r.start;
      } else {
        cur += 1n;
      }
      if (startAt === undefined) startAt = cur;
      else if (cur === startAt) return;
    }
    if (cur !== r.gateway) yield { range: r, value: cur };
  }
}

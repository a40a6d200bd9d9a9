/**
 * The CNI host-local IPAM plugin's semantics (containernetworking/plugins plugins/ipam/host-local):
 * one address per range set per ADD, handed out round-robin from after the range set's last
 * reserved address, gateways skipped; requested addresses (CNI `ips`) honoured; a failed ADD
 * rolls back what it reserved; DEL releases by container ID and interface. Adds GC, which
 * host-local lacks.
 */
import {
  InvalidArgumentError,
  type IpamAllocation,
  IpamExhaustedError,
  type IpamPlugin,
  type IpamRequest,
  PodnetError,
  SPECIFICATION_VERSION,
  bigIntToIp,
  compareIps,
  parseIp,
} from '@podnet/core';
import { cidrArg, describe, ipArg, ipamConflict, nonEmptyString } from './args.js';
import { fileStore } from './file-store.js';
import {
  type RangeSet,
  type RangeSetConfig,
  iterateRangeSet,
  parseRangeSets,
  rangeFor,
  rangeSetText,
} from './range-set.js';
import { type IpamStore, type Reservation, type StoreTransaction, memoryStore } from './store.js';

/** A route returned with every ADD result (CNI `routes`). */
export interface CniRoute {
  dst: string;
  gw?: string;
}

export interface HostLocalOptions {
  /** Range sets; each yields one address per ADD (dual-stack: one IPv4 set and one IPv6 set). */
  ranges?: RangeSetConfig[];
  /** Old-style single range; when set it becomes range set 0, before `ranges`. */
  subnet?: string;
  rangeStart?: string;
  rangeEnd?: string;
  gateway?: string;
  /** Routes reported in the CNI result (see toCniResult). @default [] */
  routes?: CniRoute[];
  /** CNI network name; the file store's directory under `dataDir`. @default 'podnet' */
  network?: string;
  /** Where reservations live: in this process, on disk in host-local's layout, or a custom store. @default 'memory' */
  store?: 'memory' | 'file' | IpamStore;
  /** Parent directory of the file store (host-local's `dataDir`). @default '/var/lib/cni/networks' */
  dataDir?: string;
  /** File store: how long to wait for the lock, in ms. @default 10000 */
  lockTimeoutMs?: number;
}

export interface Attachment {
  containerId: string;
  ifname: string;
}

export interface HostLocalIpam extends IpamPlugin {
  readonly name: 'host-local';
  readonly store: IpamStore;
  /** Each range set as host-local prints it: `10.1.2.1-10.1.2.254`. */
  readonly rangeSets: readonly string[];
  readonly routes: readonly CniRoute[];
  /** CNI CHECK: whether the attachment holds at least one address. */
  check(containerId: string, ifname: string): Promise<boolean>;
  /** Every reservation, in address-file order. */
  list(): Promise<Reservation[]>;
}

function matches(r: Reservation, containerId: string, ifname: string | undefined): boolean {
  return r.containerId === containerId.trim() && r.ifname === ifname;
}

/** host-local's GetByID: addresses held by the attachment, including old records without ifname. */
function heldBy(list: Reservation[], containerId: string, ifname: string): Reservation[] {
  return list.filter((r) => matches(r, containerId, ifname) || matches(r, containerId, undefined));
}

/** host-local's ReleaseByID: exact records, or, when there are none, old records of the container. */
async function releaseAttachment(
  tx: StoreTransaction,
  containerId: string,
  ifname: string,
): Promise<string[]> {
  const list = await tx.list();
  let hit = list.filter((r) => matches(r, containerId, ifname));
  if (hit.length === 0) hit = list.filter((r) => matches(r, containerId, undefined));
  for (const r of hit) await tx.remove(r.ip);
  return hit.map((r) => r.ip);
}

function canonicalRequest(ip: unknown, i: number): string {
  const text = typeof ip === 'string' && ip.includes('/') ? ip.slice(0, ip.indexOf('/')) : ip;
  return ipArg(`ips[${i}]`, text).text;
}

async function allocateFrom(
  tx: StoreTransaction,
  set: RangeSet,
  index: number,
  containerId: string,
  ifname: string,
  requested: string | undefined,
): Promise<IpamAllocation> {
  const rangeId = String(index);
  const label = rangeSetText(set);
  const result = (value: bigint): IpamAllocation => {
    const r = rangeFor(set, set[0].family, value) ?? set[0];
    return {
      address: `${bigIntToIp(value, r.family)}/${r.subnet.prefix}`,
      gateway: bigIntToIp(r.gateway, r.family),
      family: r.family,
    };
  };
  if (requested !== undefined) {
    const ip = parseIp(requested);
    const r = rangeFor(set, ip.family, ip.value);
    if (r && ip.value === r.gateway) throw ipamConflict(`requested ip ${ip.text} is subnet's gateway`);
    if (!(await tx.reserve(containerId, ifname, ip.text, rangeId))) {
      throw ipamConflict(`requested IP address ${ip.text} is not available in range set ${label}`);
    }
    return result(ip.value);
  }
  const list = await tx.list();
  for (const held of heldBy(list, containerId, ifname)) {
    const ip = parseIp(held.ip);
    if (rangeFor(set, ip.family, ip.value)) {
      throw ipamConflict(
        `${ip.text} has been allocated to ${containerId}, duplicate allocation is not allowed`,
      );
    }
  }
  const taken = new Set(list.map((r) => r.ip));
  const lastText = await tx.lastReservedIp(rangeId);
  const last = lastText === undefined ? undefined : parseIp(lastText);
  for (const { value, range } of iterateRangeSet(set, last)) {
    const ip = bigIntToIp(value, range.family);
    if (!taken.has(ip) && (await tx.reserve(containerId, ifname, ip, rangeId))) return result(value);
  }
  throw new IpamExhaustedError(label, set[0].family, `no IP addresses available in range set: ${label}`);
}

function withRangeIndex(e: unknown, index: number): unknown {
  if (!PodnetError.is(e) || e.code === 'PODNET_IPAM_STORE') return e;
  const message = `failed to allocate for range ${index}: ${e.message}`;
  if (e instanceof IpamExhaustedError) return new IpamExhaustedError(e.pool, e.family, message);
  return new PodnetError(e.code, message, { retryable: e.retryable, cause: e });
}

export function hostLocal(options: HostLocalOptions): HostLocalIpam {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('options', `expected an object, got ${describe(options)}`);
  }
  const legacy =
    options.subnet === undefined
      ? []
      : [
          [
            {
              subnet: options.subnet,
              rangeStart: options.rangeStart,
              rangeEnd: options.rangeEnd,
              gateway: options.gateway,
            },
          ],
        ];
  if (options.ranges !== undefined && !Array.isArray(options.ranges)) {
    throw new InvalidArgumentError(
      'ranges',
      `expected an array of range sets, got ${describe(options.ranges)}`,
    );
  }
  const sets = parseRangeSets([...legacy, ...(options.ranges ?? [])]);
  const network = nonEmptyString('network', options.network ?? 'podnet');
  if (options.routes !== undefined && !Array.isArray(options.routes)) {
    throw new InvalidArgumentError(
      'routes',
      `expected an array of {dst, gw?}, got ${describe(options.routes)}`,
    );
  }
  const routes = (options.routes ?? []).map((r, i) => {
    if (typeof r !== 'object' || r === null)
      throw new InvalidArgumentError(`routes[${i}]`, `expected {dst, gw?}, got ${describe(r)}`);
    const dst = cidrArg(`routes[${i}].dst`, r.dst).text;
    return r.gw === undefined ? { dst } : { dst, gw: ipArg(`routes[${i}].gw`, r.gw).text };
  });
  const chosen = options.store ?? 'memory';
  const store =
    chosen === 'memory'
      ? memoryStore()
      : chosen === 'file'
        ? fileStore({ network, dataDir: options.dataDir, lockTimeoutMs: options.lockTimeoutMs })
        : chosen;
  if (typeof store !== 'object' || typeof store.transaction !== 'function') {
    throw new InvalidArgumentError(
      'store',
      `expected 'memory', 'file' or an IpamStore, got ${describe(chosen)}`,
    );
  }

  return {
    specificationVersion: SPECIFICATION_VERSION,
    kind: 'ipam',
    name: 'host-local',
    store,
    rangeSets: sets.map(rangeSetText),
    routes,

    async allocate(request: IpamRequest) {
      const containerId = nonEmptyString('containerId', request?.containerId);
      const ifname = nonEmptyString('ifname', request.ifname);
      if (request.ips !== undefined && !Array.isArray(request.ips)) {
        throw new InvalidArgumentError('ips', `expected an array of addresses, got ${describe(request.ips)}`);
      }
      const requested = [...new Set((request.ips ?? []).map(canonicalRequest))];
      return store.transaction(async (tx) => {
        const out: IpamAllocation[] = [];
        for (const [index, set] of sets.entries()) {
          const at = requested.findIndex((ip) => {
            const p = parseIp(ip);
            return rangeFor(set, p.family, p.value) !== undefined;
          });
          const wanted = at < 0 ? undefined : requested.splice(at, 1)[0];
          try {
            out.push(await allocateFrom(tx, set, index, containerId, ifname, wanted));
          } catch (e) {
            if (out.length > 0) await releaseAttachment(tx, containerId, ifname);
            throw withRangeIndex(e, index);
          }
        }
        if (requested.length > 0) {
          await releaseAttachment(tx, containerId, ifname);
          throw ipamConflict(`failed to allocate all requested IPs: ${requested.join(' ')}`);
        }
        return out;
      });
    },

    async release(containerId: string, ifname: string) {
      nonEmptyString('containerId', containerId);
      nonEmptyString('ifname', ifname);
      await store.transaction((tx) => releaseAttachment(tx, containerId, ifname));
    },

    async gc(live: readonly Attachment[]) {
      if (!Array.isArray(live))
        throw new InvalidArgumentError(
          'live',
          `expected an array of {containerId, ifname}, got ${describe(live)}`,
        );
      const attachments = live.map((a, i) => ({
        containerId: nonEmptyString(`live[${i}].containerId`, a?.containerId).trim(),
        ifname: nonEmptyString(`live[${i}].ifname`, a.ifname),
      }));
      const keep = new Set(attachments.map((a) => `${a.containerId}\n${a.ifname}`));
      const liveIds = new Set(attachments.map((a) => a.containerId));
      return store.transaction(async (tx) => {
        const released: string[] = [];
        for (const r of await tx.list()) {
          const alive =
            r.ifname === undefined ? liveIds.has(r.containerId) : keep.has(`${r.containerId}\n${r.ifname}`);
          if (!alive) {
            await tx.remove(r.ip);
            released.push(r.ip);
          }
        }
        return released.sort(compareIps);
      });
    },

    async check(containerId: string, ifname: string) {
      nonEmptyString('containerId', containerId);
      nonEmptyString('ifname', ifname);
      return store.transaction(async (tx) => heldBy(await tx.list(), containerId, ifname).length > 0);
    },

    list() {
      return store.transaction((tx) => tx.list());
    },
  };
}

/**
 * The reservation store behind the host-local allocator, after host-local's backend.Store: one
 * record per reserved address holding the attachment (container ID and interface) and, per range
 * set, the last address reserved. Every ADD, DEL and GC runs inside one exclusive transaction.
 */

export interface Reservation {
  /** The reserved address, canonical text. */
  ip: string;
  containerId: string;
  /** Absent for records written by old host-local versions, which stored only the container ID. */
  ifname?: string;
}

/** Operations available while the store's exclusive lock is held. */
export interface StoreTransaction {
  /** Reserves `ip` for the attachment and records it as the last reserved of `rangeId`; false when taken. */
  reserve(containerId: string, ifname: string, ip: string, rangeId: string): Promise<boolean>;
  lastReservedIp(rangeId: string): Promise<string | undefined>;
  list(): Promise<Reservation[]>;
  /** Drops the reservation of `ip`; no-op when there is none. */
  remove(ip: string): Promise<void>;
}

export interface IpamStore {
  /** `memory`, `file`, ... */
  readonly kind: string;
  /** Runs `fn` holding the store's exclusive lock (across processes for the file store). */
  transaction<T>(fn: (tx: StoreTransaction) => Promise<T>): Promise<T>;
}

/** Serialises async critical sections inside one process. */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

/** Reservations held in this process only; lost when it exits. */
export function memoryStore(): IpamStore {
  const reservations = new Map<string, Reservation>();
  const last = new Map<string, string>();
  const mutex = new Mutex();
  const tx: StoreTransaction = {
    async reserve(containerId, ifname, ip, rangeId) {
      if (reservations.has(ip)) return false;
      reservations.set(ip, { ip, containerId: containerId.trim(), ifname });
      last.set(rangeId, ip);
      return true;
    },
    async lastReservedIp(rangeId) {
      return last.get(rangeId);
    },
    async list() {
      return [...reservations.values()].map((r) => ({ ...r }));
    },
    async remove(ip) {
      reservations.delete(ip);
    },
  };
  return { kind: 'memory', transaction: (fn) => mutex.run(() => fn(tx)) };
}

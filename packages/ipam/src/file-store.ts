/**
 * host-local's on-disk store (backend/disk): `<dataDir>/<network>/` holds one file per reserved
 * address, named by the address and containing `containerID\r\nifname`, a `last_reserved_ip.<N>`
 * file per range set, and an empty `lock` file. Records are written to a temporary file, flushed,
 * then hard-linked into place (which fails if the address is taken), so a crash never leaves an
 * empty or half-written record; `last_reserved_ip.N` is replaced by rename. See file-lock.ts for
 * the cross-process lock.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, mkdir, open, readFile, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError, PodnetError, canonicalIp, isIp } from '@podnet/core';
import { integerArg, nonEmptyString } from './args.js';
import { TMP_PREFIX, acquireLock } from './file-lock.js';
import { type IpamStore, Mutex, type Reservation, type StoreTransaction } from './store.js';

export interface FileStoreOptions {
  /** CNI network name; the store is the directory `<dataDir>/<network>`. */
  network: string;
  /** Parent directory of every network's store (host-local's `dataDir`). @default '/var/lib/cni/networks' */
  dataDir?: string;
  /** How long to wait for the lock before failing with a retryable `PODNET_IPAM_STORE` error, in ms. @default 10000 */
  lockTimeoutMs?: number;
  /** fsync records and the directory before a transaction returns (survives power loss, not only crashes). @default true */
  fsync?: boolean;
}

export const DEFAULT_DATA_DIR = '/var/lib/cni/networks';
const LAST_IP_PREFIX = 'last_reserved_ip.';
const LINE_BREAK = '\r\n';
// One in-process queue per directory, so transactions of one process do not poll each other's lock.
const queues = new Map<string, Mutex>();

export interface FileStore extends IpamStore {
  /** `<dataDir>/<network>`. */
  readonly dir: string;
}

/** Parses a record's content: `id\r\nifname`, or a bare `id` as old host-local versions wrote. */
export function parseRecord(ip: string, content: string): Reservation {
  const text = content.trim();
  const i = text.indexOf(LINE_BREAK);
  return i < 0
    ? { ip, containerId: text }
    : { ip, containerId: text.slice(0, i), ifname: text.slice(i + LINE_BREAK.length) };
}

export function fileStore(options: FileStoreOptions): FileStore {
  const network = nonEmptyString('network', options.network);
  if (network === '.' || network === '..' || /[/\\\0]/.test(network)) {
    throw new InvalidArgumentError('network', `"${network}" cannot name a directory`);
  }
  const dir = join(options.dataDir ?? DEFAULT_DATA_DIR, network);
  const timeout = integerArg('lockTimeoutMs', options.lockTimeoutMs ?? 10_000, 0, 2 ** 31 - 1);
  const durable = options.fsync ?? true;
  let queue = queues.get(dir);
  if (!queue) queues.set(dir, (queue = new Mutex()));
  let swept = false;
  let seq = 0;
  const names = new Map<string, string>();

  const fail = (what: string, e: unknown): PodnetError =>
    PodnetError.is(e)
      ? e
      : new PodnetError('PODNET_IPAM_STORE', `${dir}: ${what}: ${(e as Error).message}`, { cause: e });

  async function writeTemp(content: string): Promise<string> {
    const tmp = join(dir, `${TMP_PREFIX}${randomBytes(6).toString('hex')}-${seq++}`);
    const fh = await open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(content);
      if (durable) await fh.sync();
    } finally {
      await fh.close();
    }
    return tmp;
  }

  async function syncDir(): Promise<void> {
    const fh = await open(dir, constants.O_RDONLY);
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  // Leftovers of a crashed writer: temporary files are only ever written by the lock holder.
  async function sweep(): Promise<void> {
    for (const name of await readdir(dir)) {
      if (name.startsWith(TMP_PREFIX)) await unlink(join(dir, name)).catch(() => undefined);
    }
  }

  let dirty = false;
  const tx: StoreTransaction = {
    async reserve(containerId, ifname, ip, rangeId) {
      try {
        const tmp = await writeTemp(`${containerId.trim()}${LINE_BREAK}${ifname}`);
        try {
          await link(tmp, join(dir, ip));
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
          throw e;
        } finally {
          await unlink(tmp).catch(() => undefined);
        }
        dirty = true;
        names.set(ip, ip);
        await rename(await writeTemp(ip), join(dir, LAST_IP_PREFIX + rangeId));
        return true;
      } catch (e) {
        throw fail(`reserving ${ip}`, e);
      }
    },
    async lastReservedIp(rangeId) {
      try {
        const text = (await readFile(join(dir, LAST_IP_PREFIX + rangeId), 'utf8')).trim();
        return isIp(text) ? canonicalIp(text) : undefined;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw fail(`reading ${LAST_IP_PREFIX}${rangeId}`, e);
      }
    },
    async list() {
      try {
        const files = (await readdir(dir)).filter((n) => isIp(n)).sort();
        const out: Reservation[] = [];
        for (let i = 0; i < files.length; i += 64) {
          const batch = await Promise.all(
            files.slice(i, i + 64).map(async (name) => {
              const content = await readFile(join(dir, name), 'utf8').catch((e: NodeJS.ErrnoException) => {
                if (e.code === 'ENOENT') return undefined;
                throw e;
              });
              if (content === undefined) return undefined;
              const ip = canonicalIp(name);
              names.set(ip, name);
              return parseRecord(ip, content);
            }),
          );
          for (const r of batch) if (r) out.push(r);
        }
        return out;
      } catch (e) {
        throw fail('listing reservations', e);
      }
    },
    async remove(ip) {
      try {
        await unlink(join(dir, names.get(ip) ?? ip));
        dirty = true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw fail(`releasing ${ip}`, e);
      }
    },
  };

  return {
    kind: 'file',
    dir,
    transaction: (fn) =>
      queue.run(async () => {
        try {
          await mkdir(dir, { recursive: true, mode: 0o755 });
          // host-local's flock(2) target; created for layout compatibility, never written.
          await (await open(join(dir, 'lock'), constants.O_RDONLY | constants.O_CREAT, 0o750)).close();
        } catch (e) {
          throw fail('opening the store', e);
        }
        const lock = await acquireLock(dir, timeout).catch((e) => {
          throw fail('taking the lock', e);
        });
        dirty = false;
        try {
          if (!swept || lock.brokeStale) {
            await sweep().catch((e) => {
              throw fail('removing temporary files', e);
            });
            swept = true;
          }
          const result = await fn(tx);
          if (dirty && durable)
            await syncDir().catch((e) => {
              throw fail('syncing the directory', e);
            });
          return result;
        } finally {
          await lock.release().catch(() => undefined);
        }
      }),
  };
}

/**
 * A cross-process exclusive lock for the file store. Node has no flock(2), so the lock is a file
 * `<dir>/lock.podnet` that exists only while held. It is created atomically with its content
 * (written to a temporary file, then hard-linked into place, which fails if the lock exists) and
 * names its owner: host, PID and the PID's start time (from /proc, so a reused PID is not mistaken
 * for the owner). A waiter that finds the owner dead breaks the lock; breakers serialise on
 * `lock.podnet.break` and re-check the owner's token before unlinking, so a fresh lock taken
 * meanwhile is never removed.
 */
import { randomBytes } from 'node:crypto';
import { link, readFile, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { PodnetError } from '@podnet/core';

export const TMP_PREFIX = '.podnet-tmp-';

interface Owner {
  host: string;
  pid: number;
  start?: string;
  token: string;
}

export interface HeldLock {
  readonly token: string;
  /** True when a dead owner's lock was broken on the way in (its half-done work may be on disk). */
  readonly brokeStale: boolean;
  release(): Promise<void>;
}

/** The kernel's start time of `pid` (clock ticks since boot), or undefined where /proc is missing. */
async function startTime(pid: number): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

async function isAlive(owner: Owner): Promise<boolean> {
  if (owner.host !== hostname()) return true;
  try {
    process.kill(owner.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  if (owner.start === undefined) return true;
  const now = await startTime(owner.pid);
  return now === undefined || now === owner.start;
}

async function readOwner(path: string): Promise<Owner | null | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const o = JSON.parse(text) as Owner;
    return typeof o.pid === 'number' && typeof o.token === 'string' && typeof o.host === 'string' ? o : null;
  } catch {
    return null;
  }
}

/** Creates `path` holding `content` atomically; false when it already exists. */
async function createWithContent(dir: string, path: string, content: string): Promise<boolean> {
  const tmp = join(dir, `${TMP_PREFIX}lock-${randomBytes(6).toString('hex')}`);
  await writeFile(tmp, content, { flag: 'wx', mode: 0o644 });
  try {
    await link(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

async function unlinkQuiet(path: string): Promise<void> {
  await unlink(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT') throw e;
  });
}

/** Removes the lock at `path` when its owner is dead: `broken`, `absent` (already gone) or `held`. */
async function breakIfStale(dir: string, path: string, me: string): Promise<'broken' | 'absent' | 'held'> {
  const owner = await readOwner(path);
  if (owner === undefined) return 'absent';
  if (owner !== null && (await isAlive(owner))) return 'held';
  const breakPath = `${path}.break`;
  if (!(await createWithContent(dir, breakPath, me))) {
    const breaker = await readOwner(breakPath);
    if (breaker === null || (breaker && !(await isAlive(breaker)))) await unlinkQuiet(breakPath);
    return 'held';
  }
  try {
    const again = await readOwner(path);
    if (again === undefined) return 'absent';
    if (again === null ? owner !== null : owner === null || again.token !== owner.token) return 'held';
    await unlinkQuiet(path);
    return 'broken';
  } finally {
    await unlinkQuiet(breakPath);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function acquireLock(dir: string, timeoutMs: number): Promise<HeldLock> {
  const path = join(dir, 'lock.podnet');
  const token = randomBytes(12).toString('hex');
  const me = JSON.stringify({
    host: hostname(),
    pid: process.pid,
    start: await startTime(process.pid),
    token,
  });
  const deadline = Date.now() + timeoutMs;
  let brokeStale = false;
  let delay = 1;
  for (;;) {
    try {
      if (await createWithContent(dir, path, me)) break;
    } catch (e) {
      // Another holder's clean-up may remove our temporary file between write and link.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      continue;
    }
    const state = await breakIfStale(dir, path, me);
    if (state !== 'held') {
      brokeStale ||= state === 'broken';
      continue;
    }
    if (Date.now() >= deadline) {
      const owner = await readOwner(path);
      throw new PodnetError(
        'PODNET_IPAM_STORE',
        `${path}: timed out after ${timeoutMs} ms waiting for the lock${owner ? ` held by pid ${owner.pid} on ${owner.host}` : ''}`,
        { retryable: true },
      );
    }
    await sleep(delay + Math.random() * delay);
    delay = Math.min(delay * 2, 32);
  }
  return {
    token,
    brokeStale,
    async release() {
      const owner = await readOwner(path);
      if (owner && owner.token === token) await unlinkQuiet(path);
    },
  };
}

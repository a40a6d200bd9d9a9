/**
 * The cluster's state directory (`<stateDir>/<cluster>/`): `state.json` records what the cluster
 * made, written BEFORE each creation step, so `down` after a crash or `kill -9` knows what to
 * remove (the name prefix is the fallback sweep). Also the apps' configs, logs and the
 * supervisor's status. Writes are atomic (temp file + rename).
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { type ClusterDataplane, PodnetError } from '@podnet/core';
import type { AppliedRules } from './netfilter.js';

export const STATE_VERSION = 1;

export interface ClusterStateFile {
  version: number;
  cluster: string;
  prefix: string;
  /** `applying` while an apply runs; `ready` after success; `failed` after a failed update. */
  phase: 'applying' | 'ready' | 'failed';
  /** The last plan applied in full. */
  plan?: ClusterDataplane;
  /** Namespaces created or about to be created (written before `ip netns add`). */
  namespaces: string[];
  /** Rules applied per node namespace. */
  rules: Record<string, AppliedRules>;
  /** The supervisor process, once started. */
  supervisor?: { pid: number };
  /** The generation of apps.json last written. */
  appsGeneration: number;
  updatedAt: string;
}

export function clusterDir(stateDir: string, cluster: string): string {
  return join(stateDir, cluster);
}

export function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(tmp, path);
}

export function readJson<T>(path: string): T | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (e) {
    throw new PodnetError('PODNET_BACKEND', `${path}: unreadable state file: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

export function readState(dir: string): ClusterStateFile | undefined {
  return readJson<ClusterStateFile>(join(dir, 'state.json'));
}

export function writeState(dir: string, state: ClusterStateFile): void {
  mkdirSync(dir, { recursive: true });
  writeJsonAtomic(join(dir, 'state.json'), { ...state, updatedAt: new Date().toISOString() });
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * An exclusive lock on the cluster directory for one apply: `lock` holds the owner's pid; a lock
 * whose owner is dead is taken over.
 */
export function acquireLock(dir: string, cluster: string): () => void {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      let held = true;
      return () => {
        if (held) rmSync(path, { force: true });
        held = false;
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = Number(readFileSync(path, 'utf8').trim());
      if (Number.isInteger(owner) && owner > 0 && pidAlive(owner)) {
        throw new PodnetError(
          'PODNET_BACKEND',
          `cluster ${cluster} is being changed by process ${owner} (${path})`,
          {
            retryable: true,
          },
        );
      }
      rmSync(path, { force: true });
    }
  }
  throw new PodnetError('PODNET_BACKEND', `cluster ${cluster}: cannot take the lock ${path}`, {
    retryable: true,
  });
}

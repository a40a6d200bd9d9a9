/**
 * Pods' /etc/resolv.conf: `ip netns exec NAME` bind-mounts `/etc/netns/NAME/resolv.conf` over
 * /etc/resolv.conf, so writing the kubelet's file there gives `podnet exec` (and every app started
 * in the namespace) the cluster DNS and search path. Only directories named with the cluster's
 * prefix are touched.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterDataplane } from '@podnet/core';
import type { FlatPlan } from './flatten.js';

export const NETNS_ETC = '/etc/netns';

/** Writes every resolv.conf of the plan and removes the cluster's ones the plan no longer has. */
export function syncResolvConfs(
  plan: ClusterDataplane,
  flat: FlatPlan,
  prefix: string,
  root = NETNS_ETC,
): void {
  const wanted = new Map<string, string>();
  for (const node of plan.nodes) {
    for (const r of node.resolvConfs ?? []) {
      const e = flat.namespaces.find((n) => n.owner === node.node && n.logical === r.netns);
      if (e) wanted.set(e.kernel, r.content);
    }
  }
  for (const [kernel, content] of wanted) {
    const dir = join(root, kernel);
    mkdirSync(dir, { recursive: true });
    const tmp = join(dir, '.resolv.conf.tmp');
    writeFileSync(tmp, content.endsWith('\n') ? content : `${content}\n`);
    renameSync(tmp, join(dir, 'resolv.conf'));
  }
  for (const d of clusterDirs(prefix, root))
    if (!wanted.has(d)) rmSync(join(root, d), { recursive: true, force: true });
}

/** Removes every /etc/netns directory of the cluster. */
export function removeResolvConfs(prefix: string, root = NETNS_ETC): void {
  for (const d of clusterDirs(prefix, root)) rmSync(join(root, d), { recursive: true, force: true });
}

function clusterDirs(prefix: string, root: string): string[] {
  return existsSync(root) ? readdirSync(root).filter((d) => d.startsWith(prefix)) : [];
}

/**
 * Kernel names of everything a cluster makes. Every namespace name starts with the cluster prefix
 * `pn-<cluster>.`; cluster names cannot contain a dot, so one cluster's prefix never matches
 * another's names (`pn-a.` vs `pn-a-b.`) and a prefix sweep removes exactly one cluster.
 * Device names inside the fabric namespace are hashed: short (≤ 11 characters, the kernel allows
 * 15), deterministic, and stable when nodes or segments are added.
 */
import { fnv1a64, InvalidArgumentError } from '@podnet/core';

const CLUSTER_NAME = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;

/** Validates a cluster name: 1-32 characters, lowercase letters, digits and inner dashes. */
export function checkClusterName(name: unknown): string {
  if (typeof name !== 'string' || !CLUSTER_NAME.test(name)) {
    throw new InvalidArgumentError(
      'clusterName',
      `${JSON.stringify(name)} is not a valid cluster name (1-32 characters: a-z, 0-9 and inner "-")`,
    );
  }
  return name;
}

/** The prefix of every namespace of the cluster. */
export function clusterPrefix(cluster: string): string {
  return `pn-${checkClusterName(cluster)}.`;
}

/** The argv element that marks every process the cluster runs (supervisor and app runners). */
export function clusterMarker(cluster: string): string {
  return `--podnet-cluster=${cluster}`;
}

export const fabricNetns = (prefix: string): string => `${prefix}fabric`;
export const nodeNetns = (prefix: string, node: string): string => `${prefix}n-${node}`;
export const podNetnsKernel = (prefix: string, pod: { namespace: string; name: string }): string =>
  `${prefix}p-${pod.namespace}_${pod.name}`;
export const routerNetns = (prefix: string, router: string): string => `${prefix}r-${router}`;
export const hostNetns = (prefix: string, host: string): string => `${prefix}h-${host}`;
/** A node namespace that is neither its root nor a pod's (not rendered by today's plugins). */
export const otherNetns = (prefix: string, node: string, netns: string): string =>
  `${prefix}x-${node}-${netns.replace(/\//g, '_')}`;

function h8(text: string): string {
  return (fnv1a64(text) & 0xffffffffn).toString(16).padStart(8, '0');
}

/** The bridge of an underlay segment, in the fabric namespace. */
export const segmentBridge = (segment: string): string => `br-${h8(`segment/${segment}`)}`;
/** The fabric end of a node uplink (`eth0`) veth. */
export const uplinkPort = (node: string, dev: string): string => `nd-${h8(`node/${node}/${dev}`)}`;
/** The fabric end of a router interface veth. */
export const routerPort = (router: string, segment: string): string =>
  `rt-${h8(`router/${router}/${segment}`)}`;
/** The fabric end of a fabric host's veth. */
export const hostPort = (host: string): string => `hs-${h8(`host/${host}`)}`;

const NETNS_NAME = /^[A-Za-z0-9._-]{1,200}$/;

/** Refuses a kernel namespace name that `ip netns` cannot hold (`/`, spaces, too long). */
export function checkNetnsName(name: string, what: string): string {
  if (!NETNS_NAME.test(name)) {
    throw new InvalidArgumentError(
      what,
      `"${name}" cannot be a network namespace name (letters, digits, . _ -, at most 200)`,
    );
  }
  return name;
}

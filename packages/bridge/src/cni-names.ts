/**
 * Names the CNI bridge plugin gives things, made deterministic: the plugin picks veth names and the
 * runtime picks container IDs at random; here both derive from the pod so a render is reproducible.
 */
import { createHash } from 'node:crypto';
import { deterministicMac, fnv1a64 } from '@podnet/core';

export interface PodRef {
  namespace: string;
  name: string;
  uid: string;
}

/** The pod-side interface name (CNI_IFNAME as kubelet passes it). */
export const POD_IFNAME = 'eth0';

/** Host-side veth name: `veth` + 8 hex characters, like the plugin's random names, from the pod and ifname. */
export function vethName(pod: { namespace: string; name: string }, ifname = POD_IFNAME): string {
  const h = fnv1a64(`${pod.namespace}/${pod.name}/${ifname}`) & 0xffffffffn;
  return `veth${h.toString(16).padStart(8, '0')}`;
}

/** A 64-hex sandbox container ID (what the runtime passes as CNI_CONTAINERID), derived from the pod UID. */
export function containerId(pod: PodRef): string {
  return createHash('sha256').update(`sandbox/${pod.namespace}/${pod.name}/${pod.uid}`).digest('hex');
}

/** The network namespace path a runtime would create for the sandbox (`/var/run/netns/cni-<uuid>`). */
export function sandboxPath(pod: PodRef): string {
  const h = createHash('sha256').update(`netns/${pod.uid}`).digest('hex');
  const uuid = `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
  return `/var/run/netns/cni-${uuid}`;
}

/** `utils.FormatChainName`: `CNI-` + the first 24 hex characters of sha512(name + id). */
export function formatChainName(name: string, id: string): string {
  return `CNI-${createHash('sha512')
    .update(name + id)
    .digest('hex')
    .slice(0, 24)}`;
}

/** `utils.FormatComment`: `name: "<network>" id: "<containerID>"`. */
export function formatComment(name: string, id: string): string {
  return `name: "${name}" id: "${id}"`;
}

export function bridgeMac(node: string, bridge: string): string {
  return deterministicMac(`node/${node}/${bridge}`);
}

export function hostVethMac(pod: { namespace: string; name: string }, ifname = POD_IFNAME): string {
  return deterministicMac(`pod/${pod.namespace}/${pod.name}/${ifname}/host`);
}

export function podIfMac(pod: { namespace: string; name: string }, ifname = POD_IFNAME): string {
  return deterministicMac(`pod/${pod.namespace}/${pod.name}/${ifname}`);
}

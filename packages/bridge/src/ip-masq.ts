/**
 * The bridge plugin's `ipMasq` (pkg/ip/ipmasq_iptables_linux.go SetupIPMasq): one nat chain per
 * container, named from the network name and container ID, that ACCEPTs traffic to the pod's own
 * subnet and MASQUERADEs the rest (multicast excepted); POSTROUTING jumps to it for the pod's IP.
 * Rendered as `iptables-restore --noflush` text in the order iptables-save prints the rules.
 */
import type { PodInfo } from '@podnet/core';
import type { PodAddress } from './addressing.js';
import { containerId, formatChainName, formatComment } from './cni-names.js';

export interface MasqEntry {
  pod: PodInfo;
  addresses: PodAddress[];
}

export function ipMasqRules(network: string, entries: readonly MasqEntry[]): { ipv4: string; ipv6: string } {
  return { ipv4: renderFamily(network, entries, 4), ipv6: renderFamily(network, entries, 6) };
}

function quote(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function renderFamily(network: string, entries: readonly MasqEntry[], family: 4 | 6): string {
  const chains: string[] = [];
  const rules: string[] = [];
  const multicast = family === 4 ? '224.0.0.0/4' : 'ff00::/8';
  const host = family === 4 ? 32 : 128;
  for (const { pod, addresses } of entries) {
    const mine = addresses.filter((a) => a.family === family);
    if (mine.length === 0) continue;
    const id = containerId(pod);
    const chain = formatChainName(network, id);
    const comment = `-m comment --comment ${quote(formatComment(network, id))}`;
    chains.push(`:${chain} - [0:0]`);
    for (const a of mine) {
      rules.push(
        `-A ${chain} -d ${a.subnet} ${comment} -j ACCEPT`,
        `-A ${chain} ! -d ${multicast} ${comment} -j MASQUERADE`,
        `-A POSTROUTING -s ${a.ip}/${host} ${comment} -j ${chain}`,
      );
    }
  }
  if (chains.length === 0) return '';
  return `${['*nat', ...chains, ...rules, 'COMMIT'].join('\n')}\n`;
}

/**
 * The rendered text against the real iptables-restore / ip6tables-restore, inside a throwaway
 * network namespace: the full sync loads, and a full sync followed by the partial update leaves
 * the same tables as a full sync of the new state.
 */
import {
  fakeDualStackLoadBalancerWorld,
  fakeOverallWorld,
  netnsExec,
  netnsSkipReason,
  withNetns,
} from '@podnet/core/testing';
import { describe, expect, it } from 'vitest';
import { renderIptables, renderIptablesUpdate } from './iptables-proxy.js';

const reason = netnsSkipReason(['iptables-restore', 'ip6tables-restore']);
if (reason) console.log(`iptables-restore.linux.test.ts: skipped: ${reason}`);

const restore = (ns: string, family: 4 | 6, text: string) =>
  netnsExec(ns, [family === 4 ? 'iptables-restore' : 'ip6tables-restore', '--noflush'], text);

/** iptables-save of kube-proxy's tables with counters and comments stripped, chains in name order. */
function saved(ns: string, family: 4 | 6): string {
  const out = netnsExec(ns, [family === 4 ? 'iptables-save' : 'ip6tables-save']);
  const tables: string[] = [];
  let rules = new Map<string, string[]>();
  let name = '';
  for (const line of out.split('\n')) {
    if (line.startsWith('*')) {
      name = line;
      rules = new Map();
    } else if (line.startsWith(':')) rules.set(line.split(' ')[0].slice(1), []);
    else if (line.startsWith('-A ')) rules.get(line.split(' ')[1])?.push(line);
    else if (line === 'COMMIT') {
      tables.push(name, ...[...rules.keys()].sort().flatMap((c) => [`:${c}`, ...(rules.get(c) as string[])]));
    }
  }
  return tables.join('\n');
}

describe.skipIf(reason !== '')('iptables-restore in a network namespace', () => {
  it('loads the full sync of kube-proxy’s TestOverallIPTablesRules services', () =>
    withNetns('pnipt', (netns) => {
      const ns = netns('overall');
      restore(ns, 4, renderIptables(fakeOverallWorld()).ipv4);
      const nat = saved(ns, 4);
      expect(nat).toContain('-A KUBE-SVC-XPGD46QRK7WJZT7O');
      expect(nat).toContain('-A KUBE-PROXY-FIREWALL -d 5.6.7.8/32');
    }));

  it('loads both families of a dual-stack cluster', () =>
    withNetns('pnipt', (netns) => {
      const ns = netns('dual');
      const text = renderIptables(fakeDualStackLoadBalancerWorld(['10.180.0.1', 'fd00:10::1']));
      restore(ns, 4, text.ipv4);
      restore(ns, 6, text.ipv6);
      expect(saved(ns, 6)).toContain('--to-destination [fd00:10::1]:8080');
    }));

  it('ends with the same tables after full + partial update as after a full sync of the new state', () =>
    withNetns('pnipt', (netns) => {
      const before = fakeDualStackLoadBalancerWorld(['10.180.0.1', '10.180.0.2', 'fd00:10::1']);
      const after = fakeDualStackLoadBalancerWorld(['10.180.0.2', '10.180.0.3', 'fd00:10::2']);
      const incremental = netns('incr');
      const fresh = netns('fresh');
      const full = renderIptables(before);
      const update = renderIptablesUpdate(after, before);
      const target = renderIptables(after);
      for (const family of [4, 6] as const) {
        const key = family === 4 ? 'ipv4' : 'ipv6';
        restore(incremental, family, full[key]);
        restore(incremental, family, update[key]);
        restore(fresh, family, target[key]);
        expect(saved(incremental, family)).toBe(saved(fresh, family));
      }
    }));
});

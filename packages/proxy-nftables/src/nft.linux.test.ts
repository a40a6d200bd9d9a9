/**
 * The rendered transactions against the real `nft -f`, inside throwaway network namespaces: the
 * full sync loads (twice: it is idempotent), and full sync + partial update + cleanup leave the
 * same ruleset as a full sync of the new state.
 */
import {
  fakeDualStackLoadBalancerWorld,
  fakeOverallWorld,
  netnsExec,
  netnsSkipReason,
  withNetns,
} from '@podnet/core/testing';
import { describe, expect, it } from 'vitest';
import { renderNftables, renderNftablesCleanup, renderNftablesUpdate } from './nftables-proxy.js';

const reason = netnsSkipReason(['nft']);
if (reason) console.log(`nft.linux.test.ts: skipped: ${reason}`);

const nft = (ns: string, text: string) => {
  if (text !== '') netnsExec(ns, ['nft', '-f', '-'], text);
};
/** The ruleset with each block's lines sorted (nft lists set elements and chains in kernel order). */
const listed = (ns: string) =>
  netnsExec(ns, ['nft', 'list', 'ruleset'])
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .sort()
    .join('\n');

describe.skipIf(reason !== '')('nft -f in a network namespace', () => {
  it('loads the full sync of kube-proxy’s TestOverallNFTablesRules services, and loads it again', () =>
    withNetns('pnnft', (netns) => {
      const ns = netns('overall');
      const text = renderNftables(fakeOverallWorld());
      nft(ns, text);
      const first = listed(ns);
      nft(ns, text);
      expect(listed(ns)).toBe(first);
      expect(first).toContain('chain service-ULMVA6XW-ns1/svc1/tcp/p80 {');
    }));

  it('ends with the same ruleset after full + update + cleanup as after a full sync of the new state', () =>
    withNetns('pnnft', (netns) => {
      const before = fakeDualStackLoadBalancerWorld(['10.180.0.1', '10.180.0.2', 'fd00:10::1']);
      const after = fakeDualStackLoadBalancerWorld(['10.180.0.2', '10.180.0.3', 'fd00:10::2']);
      const incremental = netns('incr');
      const fresh = netns('fresh');
      nft(incremental, renderNftables(before));
      nft(incremental, renderNftablesUpdate(after, before));
      nft(incremental, renderNftablesCleanup(after, before));
      nft(fresh, renderNftables(after));
      expect(listed(incremental)).toBe(listed(fresh));
      expect(listed(fresh)).toContain('table ip6 kube-proxy {');
    }));
});

/**
 * Rule texts against the real iptables-restore and nft in a throwaway namespace: re-applying a
 * text (even with the memory of the previous apply lost) never duplicates built-in chain jumps,
 * a changed text removes the chains only the old one had, drift is detected and repaired, and nft
 * tables are replaced, not merged.
 */
import { spawnSync } from 'node:child_process';
import { bridge } from '@podnet/bridge';
import { composeDataplane, flannelMasqRules } from '@podnet/core';
import { fixtureCluster } from '@podnet/core/testing';
import { vxlan } from '@podnet/overlay-vxlan';
import { iptablesProxy } from '@podnet/proxy-iptables';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FlatNetfilter } from '../src/flatten.js';
import { type AppliedRules, applyRules, NO_RULES } from '../src/netfilter.js';
import { inNetns, skipReason, uniqueCluster } from './test-support.js';

const reason = skipReason(['nft', 'iptables-save']);
if (reason) console.log(`netfilter.linux.test.ts: skipped: ${reason}`);

const ns = `pn_nftest.${uniqueCluster('nf')}`;

function rules(ipv4: string, nftables = ''): FlatNetfilter {
  return { node: 'node-1', netns: ns, iptables: { ipv4, ipv6: '' }, nftables, ipvs: '', ipset: '' };
}

const save = (table: string) =>
  inNetns(ns, ['iptables-save', '-t', table])
    .split('\n')
    .filter((l) => l.startsWith('-A') || l.startsWith(':'))
    .map((l) => l.replace(/ \[\d+:\d+\]$/, ''));

const masq = flannelMasqRules(['10.244.0.0/16'], ['10.244.0.0/24']).ipv4;
const EXTRA = '*nat\n:PODNET-OLD - [0:0]\n-A PREROUTING -d 10.96.0.1/32 -j PODNET-OLD\n-A PODNET-OLD -j RETURN\nCOMMIT\n';
const NEW = '*nat\n:PODNET-NEW - [0:0]\n-A OUTPUT -d 10.96.0.2/32 -j PODNET-NEW\n-A PODNET-NEW -j RETURN\nCOMMIT\n';

describe.skipIf(reason !== '')('rule texts in a real namespace', () => {
  beforeAll(() => {
    spawnSync('ip', ['netns', 'add', ns]);
  });
  afterAll(() => {
    spawnSync('ip', ['netns', 'del', ns]);
  });

  let applied: AppliedRules;

  it('applies a text once, then re-applies nothing', async () => {
    const first = await applyRules(ns, rules(masq + EXTRA), NO_RULES);
    expect(first.changed).toEqual(['iptables ipv4']);
    applied = first.applied;
    const again = await applyRules(ns, rules(masq + EXTRA), applied);
    expect(again.changed).toEqual([]);
    expect(save('nat').filter((l) => l.startsWith('-A POSTROUTING') || l.startsWith('-A PREROUTING'))).toEqual([
      '-A PREROUTING -d 10.96.0.1/32 -j PODNET-OLD',
      '-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG',
    ]);
  });

  it('never duplicates built-in chain jumps, even without the record of the previous apply', async () => {
    await applyRules(ns, rules(masq + EXTRA), NO_RULES);
    await applyRules(ns, rules(masq + EXTRA), NO_RULES);
    const nat = save('nat');
    expect(nat.filter((l) => l.includes('-j FLANNEL-POSTRTG'))).toHaveLength(1);
    expect(nat.filter((l) => l.includes('-j PODNET-OLD'))).toHaveLength(1);
    expect(save('filter').filter((l) => l.includes('-j FLANNEL-FWD'))).toHaveLength(1);
  });

  it('a changed text leaves exactly the new rules: stale chains and their jumps are gone', async () => {
    const next = await applyRules(ns, rules(masq + NEW), applied);
    expect(next.changed).toEqual(['iptables ipv4']);
    const nat = save('nat');
    expect(nat.some((l) => l.includes('PODNET-OLD'))).toBe(false);
    expect(nat).toContain('-A OUTPUT -d 10.96.0.2/32 -j PODNET-NEW');
    expect(nat.filter((l) => l.includes('-j FLANNEL-POSTRTG'))).toHaveLength(1);
    applied = next.applied;
  });

  it('repairs drift: a rule deleted by hand comes back on re-apply', async () => {
    inNetns(ns, ['iptables', '-t', 'nat', '-D', 'OUTPUT', '-d', '10.96.0.2/32', '-j', 'PODNET-NEW']);
    const r = await applyRules(ns, rules(masq + NEW), applied);
    expect(r.changed).toEqual(['iptables ipv4']);
    expect(save('nat')).toContain('-A OUTPUT -d 10.96.0.2/32 -j PODNET-NEW');
    applied = r.applied;
  });

  it('an empty text removes every rule podnet wrote', async () => {
    await applyRules(ns, rules(''), applied);
    expect(save('nat').filter((l) => l.startsWith('-A'))).toEqual([]);
    expect(save('filter').filter((l) => l.startsWith('-A'))).toEqual([]);
    expect(save('nat').some((l) => l.startsWith(':FLANNEL') || l.startsWith(':PODNET'))).toBe(false);
  });

  it('kube-proxy’s full sync (with its -I jumps) re-applied leaves the same tables', async () => {
    const state = fixtureCluster({
      nodes: [{ name: 'node-1' }],
      pods: [{ name: 'w', node: 'node-1', labels: { app: 'w' }, ports: [{ port: 8080 }] }],
      services: [{ name: 'w', selector: { app: 'w' }, type: 'NodePort', ports: [{ port: 80, targetPort: 8080, nodePort: 30080 }] }],
    });
    const text = composeDataplane(state, { podNetwork: bridge(), overlay: vxlan(), serviceProxy: iptablesProxy() }).nodes[0].iptables.ipv4;
    expect(text).toMatch(/^-I INPUT /m);
    const first = await applyRules(ns, rules(text), NO_RULES);
    const snapshot = [save('nat'), save('filter')];
    await applyRules(ns, rules(text), NO_RULES);
    expect([save('nat'), save('filter')]).toEqual(snapshot);
    await applyRules(ns, rules(''), first.applied);
  });

  it('replaces an nft table instead of merging into it, and deletes it with an empty text', async () => {
    const a = 'table ip podnet-test {\n  chain one {\n    type filter hook input priority 0; policy accept;\n    counter\n  }\n}\n';
    const b = 'add table ip podnet-test\nadd chain ip podnet-test two { type filter hook output priority 0 ; }\nadd rule ip podnet-test two counter\n';
    const r1 = await applyRules(ns, rules('', a), NO_RULES);
    expect(r1.changed).toEqual(['nftables']);
    expect((await applyRules(ns, rules('', a), r1.applied)).changed).toEqual([]);
    const r2 = await applyRules(ns, rules('', b), r1.applied);
    const listed = inNetns(ns, ['nft', 'list', 'table', 'ip', 'podnet-test']);
    expect(listed).toContain('chain two');
    expect(listed).not.toContain('chain one');
    await applyRules(ns, rules('', ''), r2.applied);
    expect(spawnSync('ip', ['netns', 'exec', ns, 'nft', 'list', 'table', 'ip', 'podnet-test']).status).not.toBe(0);
  });
});

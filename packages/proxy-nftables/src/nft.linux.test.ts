/**
 * The rendered transactions against the real `nft -f`, inside throwaway network namespaces: the
 * full sync loads (twice: it is idempotent), and full sync + partial update + cleanup leave the
 * same ruleset as a full sync of the new state.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { renderNftables, renderNftablesCleanup, renderNftablesUpdate } from './nftables-proxy.js';
import { endpoint, overallWorld, port, service, slice, TEST_NODE, world } from './test-support.js';

const has = (bin: string) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
const reason =
  process.platform !== 'linux'
    ? 'not Linux'
    : process.getuid?.() !== 0
      ? 'not root'
      : !has('nft') || !has('ip')
        ? 'nft or ip is missing'
        : '';
if (reason) console.log(`nft.linux.test.ts: skipped: ${reason}`);

const prefix = `pnnft-${process.pid}-${randomBytes(2).toString('hex')}`;
const namespaces: string[] = [];

function run(args: string[], input?: string): string {
  const r = spawnSync(args[0], args.slice(1), { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

function netns(tag: string): string {
  const name = `${prefix}-${tag}`;
  run(['ip', 'netns', 'add', name]);
  namespaces.push(name);
  return name;
}

const nft = (ns: string, text: string) => {
  if (text !== '') run(['ip', 'netns', 'exec', ns, 'nft', '-f', '-'], text);
};
/** The ruleset with each block's lines sorted (nft lists set elements and chains in kernel order). */
const listed = (ns: string) =>
  run(['ip', 'netns', 'exec', ns, 'nft', 'list', 'ruleset'])
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .sort()
    .join('\n');

afterAll(() => {
  for (const ns of namespaces) spawnSync('ip', ['netns', 'del', ns]);
});

const dualStack = (endpoints: string[]) =>
  world({
    network: {
      clusterCIDRs: ['10.0.0.0/8', 'fd00:10::/64'],
      ipFamilies: [4, 6],
      serviceCIDRs: ['172.30.0.0/16', 'fd00:30::/112'],
    },
    node: { internalIPs: ['192.168.0.2', '2001:db8::2'] },
    services: [
      service('ns1', 'web', {
        type: 'LoadBalancer',
        clusterIPs: ['172.30.0.41', 'fd00:30::41'],
        ipFamilies: [4, 6],
        ports: [port('http', 80, { nodePort: 30080 })],
        loadBalancerIPs: ['5.6.7.8', '2001:db8:99::8'],
        loadBalancerSourceRanges: ['203.0.113.0/25', '2001:db8:77::/48'],
        sessionAffinity: 'ClientIP',
        externalTrafficPolicy: 'Local',
      }),
    ],
    slices: [
      slice(
        'ns1',
        'web',
        endpoints.filter((e) => !e.includes(':')).map((ip) => endpoint(ip, { nodeName: TEST_NODE })),
        [{ name: 'http', port: 8080 }],
      ),
      slice(
        'ns1',
        'web',
        endpoints.filter((e) => e.includes(':')).map((ip) => endpoint(ip)),
        [{ name: 'http', port: 8080 }],
        'IPv6',
      ),
    ],
  });

describe.skipIf(reason !== '')('nft -f in a network namespace', () => {
  it('loads the full sync of kube-proxy’s TestOverallNFTablesRules services, and loads it again', () => {
    const ns = netns('overall');
    const text = renderNftables(overallWorld());
    nft(ns, text);
    const first = listed(ns);
    nft(ns, text);
    expect(listed(ns)).toBe(first);
    expect(first).toContain('chain service-ULMVA6XW-ns1/svc1/tcp/p80 {');
  });

  it('ends with the same ruleset after full + update + cleanup as after a full sync of the new state', () => {
    const before = dualStack(['10.180.0.1', '10.180.0.2', 'fd00:10::1']);
    const after = dualStack(['10.180.0.2', '10.180.0.3', 'fd00:10::2']);
    const incremental = netns('incr');
    const fresh = netns('fresh');
    nft(incremental, renderNftables(before));
    nft(incremental, renderNftablesUpdate(after, before));
    nft(incremental, renderNftablesCleanup(after, before));
    nft(fresh, renderNftables(after));
    expect(listed(incremental)).toBe(listed(fresh));
    expect(listed(fresh)).toContain('table ip6 kube-proxy {');
  });
});

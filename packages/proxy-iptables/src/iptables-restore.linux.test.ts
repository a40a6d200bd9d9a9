/**
 * The rendered text against the real iptables-restore / ip6tables-restore, inside a throwaway
 * network namespace: the full sync loads, and a full sync followed by the partial update leaves
 * the same tables as a full sync of the new state.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { renderIptables, renderIptablesUpdate } from './iptables-proxy.js';
import { endpoint, overallWorld, port, service, slice, TEST_NODE, world } from './test-support.js';

const has = (bin: string) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
const reason =
  process.platform !== 'linux'
    ? 'not Linux'
    : process.getuid?.() !== 0
      ? 'not root'
      : !has('iptables-restore') || !has('ip6tables-restore') || !has('ip')
        ? 'iptables-restore, ip6tables-restore or ip is missing'
        : '';
if (reason) console.log(`iptables-restore.linux.test.ts: skipped: ${reason}`);

const prefix = `pnipt-${process.pid}-${randomBytes(2).toString('hex')}`;
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

const restore = (ns: string, family: 4 | 6, text: string) =>
  run(
    ['ip', 'netns', 'exec', ns, family === 4 ? 'iptables-restore' : 'ip6tables-restore', '--noflush'],
    text,
  );

/** iptables-save of kube-proxy's tables with counters and comments stripped, chains in name order. */
function saved(ns: string, family: 4 | 6): string {
  const out = run(['ip', 'netns', 'exec', ns, family === 4 ? 'iptables-save' : 'ip6tables-save']);
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
        healthCheckNodePort: 32000,
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

describe.skipIf(reason !== '')('iptables-restore in a network namespace', () => {
  it('loads the full sync of kube-proxy’s TestOverallIPTablesRules services', () => {
    const ns = netns('overall');
    restore(ns, 4, renderIptables(overallWorld()).ipv4);
    const nat = saved(ns, 4);
    expect(nat).toContain('-A KUBE-SVC-XPGD46QRK7WJZT7O');
    expect(nat).toContain('-A KUBE-PROXY-FIREWALL -d 5.6.7.8/32');
  });

  it('loads both families of a dual-stack cluster', () => {
    const ns = netns('dual');
    const text = renderIptables(dualStack(['10.180.0.1', 'fd00:10::1']));
    restore(ns, 4, text.ipv4);
    restore(ns, 6, text.ipv6);
    expect(saved(ns, 6)).toContain('--to-destination [fd00:10::1]:8080');
  });

  it('ends with the same tables after full + partial update as after a full sync of the new state', () => {
    const before = dualStack(['10.180.0.1', '10.180.0.2', 'fd00:10::1']);
    const after = dualStack(['10.180.0.2', '10.180.0.3', 'fd00:10::2']);
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
  });
});

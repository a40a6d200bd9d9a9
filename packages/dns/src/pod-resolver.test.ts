import { describe, expect, it } from 'vitest';
import { resolveFromPod, searchResolve } from './pod-resolver.js';
import { presentRecord } from './records.js';
import { ndotsOf, parseResolvConf, podResolvConf, renderResolvConf } from './resolv-conf.js';
import { pod, testCluster } from './test-cluster.js';

const state = testCluster();
const network = state.network;

describe('resolv.conf as the kubelet writes it', () => {
  it('ClusterFirst: the DNS service, three cluster search domains, ndots:5', () => {
    const conf = podResolvConf(network, pod('default', 'client', ['10.244.1.50']));
    expect(renderResolvConf(conf)).toBe(
      'search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n',
    );
    expect(ndotsOf(conf)).toBe(5);
  });

  it("appends the node's search domains after the cluster ones", () => {
    const node = {
      nameservers: ['192.0.2.1'],
      searches: ['corp.example', 'cluster.local'],
      options: [{ name: 'timeout', value: '2' }],
    };
    const conf = podResolvConf(network, pod('db', 'x', []), { node });
    expect(conf.searches).toEqual([
      'db.svc.cluster.local',
      'svc.cluster.local',
      'cluster.local',
      'corp.example',
    ]);
    expect(conf.options).toEqual([{ name: 'ndots', value: '5' }]);
  });

  it('hostNetwork with ClusterFirst falls back to Default; ClusterFirstWithHostNet keeps the cluster DNS', () => {
    const node = { nameservers: ['192.0.2.1'], searches: ['corp.example'], options: [] };
    const host = pod('kube-system', 'agent', ['192.168.50.10'], { hostNetwork: true });
    expect(podResolvConf(network, host, { node })).toEqual(node);
    expect(
      podResolvConf(network, { ...host, dnsPolicy: 'ClusterFirstWithHostNet' }, { node }).nameservers,
    ).toEqual(['10.96.0.10']);
    expect(podResolvConf(network, { ...host, dnsPolicy: 'Default', hostNetwork: false }, { node })).toEqual(
      node,
    );
  });

  it('None takes dnsConfig only; dnsConfig merges without duplicates and overrides options by name', () => {
    const none = pod('default', 'n', [], {
      dnsPolicy: 'None',
      dnsConfig: {
        nameservers: ['1.1.1.1'],
        searches: ['a.example'],
        options: [{ name: 'ndots', value: '2' }],
      },
    });
    expect(podResolvConf(network, none)).toEqual({
      nameservers: ['1.1.1.1'],
      searches: ['a.example'],
      options: [{ name: 'ndots', value: '2' }],
    });
    const merged = podResolvConf(
      network,
      pod('default', 'm', [], {
        dnsConfig: {
          nameservers: ['10.96.0.10', '1.1.1.1', '8.8.8.8', '9.9.9.9'],
          searches: ['svc.cluster.local', 'x.example'],
          options: [{ name: 'ndots', value: '1' }, { name: 'edns0' }],
        },
      }),
    );
    expect(merged.nameservers).toEqual(['10.96.0.10', '1.1.1.1', '8.8.8.8']);
    expect(merged.searches).toEqual([
      'default.svc.cluster.local',
      'svc.cluster.local',
      'cluster.local',
      'x.example',
    ]);
    expect(merged.options).toEqual([{ name: 'ndots', value: '1' }, { name: 'edns0' }]);
  });

  it('applies the kubelet search limits: 32 domains, 2048 characters (6 and 256 without ExpandedDNSConfig)', () => {
    const searches = Array.from({ length: 40 }, (_, i) => `d${i}.example`);
    const p = pod('default', 's', [], {
      dnsPolicy: 'None',
      dnsConfig: { nameservers: [], searches, options: [] },
    });
    expect(podResolvConf(network, p).searches).toHaveLength(32);
    expect(podResolvConf(network, p, { expandedDnsConfig: false }).searches).toEqual(searches.slice(0, 6));
    const long = Array.from({ length: 20 }, (_, i) => `${'x'.repeat(200)}.d${i}.example`);
    const q = pod('default', 'l', [], {
      dnsPolicy: 'None',
      dnsConfig: { nameservers: [], searches: [...long, 'y'.repeat(254)], options: [] },
    });
    const fitted = podResolvConf(network, q).searches;
    expect(fitted.join(' ').length).toBeLessThanOrEqual(2048);
    expect(fitted).toEqual(long.slice(0, fitted.length));
  });

  it('parses resolv.conf text: nameservers accumulate, the last search wins', () => {
    expect(
      parseResolvConf(
        '# c\nnameserver 1.1.1.1\nsearch a b.\nnameserver 2.2.2.2\nsearch c\noptions ndots:2 rotate\n',
      ),
    ).toEqual({
      nameservers: ['1.1.1.1', '2.2.2.2'],
      searches: ['c'],
      options: [{ name: 'ndots', value: '2' }, { name: 'rotate' }],
    });
  });
});

describe('the pod resolver: glibc search-path expansion', () => {
  const client = 'default/client';
  const tried = (r: { queries: { name: string; rcode: string }[] }) =>
    r.queries.map((q) => `${q.name} ${q.rcode}`);

  it('a short name: the first search domain answers', () => {
    const r = resolveFromPod(state, client, 'svc1.testns', 'A');
    expect(tried(r)).toEqual([
      'svc1.testns.default.svc.cluster.local NXDOMAIN',
      'svc1.testns.svc.cluster.local NOERROR',
    ]);
    expect(r.response.answers.map(presentRecord)).toEqual(['svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1']);
    expect(r.question.name).toBe('svc1.testns.svc.cluster.local');
  });

  it('the full service name with 4 dots still walks the whole search list first (the ndots:5 cost)', () => {
    const r = resolveFromPod(state, client, 'svc1.testns.svc.cluster.local', 'A');
    expect(tried(r)).toEqual([
      'svc1.testns.svc.cluster.local.default.svc.cluster.local NXDOMAIN',
      'svc1.testns.svc.cluster.local.svc.cluster.local NXDOMAIN',
      'svc1.testns.svc.cluster.local.cluster.local NXDOMAIN',
      'svc1.testns.svc.cluster.local NOERROR',
    ]);
  });

  it('a trailing dot asks the name alone', () => {
    const r = resolveFromPod(state, client, 'svc1.testns.svc.cluster.local.', 'A');
    expect(tried(r)).toEqual(['svc1.testns.svc.cluster.local NOERROR']);
  });

  it('an external name: three NXDOMAINs, then the name itself (REFUSED here: no upstream)', () => {
    const r = resolveFromPod(state, client, 'example.org', 'A');
    expect(tried(r)).toEqual([
      'example.org.default.svc.cluster.local NXDOMAIN',
      'example.org.svc.cluster.local NXDOMAIN',
      'example.org.cluster.local NXDOMAIN',
      'example.org REFUSED',
    ]);
    expect(r.response.rcode).toBe('REFUSED');
    const s = resolveFromPod(state, client, 'static.example.com', 'A');
    expect(s.response.answers.map(presentRecord)).toEqual(['static.example.com. 5 IN A 192.0.2.53']);
  });

  it('NODATA keeps searching and is what the resolver reports when nothing answers', () => {
    const r = resolveFromPod(state, client, 'svc1.testns', 'AAAA');
    expect(tried(r)).toEqual([
      'svc1.testns.default.svc.cluster.local NXDOMAIN',
      'svc1.testns.svc.cluster.local NOERROR',
      'svc1.testns.cluster.local NXDOMAIN',
      'svc1.testns REFUSED',
    ]);
    expect(r.question.name).toBe('svc1.testns.svc.cluster.local');
    expect(r.response.rcode).toBe('NOERROR');
  });

  it('with enough dots the name as given goes first', () => {
    const conf = {
      nameservers: ['10.96.0.10'],
      searches: ['default.svc.cluster.local'],
      options: [{ name: 'ndots', value: '1' }],
    };
    const asked: string[] = [];
    const r = searchResolve('a.b', 'A', conf, (_ns, q) => {
      asked.push(q.name);
      return {
        rcode: 'NXDOMAIN',
        authoritative: true,
        recursionAvailable: false,
        answers: [],
        authorities: [],
        additionals: [],
        source: 'kubernetes',
      };
    });
    expect(asked).toEqual(['a.b', 'a.b.default.svc.cluster.local']);
    // The initial as-is failure is what glibc reports.
    expect(r.question.name).toBe('a.b');
  });

  it('a REFUSED search query stops the search; the next nameserver is asked on REFUSED', () => {
    const conf = {
      nameservers: ['192.0.2.1', '192.0.2.2'],
      searches: ['one.example', 'two.example'],
      options: [],
    };
    const asked: string[] = [];
    searchResolve('host', 'A', conf, (ns, q) => {
      asked.push(`${ns} ${q.name}`);
      return {
        rcode: 'REFUSED',
        authoritative: false,
        recursionAvailable: false,
        answers: [],
        authorities: [],
        additionals: [],
        source: 'refused',
      };
    });
    expect(asked).toEqual([
      '192.0.2.1 host.one.example',
      '192.0.2.2 host.one.example',
      '192.0.2.1 host',
      '192.0.2.2 host',
    ]);
  });

  it('a dnsPolicy None pod with its own resolver only knows the static table', () => {
    const custom = pod('default', 'custom', ['10.244.1.60'], {
      dnsPolicy: 'None',
      dnsConfig: { nameservers: ['192.0.2.1'], searches: [], options: [] },
    });
    const s = { ...state, pods: [...state.pods, custom] };
    expect(resolveFromPod(s, 'default/custom', 'svc1.testns.svc.cluster.local', 'A').response.rcode).toBe(
      'SERVFAIL',
    );
    expect(resolveFromPod(s, 'default/custom', 'static.example.com', 'A').response.answers).toHaveLength(1);
  });

  it('names a missing pod', () => {
    expect(() => resolveFromPod(state, 'default/nope', 'x', 'A')).toThrow(/pod default\/nope not found/);
  });
});

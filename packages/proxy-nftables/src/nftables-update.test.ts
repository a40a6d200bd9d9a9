import type { EndpointSliceInfo, RenderContext, ServiceInfo } from '@podnet/core';
import {
  FAKE_NODE,
  fakeEndpoint,
  fakeGeneratedWorld,
  fakePort,
  fakeService,
  fakeSlice,
  fakeWorld,
  type GeneratedService,
} from '@podnet/core/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  nftablesProxy,
  renderNftables,
  renderNftablesCleanup,
  renderNftablesUpdate,
} from './nftables-proxy.js';
import { NftFake } from './test-support.js';

const ops = (text: string) => (text === '' ? 0 : text.trimEnd().split('\n').length);

/** A kube-proxy process: a full sync, then the partial syncs (and the delayed stale-chain cleanups). */
class Kube {
  readonly nft = new NftFake();
  private last: RenderContext;
  private pendingCleanup = '';
  constructor(first: RenderContext) {
    this.nft.apply(renderNftables(first));
    this.last = first;
  }
  /** Applies the update to `next`; returns its number of operations. */
  sync(next: RenderContext, ageStaleChains = false): number {
    if (ageStaleChains && this.pendingCleanup) this.nft.apply(this.pendingCleanup);
    const update = renderNftablesUpdate(next, this.last);
    this.nft.apply(update);
    this.pendingCleanup = renderNftablesCleanup(next, this.last);
    this.last = next;
    return ops(update);
  }
  /** The table after the pending cleanup, against a fresh full sync of the current state. */
  expectMatchesFullSync(): void {
    if (this.pendingCleanup) {
      this.nft.apply(this.pendingCleanup);
      this.pendingCleanup = '';
    }
    const fresh = new NftFake();
    fresh.apply(renderNftables(this.last));
    expect(sorted(this.nft.dump())).toBe(sorted(fresh.dump()));
  }
}

const sorted = (dump: string) => dump.split('\n').sort().join('\n');

// TestSyncProxyRulesRepeated (pkg/proxy/nftables/proxier_test.go): services and slices by step.
const svc = (n: number, p: number, pname = `p${p}`) =>
  fakeService(`ns${n}`, `svc${n}`, { clusterIPs: [`172.30.0.4${n}`], ports: [fakePort(pname, p)] });
const eps = (n: number, ips: string[], p = 80) =>
  fakeSlice(
    `ns${n}`,
    `svc${n}`,
    ips.map((ip) => fakeEndpoint(ip)),
    [{ name: `p${p}`, port: p }],
  );
const state = (services: ServiceInfo[], slices: EndpointSliceInfo[]) => fakeWorld({ services, slices });

describe('kube-proxy TestSyncProxyRulesRepeated, as transactions', () => {
  const s1 = svc(1, 80);
  const s2 = svc(2, 8080);
  const s3 = svc(3, 80);
  const s4 = svc(4, 80);
  const e1 = eps(1, ['10.0.1.1']);
  const e2 = eps(2, ['10.0.2.1'], 8080);
  const steps: [string, RenderContext, number, boolean][] = [
    ['add a service and its endpoints', state([s1, s2, s3], [e1, e2, eps(3, ['10.0.3.1'])]), 10, false],
    ['delete a service: its chains are flushed', state([s1, s3], [e1, eps(3, ['10.0.3.1'])]), 4, false],
    [
      'stale chains are deleted in a separate transaction',
      state([s1, s3], [e1, eps(3, ['10.0.3.1'])]),
      0,
      true,
    ],
    ['add a service without endpoints', state([s1, s3, s4], [e1, eps(3, ['10.0.3.1'])]), 2, false],
    ['add its endpoints', state([s1, s3, s4], [e1, eps(3, ['10.0.3.1']), eps(4, ['10.0.4.1'])]), 10, false],
    [
      'change an endpoint of a service',
      state([s1, s3, s4], [e1, eps(3, ['10.0.3.2']), eps(4, ['10.0.4.1'])]),
      9,
      false,
    ],
    [
      'add an endpoint to a service',
      state([s1, s3, s4], [e1, eps(3, ['10.0.3.2', '10.0.3.3']), eps(4, ['10.0.4.1'])]),
      12,
      true,
    ],
    ['empty a service’s endpoints', state([s1, s3, s4], [e1, eps(3, []), eps(4, ['10.0.4.1'])]), 5, false],
    [
      'restore them',
      state([s1, s3, s4], [e1, eps(3, ['10.0.3.2', '10.0.3.3']), eps(4, ['10.0.4.1'])]),
      14,
      false,
    ],
    [
      'sync with no change',
      state([s1, s3, s4], [e1, eps(3, ['10.0.3.2', '10.0.3.3']), eps(4, ['10.0.4.1'])]),
      0,
      false,
    ],
  ];

  it('writes upstream’s number of operations at every step', () => {
    const kube = new Kube(state([s1, s2], [e1, e2]));
    expect(steps.map(([name, next, , age]) => [name, kube.sync(next, age)])).toEqual(
      steps.map(([name, , n]) => [name, n]),
    );
  });

  it('flushes a deleted service’s chains now and deletes them later', () => {
    const before = steps[0][1];
    const after = steps[1][1];
    const update = renderNftablesUpdate(after, before);
    expect(update).toBe(
      [
        'flush chain ip kube-proxy endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080',
        'flush chain ip kube-proxy service-MHHHYRWA-ns2/svc2/tcp/p8080',
        'delete element ip kube-proxy cluster-ips { 172.30.0.42 }',
        'delete element ip kube-proxy service-ips { 172.30.0.42 . tcp . 8080 }',
        '',
      ].join('\n'),
    );
    expect(renderNftablesCleanup(after, before)).toBe(
      [
        'delete chain ip kube-proxy endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080',
        'delete chain ip kube-proxy service-MHHHYRWA-ns2/svc2/tcp/p8080',
        '',
      ].join('\n'),
    );
  });

  it('rewrites only the changed service’s chains when one endpoint changes', () => {
    const update = renderNftablesUpdate(steps[5][1], steps[4][1]);
    expect(update).toBe(
      [
        'add chain ip kube-proxy endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80',
        'flush chain ip kube-proxy endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80',
        'add chain ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80',
        'flush chain ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80',
        'add rule ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80 ip daddr 172.30.0.43 ip saddr != 10.0.0.0/8 jump mark-for-masquerade',
        'add rule ip kube-proxy service-4AT6LBPK-ns3/svc3/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80 }',
        'add rule ip kube-proxy endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80 ip saddr 10.0.3.2 jump mark-for-masquerade',
        'add rule ip kube-proxy endpoint-SWWHDC7X-ns3/svc3/tcp/p80__10.0.3.2/80 meta l4proto tcp dnat to 10.0.3.2:80',
        'flush chain ip kube-proxy endpoint-2OCDJSZQ-ns3/svc3/tcp/p80__10.0.3.1/80',
        '',
      ].join('\n'),
    );
  });

  it('leaves the table a full sync of the final state would', () => {
    const kube = new Kube(state([s1, s2], [e1, e2]));
    for (const [, next, , age] of steps) {
      kube.sync(next, age);
      kube.expectMatchesFullSync();
    }
  });
});

describe('partial sync', () => {
  it('is proportional to the change: one endpoint among 200 services', () => {
    const services = Array.from({ length: 200 }, (_, i) =>
      fakeService('ns', `s${i}`, {
        clusterIPs: [`172.30.${i >> 8}.${i & 255}`],
        ports: [fakePort('http', 80)],
      }),
    );
    const slices = (moved: string) =>
      services.map((s, i) =>
        fakeSlice(
          'ns',
          s.name,
          [fakeEndpoint(`10.9.${i}.1`), fakeEndpoint(i === 99 ? moved : `10.9.${i}.2`)],
          [{ name: 'http', port: 80 }],
        ),
      );
    const before = fakeWorld({ services, slices: slices('10.9.99.2') });
    const after = fakeWorld({ services, slices: slices('10.9.99.3') });
    const update = renderNftablesUpdate(after, before);
    expect(update).not.toMatch(/ns\/s(?!99\/)\d+\//);
    expect(ops(update)).toBe(13);
    expect(update.length).toBeLessThan(renderNftables(after).length / 100);
  });

  it('rewrites elements whose verdict changed with delete + add', () => {
    const before = fakeWorld({ services: [svc(1, 80)], slices: [eps(1, [])] });
    const after = fakeWorld({ services: [svc(1, 80)], slices: [eps(1, ['10.0.1.1'])] });
    const update = renderNftablesUpdate(after, before);
    expect(update).toContain(
      'add element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }',
    );
    expect(update).toContain('delete element ip kube-proxy no-endpoint-services { 172.30.0.41 . tcp . 80 }');
    const local = (nodeName?: string) =>
      fakeWorld({
        services: [
          fakeService('ns1', 'svc1', {
            clusterIPs: ['172.30.0.41'],
            ports: [fakePort('p80', 80)],
            internalTrafficPolicy: 'Local',
          }),
        ],
        slices: [
          fakeSlice('ns1', 'svc1', [fakeEndpoint('10.0.1.1', { nodeName })], [{ name: 'p80', port: 80 }]),
        ],
      });
    const k = new Kube(local(undefined));
    k.sync(local(FAKE_NODE));
    k.expectMatchesFullSync();
  });

  it('deletes affinity sets that are gone in the same transaction', () => {
    const withAffinity = (a: boolean) =>
      fakeWorld({
        services: [
          fakeService('ns1', 'svc1', {
            clusterIPs: ['172.30.0.41'],
            ports: [fakePort('p80', 80)],
            sessionAffinity: a ? 'ClientIP' : 'None',
          }),
        ],
        slices: [eps(1, ['10.0.1.1'])],
      });
    const update = renderNftablesUpdate(withAffinity(false), withAffinity(true));
    expect(update.trimEnd().split('\n').at(-1)).toBe(
      'delete set ip kube-proxy affinity-5TPGNJF2-ns1/svc1/tcp/p80__10.0.1.1/80',
    );
    const k = new Kube(withAffinity(true));
    k.sync(withAffinity(false));
    k.expectMatchesFullSync();
  });

  it('is a full sync, with stale chains flushed, when the options change', () => {
    const a = fakeWorld({ services: [svc(1, 80)], slices: [eps(1, ['10.0.1.1'])] });
    const b = fakeWorld({
      services: [svc(1, 80)],
      slices: [eps(1, ['10.0.1.1'])],
      network: { proxy: { mode: 'nftables', masqueradeBit: 2 } },
    });
    const update = renderNftablesUpdate(b, a);
    expect(update.split('\n')[0]).toBe('add table ip kube-proxy { comment "rules for kube-proxy" ; }');
    expect(update).toContain('mark set mark or 0x00000004');
    const k = new Kube(a);
    k.sync(b);
    k.expectMatchesFullSync();
  });

  it('is what the plugin’s renderUpdate returns', () => {
    const [before, after] = twoStates();
    expect(nftablesProxy().renderUpdate?.(after, before)).toEqual({
      nftables: renderNftablesUpdate(after, before),
    });
  });

  it('converges for any sequence of service and endpoint edits', () => {
    const svcArb: fc.Arbitrary<GeneratedService> = fc.record({
      type: fc.constantFrom<'ClusterIP' | 'NodePort' | 'LoadBalancer'>(
        'ClusterIP',
        'NodePort',
        'LoadBalancer',
      ),
      etpLocal: fc.boolean(),
      itpLocal: fc.boolean(),
      affinity: fc.boolean(),
      ranges: fc.boolean(),
      eps: fc.uniqueArray(fc.integer({ min: 1, max: 6 }), { maxLength: 4 }),
      local: fc.integer({ min: 0, max: 6 }),
    });
    const stateArb = fc.array(fc.option(svcArb, { nil: null }), { minLength: 3, maxLength: 3 });
    fc.assert(
      fc.property(fc.array(stateArb, { minLength: 2, maxLength: 4 }), fc.boolean(), (states, age) => {
        const ctxs = states.map((specs) => fakeGeneratedWorld(specs));
        const kube = new Kube(ctxs[0]);
        for (const next of ctxs.slice(1)) {
          kube.sync(next, age);
          if (!age) kube.expectMatchesFullSync();
        }
        kube.expectMatchesFullSync();
      }),
      { numRuns: 60 },
    );
  });
});

function twoStates(): RenderContext[] {
  return [
    fakeWorld({
      services: [svc(1, 80), svc(2, 8080)],
      slices: [eps(1, ['10.0.1.1']), eps(2, ['10.0.2.1'], 8080)],
    }),
    fakeWorld({ services: [svc(1, 80)], slices: [eps(1, ['10.0.1.1'])] }),
  ];
}

import type { RenderContext, ServiceInfo } from '@podnet/core';
import {
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
import { iptablesProxy, renderIptables, renderIptablesUpdate } from './iptables-proxy.js';
import { endpointChainName, serviceChainNames } from './iptables-names.js';
import { applyRestore, tablesText } from './test-support.js';

/** n ClusterIP services svcI at 172.30.1.I, each with endpoints 10.1.I.1 and 10.1.I.2. */
function cluster(
  n: number,
  edit: (i: number) => { ips?: string[]; svc?: Partial<ServiceInfo> } = () => ({}),
): RenderContext {
  const services = [];
  const slices = [];
  for (let i = 0; i < n; i++) {
    const e = edit(i);
    services.push(
      fakeService('ns', `svc${i}`, {
        clusterIPs: [`172.30.1.${i}`],
        ports: [fakePort('http', 80)],
        ...e.svc,
      }),
    );
    const ips = e.ips ?? [`10.1.${i}.1`, `10.1.${i}.2`];
    slices.push(
      fakeSlice(
        'ns',
        `svc${i}`,
        ips.map((ip) => fakeEndpoint(ip)),
        [{ name: 'http', port: 80 }],
      ),
    );
  }
  return fakeWorld({ services, slices });
}

const declared = (text: string, prefix: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith(`:${prefix}`))
    .map((l) => l.slice(1, l.indexOf(' ')));

/** The kernel state after a full sync of `before` then the update to `after`, against a full sync of `after`. */
function expectConverges(before: RenderContext, after: RenderContext, options = {}): string {
  const update = renderIptablesUpdate(after, before, options).ipv4;
  const incremental = applyRestore([renderIptables(before, options).ipv4, update]);
  const fresh = applyRestore([renderIptables(after, options).ipv4]);
  expect(tablesText(incremental)).toBe(tablesText(fresh));
  return update;
}

const svc7 = serviceChainNames('ns/svc7:http', 'tcp');
const sep7 = (ip: string) => endpointChainName('ns/svc7:http', 'tcp', `${ip}:80`);

describe('partial sync after one endpoint change', () => {
  const before = cluster(20);
  const after = cluster(20, (i) => (i === 7 ? { ips: ['10.1.7.2', '10.1.7.9'] } : {}));
  const update = renderIptablesUpdate(after, before).ipv4;

  it('converges to the tables of a full sync', () => {
    expect(expectConverges(before, after)).toBe(update);
  });

  it('declares and rewrites only the changed service’s chains', () => {
    expect(declared(update, 'KUBE-SVC-')).toEqual([svc7.svc]);
    expect(declared(update, 'KUBE-SEP-').sort()).toEqual(
      [sep7('10.1.7.1'), sep7('10.1.7.2'), sep7('10.1.7.9')].sort(),
    );
  });

  it('deletes the chain of the endpoint that is gone', () => {
    expect(update).toContain(`\n-X ${sep7('10.1.7.1')}\n`);
    expect(update).not.toContain(`-A ${sep7('10.1.7.1')}`);
  });

  it('still rewrites the top-level chains in full, as kube-proxy does', () => {
    expect(update.split('\n').filter((l) => l.startsWith('-A KUBE-SERVICES '))).toHaveLength(21);
    expect(update).toContain(':KUBE-MARK-MASQ - [0:0]');
  });

  it('has no EnsureRule block and is a fraction of the full restore', () => {
    expect(update).not.toContain('-I ');
    const full = renderIptables(after).ipv4;
    expect(update.length).toBeLessThan(full.length / 3);
  });
});

describe('partial sync', () => {
  it('writes no service chain when nothing changed', () => {
    const u = expectConverges(cluster(5), cluster(5));
    expect(declared(u, 'KUBE-SVC-')).toEqual([]);
    expect(declared(u, 'KUBE-SEP-')).toEqual([]);
  });

  it('deletes every chain of a deleted service', () => {
    const before = cluster(3);
    const after = fakeWorld({
      services: before.state.services.slice(0, 2),
      slices: before.state.endpointSlices.slice(0, 2),
    });
    const u = expectConverges(before, after);
    const gone = serviceChainNames('ns/svc2:http', 'tcp').svc;
    expect(u).toContain(`:${gone} - [0:0]`);
    expect(u).toContain(`-X ${gone}`);
    expect(u.match(/^-X /gm)).toHaveLength(3);
  });

  it('follows a service from no endpoints (REJECT) to endpoints', () => {
    const empty = cluster(2, (i) => (i === 1 ? { ips: [] } : {}));
    const first = expectConverges(cluster(1), empty);
    expect(first).toContain('"ns/svc1:http has no endpoints"');
    const second = expectConverges(empty, cluster(2));
    expect(declared(second, 'KUBE-SVC-')).toEqual([serviceChainNames('ns/svc1:http', 'tcp').svc]);
    expect(second).not.toContain('has no endpoints');
  });

  it('rewrites every service when the options change (a full resync, without the jumps)', () => {
    const ctx = cluster(3);
    const changed = fakeWorld({
      services: ctx.state.services as ServiceInfo[],
      slices: [...ctx.state.endpointSlices],
      network: { proxy: { mode: 'iptables', masqueradeBit: 10 } },
    });
    const u = expectConverges(ctx, changed);
    expect(declared(u, 'KUBE-SVC-')).toHaveLength(3);
    expect(u).not.toContain('-I ');
  });

  it('is what the plugin’s renderUpdate returns', () => {
    const before = cluster(4);
    const after = cluster(4, (i) => (i === 2 ? { ips: ['10.1.2.7'] } : {}));
    expect(iptablesProxy().renderUpdate?.(after, before)).toEqual({
      iptables: renderIptablesUpdate(after, before),
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
      fc.property(fc.array(stateArb, { minLength: 2, maxLength: 4 }), (states) => {
        const ctxs = states.map((specs) => fakeGeneratedWorld(specs));
        let applied = [renderIptables(ctxs[0]).ipv4];
        for (let k = 1; k < ctxs.length; k++) {
          applied = [...applied, renderIptablesUpdate(ctxs[k], ctxs[k - 1]).ipv4];
          expect(tablesText(applyRestore(applied))).toBe(
            tablesText(applyRestore([renderIptables(ctxs[k]).ipv4])),
          );
        }
      }),
      { numRuns: 60 },
    );
  });
});

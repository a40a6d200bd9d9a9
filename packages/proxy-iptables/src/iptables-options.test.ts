import { PodnetError } from '@podnet/core';
import { fakeOneServiceWorld, podnetErrorOf } from '@podnet/core/testing';
import { describe, expect, it } from 'vitest';
import { iptablesProxy } from './iptables-proxy.js';

// The fields every mode shares are tested with @podnet/core's kube-proxy-config; these are the
// iptables mode's own sections and the wiring of factory and ClusterNetwork.spec.proxy options.

const ctx = (proxy: Record<string, unknown>) =>
  fakeOneServiceWorld({}, undefined, { proxy: { mode: 'iptables', ...proxy } });

describe('option validation', () => {
  it.each([
    [{ masqueradeBit: 32 }, 'ClusterNetwork.spec.proxy.masqueradeBit: must be 0-31, got 32'],
    [
      { iptables: { masqueradeBit: -1 } },
      'ClusterNetwork.spec.proxy.iptables.masqueradeBit: must be 0-31, got -1',
    ],
    [
      { iptables: { masqueradeAll: 'no' } },
      'ClusterNetwork.spec.proxy.iptables.masqueradeAll: must be true or false, got "no"',
    ],
    [
      { iptables: { localhostNodePorts: 1 } },
      'ClusterNetwork.spec.proxy.iptables.localhostNodePorts: must be true or false, got 1',
    ],
    [{ iptables: { bogus: true } }, 'ClusterNetwork.spec.proxy.iptables.bogus: unknown field'],
    [
      { conntrack: { tcpBeLiberal: 'true' } },
      'ClusterNetwork.spec.proxy.conntrack.tcpBeLiberal: must be true or false, got "true"',
    ],
    [{ conntrack: { tcpTimeout: '1h' } }, 'ClusterNetwork.spec.proxy.conntrack.tcpTimeout: unknown field'],
    [
      { host: { randomFully: 0 } },
      'ClusterNetwork.spec.proxy.host.randomFully: must be true or false, got 0',
    ],
    [{ host: 'probe' }, 'ClusterNetwork.spec.proxy.host: must be a mapping'],
  ])('refuses %j at the factory', (options, message) => {
    const e = podnetErrorOf(() => iptablesProxy(options as never));
    expect(e.code).toBe('PODNET_INVALID_ARGUMENT');
    expect(PodnetError.isUserError(e)).toBe(true);
    expect(e.message).toBe(message);
  });

  it('refuses bad options in ClusterNetwork.spec.proxy at render time', () => {
    const plugin = iptablesProxy();
    expect(podnetErrorOf(() => plugin.render(ctx({ masqueradeBit: 99 }))).message).toBe(
      'ClusterNetwork.spec.proxy.masqueradeBit: must be 0-31, got 99',
    );
    expect(podnetErrorOf(() => plugin.render(ctx({ iptables: { localhostNodePorts: 'yes' } }))).message).toBe(
      'ClusterNetwork.spec.proxy.iptables.localhostNodePorts: must be true or false, got "yes"',
    );
  });

  it('accepts the other KubeProxyConfiguration fields without changing the rules', () => {
    const plain = iptablesProxy().render(ctx({}));
    const other = iptablesProxy().render(
      ctx({
        ipvs: { scheduler: 'rr' },
        nftables: { masqueradeBit: 3 },
        conntrack: { maxPerCore: 32768 },
        iptables: { syncPeriod: '30s' },
        healthzBindAddress: '0.0.0.0:10256',
      }),
    );
    expect(other).toEqual(plain);
  });
});

import { PodnetError } from '@podnet/core';
import { fakeOneServiceWorld, podnetErrorOf } from '@podnet/core/testing';
import { describe, expect, it } from 'vitest';
import { nftablesProxy } from './nftables-proxy.js';

// The fields every mode shares are tested with @podnet/core's kube-proxy-config; these are the
// nftables mode's own section and defaults, and the wiring of factory and ClusterNetwork.spec.proxy options.

const ctx = (proxy: Record<string, unknown>) =>
  fakeOneServiceWorld({}, undefined, { proxy: { mode: 'nftables', ...proxy } });

describe('option validation', () => {
  it.each([
    [{ masqueradeBit: 32 }, 'ClusterNetwork.spec.proxy.masqueradeBit: must be 0-31, got 32'],
    [
      { nftables: { masqueradeBit: 'x' } },
      'ClusterNetwork.spec.proxy.nftables.masqueradeBit: must be 0-31, got "x"',
    ],
    [
      { nftables: { masqueradeAll: 1 } },
      'ClusterNetwork.spec.proxy.nftables.masqueradeAll: must be true or false, got 1',
    ],
    [
      { nftables: { localhostNodePorts: true } },
      'ClusterNetwork.spec.proxy.nftables.localhostNodePorts: unknown field',
    ],
    [{ nftables: [] }, 'ClusterNetwork.spec.proxy.nftables: must be a mapping'],
    [{ host: { nfacct: true } }, 'ClusterNetwork.spec.proxy.host: unknown field'],
  ])('refuses %j at the factory', (options, message) => {
    const e = podnetErrorOf(() => nftablesProxy(options as never));
    expect(e.code).toBe('PODNET_INVALID_ARGUMENT');
    expect(PodnetError.isUserError(e)).toBe(true);
    expect(e.message).toBe(message);
  });

  it('refuses bad options in ClusterNetwork.spec.proxy at render time', () => {
    expect(podnetErrorOf(() => nftablesProxy().render(ctx({ masqueradeAll: 'no' }))).message).toBe(
      'ClusterNetwork.spec.proxy.masqueradeAll: must be true or false, got "no"',
    );
    expect(podnetErrorOf(() => nftablesProxy().render(ctx({ nftables: { bogus: 1 } }))).message).toBe(
      'ClusterNetwork.spec.proxy.nftables.bogus: unknown field',
    );
  });

  it('accepts the other KubeProxyConfiguration fields without changing the rules', () => {
    const plain = nftablesProxy().render(ctx({}));
    const other = nftablesProxy().render(
      ctx({
        ipvs: { scheduler: 'rr' },
        iptables: { masqueradeBit: 3 },
        conntrack: { tcpBeLiberal: true },
        nftables: { syncPeriod: '1m' },
      }),
    );
    expect(other).toEqual(plain);
  });

  it('treats an empty nodePortAddresses as kube-proxy does in nftables mode: primary', () => {
    const primary = nftablesProxy({ nodePortAddresses: ['primary'] }).render(ctx({}));
    expect(nftablesProxy({ nodePortAddresses: [] }).render(ctx({}))).toEqual(primary);
    expect(nftablesProxy().render(ctx({}))).toEqual(primary);
    expect(nftablesProxy({ nodePortAddresses: ['0.0.0.0/0'] }).render(ctx({}))).not.toEqual(primary);
  });
});

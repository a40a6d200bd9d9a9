import { PodnetError } from '@podnet/core';
import { describe, expect, it } from 'vitest';
import { goHexMark } from './nftables-options.js';
import { nftablesProxy } from './nftables-proxy.js';
import { endpoint, port, service, slice, world } from './test-support.js';

function errorOf(f: () => unknown): PodnetError {
  try {
    f();
  } catch (e) {
    if (PodnetError.is(e)) return e;
    throw e;
  }
  throw new Error('expected an error');
}

const ctx = (proxy: Record<string, unknown>) =>
  world({
    network: { proxy: { mode: 'nftables', ...proxy } },
    services: [service('ns1', 'svc1', { clusterIPs: ['172.30.0.41'], ports: [port('p80', 80)] })],
    slices: [slice('ns1', 'svc1', [endpoint('10.180.0.1')], [{ name: 'p80', port: 80 }])],
  });

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
    [{ host: { nfacct: true } }, 'ClusterNetwork.spec.proxy.host: unknown field'],
    [
      { nodePortAddresses: ['primary', 'fd00::/300'] },
      'ClusterNetwork.spec.proxy.nodePortAddresses[1]: "fd00::/300" is not a CIDR or "primary"',
    ],
    [
      { clusterCIDR: 'fd00::/64,fd01::/64' },
      'ClusterNetwork.spec.proxy.clusterCIDR: more than one IPv6 CIDR',
    ],
    [
      { detectLocalMode: 'BridgeInterface', detectLocal: { bridgeInterface: '' } },
      'ClusterNetwork.spec.proxy.detectLocal.bridgeInterface: required when detectLocalMode is BridgeInterface',
    ],
    [{ detectLocal: { bridge: 'cni0' } }, 'ClusterNetwork.spec.proxy.detectLocal.bridge: unknown field'],
  ])('refuses %j at the factory', (options, message) => {
    const e = errorOf(() => nftablesProxy(options as never));
    expect(e.code).toBe('PODNET_INVALID_ARGUMENT');
    expect(PodnetError.isUserError(e)).toBe(true);
    expect(e.message).toBe(message);
  });

  it('refuses bad options in ClusterNetwork.spec.proxy at render time', () => {
    const e = errorOf(() => nftablesProxy().render(ctx({ masqueradeAll: 'no' })));
    expect(e.message).toBe('ClusterNetwork.spec.proxy.masqueradeAll: must be true or false, got "no"');
  });

  it('accepts the other KubeProxyConfiguration fields without changing the rules', () => {
    const plain = nftablesProxy().render(ctx({}));
    const other = nftablesProxy().render(
      ctx({
        iptables: { masqueradeBit: 3 },
        conntrack: { tcpBeLiberal: true },
        nftables: { syncPeriod: '1m' },
      }),
    );
    expect(other).toEqual(plain);
  });

  it('treats an empty nodePortAddresses as kube-proxy does in nftables mode: primary', () => {
    expect(nftablesProxy({ nodePortAddresses: [] }).render(ctx({}))).toEqual(nftablesProxy().render(ctx({})));
  });

  it('prints the mark as Go’s %#08x does', () => {
    expect(goHexMark(2 ** 14)).toBe('0x00004000');
  });
});

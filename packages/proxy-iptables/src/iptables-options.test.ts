import { PodnetError } from '@podnet/core';
import { describe, expect, it } from 'vitest';
import { iptablesProxy } from './iptables-proxy.js';
import { goHexMark } from './iptables-options.js';
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
    network: { proxy: { mode: 'iptables', ...proxy } },
    services: [service('ns1', 'svc1', { clusterIPs: ['172.30.0.41'], ports: [port('p80', 80)] })],
    slices: [slice('ns1', 'svc1', [endpoint('10.180.0.1')], [{ name: 'p80', port: 80 }])],
  });

describe('option validation', () => {
  it.each([
    [{ masqueradeBit: 32 }, 'ClusterNetwork.spec.proxy.masqueradeBit: must be 0-31, got 32'],
    [{ masqueradeBit: 1.5 }, 'ClusterNetwork.spec.proxy.masqueradeBit: must be 0-31, got 1.5'],
    [
      { iptables: { masqueradeBit: -1 } },
      'ClusterNetwork.spec.proxy.iptables.masqueradeBit: must be 0-31, got -1',
    ],
    [{ masqueradeAll: 'yes' }, 'ClusterNetwork.spec.proxy.masqueradeAll: must be true or false, got "yes"'],
    [
      { iptables: { localhostNodePorts: 1 } },
      'ClusterNetwork.spec.proxy.iptables.localhostNodePorts: must be true or false, got 1',
    ],
    [{ masqueradeBitt: 3 }, 'ClusterNetwork.spec.proxy.masqueradeBitt: unknown field'],
    [{ iptables: { bogus: true } }, 'ClusterNetwork.spec.proxy.iptables.bogus: unknown field'],
    [
      { nodePortAddresses: ['192.168.0.0/24', 'eth0'] },
      'ClusterNetwork.spec.proxy.nodePortAddresses[1]: "eth0" is not a CIDR or "primary"',
    ],
    [
      { nodePortAddresses: '10.0.0.0/8' },
      'ClusterNetwork.spec.proxy.nodePortAddresses: must be a list of CIDRs',
    ],
    [
      { clusterCIDR: '10.244.0.0/16,10.245.0.0/16' },
      'ClusterNetwork.spec.proxy.clusterCIDR: more than one IPv4 CIDR',
    ],
    [{ clusterCIDR: '10.244.0.0' }, 'ClusterNetwork.spec.proxy.clusterCIDR: "10.244.0.0" is not a CIDR'],
    [
      { detectLocalMode: 'Magic' },
      'ClusterNetwork.spec.proxy.detectLocalMode: must be one of ClusterCIDR, NodeCIDR, BridgeInterface, InterfaceNamePrefix, got "Magic"',
    ],
    [
      { detectLocalMode: 'BridgeInterface' },
      'ClusterNetwork.spec.proxy.detectLocal.bridgeInterface: required when detectLocalMode is BridgeInterface',
    ],
    [
      { detectLocalMode: 'InterfaceNamePrefix', detectLocal: {} },
      'ClusterNetwork.spec.proxy.detectLocal.interfaceNamePrefix: required when detectLocalMode is InterfaceNamePrefix',
    ],
    [
      { conntrack: { tcpBeLiberal: 'true' } },
      'ClusterNetwork.spec.proxy.conntrack.tcpBeLiberal: must be true or false, got "true"',
    ],
    [
      { host: { randomFully: 0 } },
      'ClusterNetwork.spec.proxy.host.randomFully: must be true or false, got 0',
    ],
  ])('refuses %j at the factory', (options, message) => {
    const e = errorOf(() => iptablesProxy(options as never));
    expect(e.code).toBe('PODNET_INVALID_ARGUMENT');
    expect(PodnetError.isUserError(e)).toBe(true);
    expect(e.message).toBe(message);
  });

  it('refuses bad options in ClusterNetwork.spec.proxy at render time', () => {
    const plugin = iptablesProxy();
    const e = errorOf(() => plugin.render(ctx({ masqueradeBit: 99 })));
    expect(e.message).toBe('ClusterNetwork.spec.proxy.masqueradeBit: must be 0-31, got 99');
  });

  it('accepts the other KubeProxyConfiguration fields without changing the rules', () => {
    const plain = iptablesProxy().render(ctx({}));
    const other = iptablesProxy().render(
      ctx({
        ipvs: { scheduler: 'rr' },
        conntrack: { maxPerCore: 32768 },
        iptables: { syncPeriod: '30s' },
        healthzBindAddress: '0.0.0.0:10256',
      }),
    );
    expect(other).toEqual(plain);
  });

  it('prints the mark as Go’s %#08x does', () => {
    expect(goHexMark(2 ** 14)).toBe('0x00004000');
    expect(goHexMark(2 ** 31)).toBe('0x80000000');
  });
});

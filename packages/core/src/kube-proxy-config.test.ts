import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, PodnetError } from './errors.js';
import {
  goHexMark,
  KUBE_PROXY_CONFIG_PATH,
  type KubeProxyCommonOptions,
  type KubeProxyModeSchema,
  mergeKubeProxyConfig,
  resolveKubeProxyConfig,
  resolveNodePortAddresses,
  validateKubeProxyConfig,
} from './kube-proxy-config.js';
import { podnetErrorOf } from './testing/errors.js';
import { fakeWorld } from './testing/proxy-fixtures.js';

/** A mode like the iptables one: its own section, a probe section, another mode's section ignored. */
const SCHEMA: KubeProxyModeSchema = {
  section: 'mine',
  sections: {
    mine: {
      masqueradeAll: 'boolean',
      masqueradeBit: 'bit',
      localhostNodePorts: 'boolean',
      syncPeriod: 'any',
    },
    probe: { flag: 'boolean' },
  },
  ignored: ['theirs'],
};

interface MyOptions extends KubeProxyCommonOptions {
  mine?: {
    masqueradeAll?: boolean;
    masqueradeBit?: number;
    localhostNodePorts?: boolean;
    syncPeriod?: string;
  };
  probe?: { flag?: boolean };
}

const validate = (raw: unknown, path = KUBE_PROXY_CONFIG_PATH) =>
  validateKubeProxyConfig<MyOptions>(raw, path, SCHEMA);

describe('validateKubeProxyConfig', () => {
  it.each([
    [3, 'ClusterNetwork.spec.proxy: must be a mapping'],
    [{ masqueradeBit: 32 }, 'ClusterNetwork.spec.proxy.masqueradeBit: must be 0-31, got 32'],
    [{ masqueradeBit: 1.5 }, 'ClusterNetwork.spec.proxy.masqueradeBit: must be 0-31, got 1.5'],
    [{ masqueradeAll: 'yes' }, 'ClusterNetwork.spec.proxy.masqueradeAll: must be true or false, got "yes"'],
    [{ masqueradeBitt: 3 }, 'ClusterNetwork.spec.proxy.masqueradeBitt: unknown field'],
    [
      { nodePortAddresses: ['192.168.0.0/24', 'eth0'] },
      'ClusterNetwork.spec.proxy.nodePortAddresses[1]: "eth0" is not a CIDR or "primary"',
    ],
    [
      { nodePortAddresses: ['primary', 'fd00::/300'] },
      'ClusterNetwork.spec.proxy.nodePortAddresses[1]: "fd00::/300" is not a CIDR or "primary"',
    ],
    [
      { nodePortAddresses: '10.0.0.0/8' },
      'ClusterNetwork.spec.proxy.nodePortAddresses: must be a list of CIDRs',
    ],
    [{ clusterCIDR: 10 }, 'ClusterNetwork.spec.proxy.clusterCIDR: must be a string, got 10'],
    [
      { clusterCIDR: '10.244.0.0/16,10.245.0.0/16' },
      'ClusterNetwork.spec.proxy.clusterCIDR: more than one IPv4 CIDR',
    ],
    [
      { clusterCIDR: 'fd00::/64,fd01::/64' },
      'ClusterNetwork.spec.proxy.clusterCIDR: more than one IPv6 CIDR',
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
      { detectLocalMode: 'BridgeInterface', detectLocal: { bridgeInterface: '' } },
      'ClusterNetwork.spec.proxy.detectLocal.bridgeInterface: required when detectLocalMode is BridgeInterface',
    ],
    [
      { detectLocalMode: 'InterfaceNamePrefix', detectLocal: {} },
      'ClusterNetwork.spec.proxy.detectLocal.interfaceNamePrefix: required when detectLocalMode is InterfaceNamePrefix',
    ],
    [{ detectLocal: 'cni0' }, 'ClusterNetwork.spec.proxy.detectLocal: must be a mapping'],
    [{ detectLocal: { bridge: 'cni0' } }, 'ClusterNetwork.spec.proxy.detectLocal.bridge: unknown field'],
    [
      { detectLocal: { interfaceNamePrefix: 7 } },
      'ClusterNetwork.spec.proxy.detectLocal.interfaceNamePrefix: must be a string, got 7',
    ],
  ])('refuses %j', (raw, message) => {
    const e = podnetErrorOf(() => validate(raw));
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect(e.code).toBe('PODNET_INVALID_ARGUMENT');
    expect(PodnetError.isUserError(e)).toBe(true);
    expect(e.message).toBe(message);
  });

  it.each([
    [{ mine: 3 }, 'ClusterNetwork.spec.proxy.mine: must be a mapping'],
    [{ mine: { masqueradeBit: -1 } }, 'ClusterNetwork.spec.proxy.mine.masqueradeBit: must be 0-31, got -1'],
    [{ mine: { masqueradeBit: 'x' } }, 'ClusterNetwork.spec.proxy.mine.masqueradeBit: must be 0-31, got "x"'],
    [
      { mine: { localhostNodePorts: 1 } },
      'ClusterNetwork.spec.proxy.mine.localhostNodePorts: must be true or false, got 1',
    ],
    [{ mine: { bogus: true } }, 'ClusterNetwork.spec.proxy.mine.bogus: unknown field'],
    [{ probe: { flag: 0 } }, 'ClusterNetwork.spec.proxy.probe.flag: must be true or false, got 0'],
    [{ probe: { other: true } }, 'ClusterNetwork.spec.proxy.probe.other: unknown field'],
    [{ yours: {} }, 'ClusterNetwork.spec.proxy.yours: unknown field'],
  ])('checks the mode’s sections as its schema says: refuses %j', (raw, message) => {
    expect(podnetErrorOf(() => validate(raw)).message).toBe(message);
  });

  it('checks the common fields before the sections, and the detectLocal requirements last', () => {
    expect(podnetErrorOf(() => validate({ mine: { bogus: 1 }, masqueradeAll: 3 })).message).toBe(
      'ClusterNetwork.spec.proxy.masqueradeAll: must be true or false, got 3',
    );
    expect(
      podnetErrorOf(() => validate({ detectLocalMode: 'BridgeInterface', probe: { flag: 1 } })).message,
    ).toBe('ClusterNetwork.spec.proxy.probe.flag: must be true or false, got 1');
  });

  it('names the given origin in its errors', () => {
    expect(podnetErrorOf(() => validate({ masqueradeBit: 40 }, 'options')).message).toBe(
      'options.masqueradeBit: must be 0-31, got 40',
    );
  });

  it('accepts the KubeProxyConfiguration fields that change no rule, and the schema’s ignored ones', () => {
    const raw = {
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
      kind: 'KubeProxyConfiguration',
      mode: 'mine',
      healthzBindAddress: '0.0.0.0:10256',
      syncPeriod: '30s',
      theirs: { anything: [1, 2] },
      mine: { syncPeriod: 30, masqueradeBit: 0 },
      probe: {},
      detectLocalMode: '',
      clusterCIDR: ' ',
      nodePortAddresses: ['primary', '10.0.0.0/8', 'fd00::/64'],
    };
    expect(validate(raw)).toBe(raw);
    expect(validate(undefined)).toEqual({});
  });
});

describe('mergeKubeProxyConfig', () => {
  it('puts the second options over the first, one level deep for detectLocal and the sections', () => {
    const merged = mergeKubeProxyConfig<MyOptions>(
      {
        masqueradeBit: 1,
        masqueradeAll: true,
        mine: { masqueradeBit: 2, localhostNodePorts: false },
        detectLocal: { bridgeInterface: 'cni0' },
      },
      {
        masqueradeBit: 3,
        mine: { masqueradeBit: 4 },
        probe: { flag: true },
        detectLocal: { interfaceNamePrefix: 'veth' },
      },
      SCHEMA,
    );
    expect(merged).toEqual({
      masqueradeBit: 3,
      masqueradeAll: true,
      mine: { masqueradeBit: 4, localhostNodePorts: false },
      probe: { flag: true },
      detectLocal: { bridgeInterface: 'cni0', interfaceNamePrefix: 'veth' },
    });
  });
});

describe('resolveKubeProxyConfig', () => {
  const ctx = (proxy: Record<string, unknown> = {}) =>
    fakeWorld({
      services: [],
      network: {
        clusterCIDRs: ['10.0.0.0/8', 'fd00:10::/64'],
        ipFamilies: [4, 6],
        proxy: { mode: 'mine', ...proxy },
      },
      node: { podCIDRs: ['10.0.0.0/24', 'fd00:10::/80'] },
    });
  const resolve = (factory: MyOptions = {}, proxy: Record<string, unknown> = {}) =>
    resolveKubeProxyConfig<MyOptions>(factory, ctx(proxy), SCHEMA);

  it('defaults to mark bit 14, no masqueradeAll, pod traffic by the cluster CIDRs', () => {
    expect(resolve()).toEqual({
      options: {},
      masqueradeMark: '0x00004000',
      masqueradeAll: false,
      localTraffic: { 4: { by: 'cidr', cidr: '10.0.0.0/8' }, 6: { by: 'cidr', cidr: 'fd00:10::/64' } },
    });
  });

  it('lets the mode’s own section win over the top-level masquerade fields', () => {
    const r = resolve({
      masqueradeBit: 0,
      masqueradeAll: true,
      mine: { masqueradeBit: 31, masqueradeAll: false },
    });
    expect(r.masqueradeMark).toBe('0x80000000');
    expect(r.masqueradeAll).toBe(false);
    expect(resolve({ masqueradeBit: 0 }).masqueradeMark).toBe('0x00000001');
  });

  it('tells pod traffic apart as detectLocalMode says', () => {
    expect(resolve({ clusterCIDR: ' 10.244.0.0/16 ' }).localTraffic).toEqual({
      4: { by: 'cidr', cidr: '10.244.0.0/16' },
      6: undefined,
    });
    expect(resolve({ detectLocalMode: 'NodeCIDR' }).localTraffic).toEqual({
      4: { by: 'cidr', cidr: '10.0.0.0/24' },
      6: { by: 'cidr', cidr: 'fd00:10::/80' },
    });
    const bridge = { by: 'interface', name: 'cni0', prefix: false };
    expect(
      resolve({ detectLocalMode: 'BridgeInterface', detectLocal: { bridgeInterface: 'cni0' } }).localTraffic,
    ).toEqual({ 4: bridge, 6: bridge });
    const veth = { by: 'interface', name: 'veth', prefix: true };
    expect(
      resolve({ detectLocalMode: 'InterfaceNamePrefix', detectLocal: { interfaceNamePrefix: 'veth' } })
        .localTraffic,
    ).toEqual({ 4: veth, 6: veth });
  });

  it('merges ClusterNetwork.spec.proxy over the factory options', () => {
    const r = resolve(
      { masqueradeBit: 5, masqueradeAll: true, mine: { localhostNodePorts: false } },
      {
        masqueradeBit: 3,
        mine: { syncPeriod: '1m' },
      },
    );
    expect(r.masqueradeMark).toBe('0x00000008');
    expect(r.masqueradeAll).toBe(true);
    expect(r.options).toEqual({
      masqueradeBit: 3,
      masqueradeAll: true,
      mine: { localhostNodePorts: false, syncPeriod: '1m' },
    });
  });

  it('refuses bad options in ClusterNetwork.spec.proxy under that path', () => {
    expect(podnetErrorOf(() => resolve({}, { masqueradeBit: 99 })).message).toBe(
      'ClusterNetwork.spec.proxy.masqueradeBit: must be 0-31, got 99',
    );
  });
});

describe('goHexMark', () => {
  it('prints the mark as Go’s %#08x does', () => {
    expect(goHexMark(2 ** 14)).toBe('0x00004000');
    expect(goHexMark(2 ** 31)).toBe('0x80000000');
    expect(goHexMark(1)).toBe('0x00000001');
  });
});

describe('resolveNodePortAddresses', () => {
  const nodeIPs = ['192.168.0.2', '10.1.0.2'];

  it('matches every local address without a CIDR of the family or with a /0', () => {
    expect(resolveNodePortAddresses([], 4, nodeIPs)).toEqual({
      matchAll: true,
      containsIPv4Loopback: true,
      ips: [],
    });
    expect(resolveNodePortAddresses(['fd00::/64'], 4, nodeIPs).matchAll).toBe(true);
    expect(resolveNodePortAddresses(['10.0.0.0/8', '0.0.0.0/0'], 4, nodeIPs).matchAll).toBe(true);
    expect(resolveNodePortAddresses(['::/0'], 6, ['2001:db8::2'])).toEqual({
      matchAll: true,
      containsIPv4Loopback: false,
      ips: [],
    });
  });

  it('resolves primary to the node’s first IP of the family', () => {
    expect(resolveNodePortAddresses(['primary'], 4, nodeIPs)).toEqual({
      matchAll: false,
      containsIPv4Loopback: false,
      ips: ['192.168.0.2'],
    });
    expect(resolveNodePortAddresses(['primary'], 6, [])).toEqual({
      matchAll: true,
      containsIPv4Loopback: false,
      ips: [],
    });
  });

  it('keeps the loopback address and node IPs inside the CIDRs, sorted', () => {
    expect(resolveNodePortAddresses(['192.168.0.0/24', '127.0.0.0/8', '10.0.0.0/8'], 4, nodeIPs)).toEqual({
      matchAll: false,
      containsIPv4Loopback: true,
      ips: ['10.1.0.2', '127.0.0.1', '192.168.0.2'],
    });
    expect(resolveNodePortAddresses(['::1/128', '2001:db8::/64'], 6, ['2001:db8::2']).ips).toEqual([
      '2001:db8::2',
      '::1',
    ]);
  });
});

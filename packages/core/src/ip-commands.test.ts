import { describe, expect, it } from 'vitest';
import { emptyNodeDataplane } from './dataplane.js';
import { ipCommands, kernelNetnsName } from './ip-commands.js';

describe('ipCommands', () => {
  it('renders a flannel-style node in the order the kernel needs', () => {
    const p = emptyNodeDataplane('node-1');
    p.namespaces.push({ name: 'root', kind: 'node' }, { name: 'default/client', kind: 'pod' });
    p.links.push(
      { kind: 'physical', name: 'eth0', netns: 'root', segment: '192.168.50.0/24', mtu: 1500 },
      { kind: 'bridge', name: 'cni0', netns: 'root', mtu: 1450, mac: '02:00:00:00:00:01' },
      { kind: 'veth', name: 'veth0123abcd', netns: 'root', mtu: 1450, master: 'cni0', hairpin: true, peer: { name: 'eth0', netns: 'default/client', mtu: 1450 } },
      { kind: 'vxlan', name: 'flannel.1', netns: 'root', mtu: 1450, vni: 1, local: '192.168.50.10', dstport: 8472, dev: 'eth0', mac: '02:aa:bb:cc:dd:ee' },
    );
    p.addresses.push({ netns: 'root', dev: 'cni0', cidr: '10.244.0.1/24' }, { netns: 'default/client', dev: 'eth0', cidr: '10.244.0.2/24' });
    p.routes.push(
      { netns: 'root', dst: '10.244.1.0/24', family: 4, via: '10.244.1.0', dev: 'flannel.1', onlink: true },
      { netns: 'default/client', dst: 'default', family: 4, via: '10.244.0.1', dev: 'eth0' },
    );
    p.neighbors.push({ netns: 'root', dev: 'flannel.1', ip: '10.244.1.0', lladdr: '02:11:22:33:44:55' });
    p.fdb.push({ netns: 'root', dev: 'flannel.1', lladdr: '02:11:22:33:44:55', dst: '192.168.50.11' });
    p.sysctls.push({ netns: 'root', key: 'net.ipv4.ip_forward', value: '1' });
    expect(ipCommands(p)).toEqual([
      'ip netns add default_client',
      'ip link add name cni0 mtu 1450 address 02:00:00:00:00:01 type bridge',
      'ip link add name veth0123abcd mtu 1450 type veth peer name eth0 mtu 1450 netns default_client',
      'ip link add name flannel.1 mtu 1450 address 02:aa:bb:cc:dd:ee type vxlan id 1 local 192.168.50.10 dev eth0 dstport 8472 nolearning',
      'ip link set veth0123abcd master cni0',
      'bridge link set dev veth0123abcd hairpin on',
      'ip link set eth0 mtu 1500 up',
      'ip link set cni0 up',
      'ip link set veth0123abcd up',
      'ip -n default_client link set eth0 up',
      'ip link set flannel.1 up',
      'ip addr add 10.244.0.1/24 dev cni0',
      'ip -n default_client addr add 10.244.0.2/24 dev eth0',
      'sysctl -w net.ipv4.ip_forward=1',
      'ip neigh replace 10.244.1.0 lladdr 02:11:22:33:44:55 dev flannel.1 nud permanent',
      'bridge fdb append 02:11:22:33:44:55 dev flannel.1 dst 192.168.50.11 self permanent',
      'ip route replace 10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink',
      'ip -n default_client route replace default via 10.244.0.1 dev eth0',
    ]);
  });

  it('maps logical namespaces to collision-free kernel names', () => {
    expect(kernelNetnsName('default/web-0')).toBe('default_web-0');
    expect(kernelNetnsName('a-b/c')).not.toBe(kernelNetnsName('a/b-c'));
    expect(kernelNetnsName('root', 'pn1-node-1-')).toBe('pn1-node-1-root');
  });
});

import { describe, expect, it } from 'vitest';
import type { NetfilterFactory } from '@podnet/emulator';
import { emulator, flannelStylePlan } from '@podnet/emulator';
import { node } from './helpers.js';

describe('inspection', () => {
  it('shows links, routes, neighbours and FDB entries as iproute2 would', async () => {
    const plan = flannelStylePlan({ nodes: 2 });
    const net = await emulator().apply(plan);
    const root = net.namespace('node-0');
    expect(root.routes({ family: 4 })).toEqual([
      'default via 192.168.50.254 dev eth0',
      '10.244.0.0/24 dev cni0 proto kernel scope link src 10.244.0.1',
      '10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink',
      '192.168.50.0/24 dev eth0 proto kernel scope link src 192.168.50.10',
    ]);
    expect(root.routes({ family: 4, table: 'local' })).toContain('local 10.244.0.0 dev flannel.1 table local proto kernel scope host src 10.244.0.0');
    const vtep1 = node(plan, 'node-1').links.find((l) => l.name === 'flannel.1')!.mac;
    expect(net.fdb('node-0', 'root').filter((e) => e.dev === 'flannel.1')).toEqual([{ netns: 'root', dev: 'flannel.1', lladdr: vtep1, dst: '192.168.50.11', state: 'permanent' }]);
    expect(net.neighbours('node-0', 'root')).toEqual([{ netns: 'root', dev: 'flannel.1', ip: '10.244.1.0', lladdr: vtep1, state: 'PERMANENT' }]);
    expect(root.links().find((l) => l.name === 'flannel.1')).toMatchObject({ kind: 'vxlan', mtu: 1450, vxlan: { vni: 1, local: '192.168.50.10', dstport: 8472, learning: false } });
    expect(root.links().find((l) => l.name === 'veth00000001')).toMatchObject({ kind: 'veth', master: 'cni0', peer: { netns: 'default/pod-0-0', name: 'eth0' } });
    expect(root.addressType('10.244.0.1')).toBe('local');
    expect(root.addressType('10.244.0.255')).toBe('broadcast');
    expect(root.addressType('10.244.1.9')).toBe('unicast');
    expect(root.sourceAddress('10.244.1.9')).toBe('10.244.0.0');
    expect(root.sysctl('net.ipv4.ip_forward')).toBe('1');
    expect(net.namespaces().filter((n) => n.kind === 'fabric')).toEqual([
      { node: 'router', netns: 'root', kind: 'fabric' },
      { node: 'external', netns: 'root', kind: 'fabric' },
    ]);
    expect(net.namespace('router').routes({ family: 4 })).toEqual([
      '192.168.50.0/24 dev eth0 proto kernel scope link src 192.168.50.254',
      '203.0.113.0/24 dev eth1 proto kernel scope link src 203.0.113.254',
    ]);
  });
});

describe('plans the kernel would refuse', () => {
  it('names node, netns and object', async () => {
    const bad = (mutate: (p: ReturnType<typeof flannelStylePlan>) => void) => {
      const p = flannelStylePlan({ nodes: 1 });
      mutate(p);
      return emulator().apply(p);
    };
    await expect(bad((p) => node(p, 'node-0').routes.push({ netns: 'root', dst: '10.9.0.0/16', family: 4, via: '10.1.1.1', dev: 'eth0' }))).rejects.toMatchObject({
      code: 'PODNET_PLAN_CONFLICT',
      message: 'node node-0: route 10.9.0.0/16 via 10.1.1.1 dev eth0 in netns root: gateway 10.1.1.1 is not on-link through eth0 (the kernel answers "Nexthop has invalid gateway"; add onlink)',
    });
    await expect(bad((p) => node(p, 'node-0').addresses.push({ netns: 'root', dev: 'eth9', cidr: '10.1.1.1/24' }))).rejects.toThrow(
      'node node-0: address 10.1.1.1/24: no device eth9 in netns root',
    );
    await expect(bad((p) => node(p, 'node-0').addresses.push({ netns: 'root', dev: 'eth0', cidr: '192.168.50.10/24' }))).rejects.toThrow(
      'node node-0: address 192.168.50.10 is configured twice in netns root',
    );
    await expect(bad((p) => node(p, 'node-0').routes.push({ netns: 'root', dst: 'default', family: 4, via: '192.168.50.1', dev: 'eth0' }))).rejects.toThrow(
      'a route to default with metric 0 already exists (RTNETLINK answers: File exists)',
    );
    await expect(
      bad((p) => node(p, 'node-0').links.push({ kind: 'physical', name: 'eth1', netns: 'root', segment: '10.0.0.0/8' })),
    ).rejects.toThrow('node node-0: device eth1: segment 10.0.0.0/8 is not in the fabric');
    await expect(bad((p) => node(p, 'node-0').links.push({ kind: 'dummy', name: 'd0', netns: 'nowhere' }))).rejects.toThrow('device d0 is in unknown netns nowhere');
    await expect(bad((p) => node(p, 'node-0').neighbors.push({ netns: 'root', dev: 'eth0', ip: '192.168.50.99', lladdr: 'zz' }))).rejects.toThrow(
      'neighbour 192.168.50.99: invalid MAC address "zz"',
    );
  });

  it('refuses trace arguments it cannot use, with a typed error', async () => {
    const net = await emulator().apply(flannelStylePlan({ nodes: 1 }));
    expect(() => net.trace({ from: 'default/nope', to: '10.244.0.2:80' })).toThrow(expect.objectContaining({ code: 'PODNET_NOT_FOUND' }));
    expect(() => net.trace({ from: 'node/node-9', to: '10.244.0.2:80' })).toThrow('--from node/node-9: no node node-9 (nodes: node-0)');
    expect(() => net.trace({ from: 'default/pod-0-0', to: 'web.default.svc.cluster.local:80' })).toThrow(expect.objectContaining({ code: 'PODNET_INVALID_ARGUMENT' }));
    expect(() => net.trace({ from: 'default/pod-0-0', to: '10.244.0.2:99999' })).toThrow('to: "10.244.0.2:99999": port 99999 is outside 1-65535');
    expect(() => net.trace({ from: 'default/pod-0-0', to: '10.244.0.2:80', size: 20 })).toThrow('size: 20 is outside 28-65535 bytes');
    expect(() => net.trace({ from: 'default/pod-0-0', to: '10.244.0.2:80', port: 81 })).toThrow('port: --to names port 80 and --port 81');
    expect(() => net.trace({ from: 'default/pod-0-0', to: '10.244.0.2', proto: 'sctp' as 'tcp' })).toThrow('proto: "sctp" is not tcp, udp or icmp');
  });
});

describe('bridges', () => {
  const selfService = (): NetfilterFactory => (plan, netns) =>
    plan.node === 'node-0' && netns === 'root'
      ? {
          hook(point, pkt) {
            if (point === 'PREROUTING' && pkt.dst === '10.96.0.1') pkt.dst = '10.244.0.2';
            return { verdict: 'accept' };
          },
        }
      : undefined;

  it('a DNAT back to the sender in bridge PREROUTING needs hairpin on the ingress port', async () => {
    for (const hairpin of [false, true]) {
      const plan = flannelStylePlan({ nodes: 1 });
      node(plan, 'node-0').sysctls.push({ netns: 'root', key: 'net.bridge.bridge-nf-call-iptables', value: '1' });
      const veth = node(plan, 'node-0').links.find((l) => l.kind === 'veth')!;
      veth.hairpin = hairpin;
      const net = await emulator({ netfilter: selfService() }).apply(plan);
      net.trace({ from: 'node/node-0', to: 'default/pod-0-0:80' }); // cni0 learns the pod's MAC
      const r = net.trace({ from: 'default/pod-0-0', to: '10.96.0.1:80' });
      if (hairpin) {
        expect(r.verdict).toBe('delivered');
        expect(r.delivered?.pod).toBe('default/pod-0-0');
      } else {
        expect(r.verdict).toBe('dropped');
        expect(r.reason).toBe('bridge node-0/root/cni0: destination is behind the ingress port veth00000001 and hairpin is off');
      }
    }
  });

  it('stops a broadcast storm (an L2 loop has no TTL) after the event limit', async () => {
    const plan = flannelStylePlan({ nodes: 2 });
    for (const n of plan.nodes) {
      const vx = n.links.find((l) => l.name === 'flannel.1')!;
      vx.master = 'cni0';
      vx.hairpin = true;
      const peer = n.node === 'node-0' ? '192.168.50.11' : '192.168.50.10';
      n.fdb.push({ netns: 'root', dev: 'flannel.1', lladdr: '00:00:00:00:00:00', dst: peer });
    }
    const net = await emulator({ maxEvents: 3000 }).apply(plan);
    const r = net.trace({ from: 'default/pod-0-0', to: '10.244.0.99:80' });
    expect(r.verdict).toBe('dropped');
    expect(r.reason).toBe('stopped after 3000 events (a forwarding loop without a TTL, such as an L2 loop)');
  });
});

describe('update and destroy', () => {
  it('applies a changed plan node by node, keeping what the nodes learned', async () => {
    const net = await emulator().apply(flannelStylePlan({ nodes: 2, podsPerNode: 1 }));
    expect(() => net.trace({ from: 'default/pod-0-0', to: 'default/pod-1-1:80' })).toThrow('--to default/pod-1-1:80: no pod default/pod-1-1');
    net.trace({ from: 'default/pod-0-0', to: 'default/pod-1-0:80' });
    const learned = net.neighbours('node-0', 'default/pod-0-0');
    expect(learned).toHaveLength(1);
    await net.update(flannelStylePlan({ nodes: 2, podsPerNode: 2 }));
    expect(net.neighbours('node-0', 'default/pod-0-0')).toEqual(learned);
    const r = net.trace({ from: 'default/pod-0-0', to: 'default/pod-1-1:80' });
    expect(r.verdict).toBe('delivered');
    expect(r.hops.some((h) => h.netns === 'default/pod-0-0' && h.step === 'arp')).toBe(false);
    await net.update(flannelStylePlan({ nodes: 1, podsPerNode: 1 }));
    expect(() => net.trace({ from: 'default/pod-0-0', to: 'default/pod-1-0:80' })).toThrow('no pod default/pod-1-0');
    expect(net.namespaces().some((n) => n.node === 'node-1')).toBe(false);
  });

  it('a change of rule text only updates the netfilter engines, which keep their state', async () => {
    const updates: string[] = [];
    let built = 0;
    const factory: NetfilterFactory = (plan, netns) => {
      if (netns !== 'root') return undefined;
      built++;
      return { hook: () => ({ verdict: 'accept' }), update: (p) => void updates.push(`${p.node}: ${p.iptables.ipv4}`) };
    };
    const plan = flannelStylePlan({ nodes: 2 });
    const net = await emulator({ netfilter: factory }).apply(plan);
    expect(built).toBe(2);
    const next = flannelStylePlan({ nodes: 2 });
    node(next, 'node-1').iptables.ipv4 = '*filter\nCOMMIT\n';
    await net.update(next);
    expect(built).toBe(2);
    expect(updates).toEqual(['node-1: *filter\nCOMMIT\n']);
  });

  it('destroy is idempotent and the network refuses work afterwards', async () => {
    const net = await emulator().apply(flannelStylePlan({ nodes: 1 }));
    await net.destroy();
    await net.destroy();
    expect(() => net.trace({ from: 'default/pod-0-0', to: '10.244.0.2:80' })).toThrow(expect.objectContaining({ code: 'PODNET_BACKEND' }));
  });
});

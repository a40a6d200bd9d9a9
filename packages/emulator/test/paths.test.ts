import { describe, expect, it } from 'vitest';
import { emulator, flannelStylePlan } from '@podnet/emulator';
import { node, only, walk } from './helpers.js';

describe('pod to pod on one node', () => {
  it('goes veth → bridge → veth without routing, and answers along the same bridge', async () => {
    const net = await emulator().apply(flannelStylePlan({ nodes: 1, podsPerNode: 2 }));
    net.trace({ from: 'default/pod-0-0', to: 'default/pod-0-1:80' }); // resolves ARP
    const r = net.trace({ from: 'default/pod-0-0', to: 'default/pod-0-1:80' });
    expect(r.verdict).toBe('delivered');
    expect(r.delivered).toEqual({ node: 'node-0', pod: 'default/pod-0-1', netns: 'default/pod-0-1', ip: '10.244.0.3', port: 80 });
    expect(walk(r.hops)).toEqual([
      'node-0 default/pod-0-0 eth0 send',
      'node-0 default/pod-0-0 eth0 route',
      'node-0 default/pod-0-0 eth0 xmit',
      'node-0 root cni0 bridge',
      'node-0 default/pod-0-1 eth0 recv',
      'node-0 default/pod-0-1 eth0 deliver',
    ]);
    expect(r.hops[1].detail).toBe('10.244.0.0/24 dev eth0 proto kernel scope link src 10.244.0.2');
    expect(r.hops[3].detail).toMatch(/^in veth00000001: fdb [0-9a-f:]{17} dev veth00000002 master cni0$/);
    expect(r.hops.some((h) => h.step === 'forward')).toBe(false);
    expect(r.reply?.verdict).toBe('delivered');
    expect(walk(r.reply!.hops)).toEqual([
      'node-0 default/pod-0-1 eth0 send',
      'node-0 default/pod-0-1 eth0 route',
      'node-0 default/pod-0-1 eth0 xmit',
      'node-0 root cni0 bridge',
      'node-0 default/pod-0-0 eth0 recv',
      'node-0 default/pod-0-0 eth0 deliver',
    ]);
    expect(r.reply!.hops[0].packet).toMatchObject({ src: '10.244.0.3', dst: '10.244.0.2', sport: 80, flags: 'S.' });
  });

  it('resolves the neighbour with a real ARP request and reply when no entry exists, then uses the cache', async () => {
    const net = await emulator().apply(flannelStylePlan({ nodes: 1, podsPerNode: 2 }));
    expect(net.neighbours('node-0', 'default/pod-0-0')).toEqual([]);
    const first = net.trace({ from: 'default/pod-0-0', to: '10.244.0.3:80' });
    expect(first.verdict).toBe('delivered');
    const arp = first.hops.filter((h) => h.step === 'arp');
    expect(arp.map((h) => `${h.netns} ${h.detail}`)).toEqual([
      'default/pod-0-0 who-has 10.244.0.3 tell 10.244.0.2',
      expect.stringMatching(/^default\/pod-0-1 reply 10\.244\.0\.3 is-at [0-9a-f:]{17} \(local address\)$/),
      expect.stringMatching(/^default\/pod-0-0 resolved: 10\.244\.0\.3 dev eth0 lladdr [0-9a-f:]{17} REACHABLE; sending 1 queued$/),
    ]);
    // the broadcast request is flooded by the bridge; the reply is forwarded by the MAC it learned
    const bridge = first.hops.filter((h) => h.step === 'bridge').map((h) => h.detail);
    expect(bridge[0]).toBe('in veth00000001: broadcast, flood + local');
    expect(bridge[1]).toMatch(/^in veth00000002: fdb [0-9a-f:]{17} dev veth00000001 master cni0$/);
    expect(net.neighbours('node-0', 'default/pod-0-0')).toEqual([
      { netns: 'default/pod-0-0', dev: 'eth0', ip: '10.244.0.3', lladdr: expect.any(String), state: 'REACHABLE' },
    ]);
    expect(net.fdb('node-0', 'root').filter((e) => e.state === 'learned').map((e) => e.dev).sort()).toEqual(['veth00000001', 'veth00000002']);
    const second = net.trace({ from: 'default/pod-0-0', to: '10.244.0.3:80' });
    expect(second.hops.some((h) => h.step === 'arp')).toBe(false);
  });

  it('learned bridge entries age out with the virtual clock, and the bridge floods again', async () => {
    const net = await emulator().apply(flannelStylePlan({ nodes: 1, podsPerNode: 2 }));
    net.trace({ from: 'default/pod-0-0', to: '10.244.0.3:80' });
    net.clock.advance(301);
    const r = net.trace({ from: 'default/pod-0-0', to: '10.244.0.3:80' });
    expect(r.verdict).toBe('delivered');
    expect(r.hops.find((h) => h.step === 'bridge')?.detail).toMatch(/not in fdb, flood$/);
  });
});

describe('pod to pod across nodes over VXLAN (flannel style)', () => {
  it('routes onlink into flannel.1, uses the static neighbour and FDB entries, encapsulates, decapsulates', async () => {
    const plan = flannelStylePlan({ nodes: 2, podsPerNode: 1 });
    const net = await emulator().apply(plan);
    net.trace({ from: 'default/pod-0-0', to: 'default/pod-1-0:80' });
    const r = net.trace({ from: 'default/pod-0-0', to: 'default/pod-1-0:80' });
    expect(r.verdict).toBe('delivered');
    expect(r.delivered).toMatchObject({ node: 'node-1', pod: 'default/pod-1-0', ip: '10.244.1.2', port: 80 });
    expect(walk(r.hops)).toEqual([
      'node-0 default/pod-0-0 eth0 send',
      'node-0 default/pod-0-0 eth0 route',
      'node-0 default/pod-0-0 eth0 xmit',
      'node-0 root cni0 bridge',
      'node-0 root cni0 recv',
      'node-0 root flannel.1 forward',
      'node-0 root flannel.1 xmit',
      'node-0 root flannel.1 vxlan-encap',
      'node-0 root eth0 route',
      'node-0 root eth0 xmit',
      'fabric 192.168.50.0/24 192.168.50.0/24 switch',
      'node-1 root eth0 recv',
      'node-1 root flannel.1 vxlan-decap',
      'node-1 root flannel.1 recv',
      'node-1 root cni0 forward',
      'node-1 root cni0 xmit',
      'node-1 root cni0 bridge',
      'node-1 default/pod-1-0 eth0 recv',
      'node-1 default/pod-1-0 eth0 deliver',
    ]);
    const vtep1 = node(plan, 'node-1').links.find((l) => l.name === 'flannel.1')!.mac!;
    const by = (step: string, n: string) => r.hops.find((h) => h.step === step && h.node === n)!;
    expect(by('forward', 'node-0').detail).toBe('10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink');
    expect(by('forward', 'node-0').packet.ttl).toBe(63);
    expect(r.hops[6].detail).toBe(`neigh 10.244.1.0 dev flannel.1 lladdr ${vtep1} PERMANENT`);
    const encap = by('vxlan-encap', 'node-0');
    expect(encap.detail).toMatch(new RegExp(`^fdb ${vtep1} dst 192\\.168\\.50\\.11 self permanent; vni 1, udp 192\\.168\\.50\\.10:\\d+ > 192\\.168\\.50\\.11:8472$`));
    expect(encap.packet).toMatchObject({
      src: '10.244.0.2',
      dst: '10.244.1.2',
      proto: 'tcp',
      dport: 80,
      encap: { type: 'vxlan', vni: 1, outerSrc: '192.168.50.10', outerDst: '192.168.50.11', dport: 8472 },
    });
    expect(by('vxlan-decap', 'node-1').before?.encap?.outerDst).toBe('192.168.50.11');
    expect(by('vxlan-decap', 'node-1').packet.encap).toBeUndefined();
    expect(by('forward', 'node-1').packet.ttl).toBe(62);
  });

  it('brings the SYN-ACK back along the reverse path', async () => {
    const net = await emulator().apply(flannelStylePlan({ nodes: 2, podsPerNode: 1 }));
    net.trace({ from: 'default/pod-0-0', to: 'default/pod-1-0:80' });
    const r = net.trace({ from: 'default/pod-0-0', to: 'default/pod-1-0:80' });
    expect(r.reply?.verdict).toBe('delivered');
    expect(only(r.reply!.hops, 'send', 'forward', 'vxlan-encap', 'switch', 'vxlan-decap', 'deliver')).toEqual([
      'node-1 default/pod-1-0 eth0 send',
      'node-1 root flannel.1 forward',
      'node-1 root flannel.1 vxlan-encap',
      'fabric 192.168.50.0/24 192.168.50.0/24 switch',
      'node-0 root flannel.1 vxlan-decap',
      'node-0 root cni0 forward',
      'node-0 default/pod-0-0 eth0 deliver',
    ]);
    expect(r.reply!.hops.at(-1)!.packet).toMatchObject({ src: '10.244.1.2', dst: '10.244.0.2', sport: 80, flags: 'S.' });
    expect(r.reply!.hops.at(-1)!.detail).toMatch(/^to the socket that sent it/);
  });

  it('crosses the underlay router when the nodes are on different subnets (plain routes, not L2)', async () => {
    const net = await emulator().apply(flannelStylePlan({ nodes: 2, subnets: ['192.168.50.0/24', '192.168.60.0/24'] }));
    const first = net.trace({ from: 'default/pod-0-0', to: 'default/pod-1-0:80' });
    expect(first.verdict).toBe('delivered');
    // the first packet ARPs for the router on node-0's segment; the router ARPs for node-1 on the other
    expect(first.hops.filter((h) => h.step === 'arp' && h.detail.startsWith('who-has 192.168')).map((h) => `${h.node} ${h.device} ${h.detail}`)).toEqual([
      'node-0 eth0 who-has 192.168.50.254 tell 192.168.50.10',
      'router eth1 who-has 192.168.60.10 tell 192.168.60.254',
    ]);
    const r = net.trace({ from: 'default/pod-0-0', to: 'default/pod-1-0:80' });
    expect(r.verdict).toBe('delivered');
    expect(only(r.hops, 'route', 'forward', 'switch', 'recv').filter((s) => !s.includes('pod-'))).toEqual([
      'node-0 root cni0 recv',
      'node-0 root flannel.1 forward',
      'node-0 root eth0 route',
      'fabric 192.168.50.0/24 192.168.50.0/24 switch',
      'router root eth0 recv',
      'router root eth1 forward',
      'fabric 192.168.60.0/24 192.168.60.0/24 switch',
      'node-1 root eth0 recv',
      'node-1 root flannel.1 recv',
      'node-1 root cni0 forward',
    ]);
    const eth0Route = r.hops.find((h) => h.node === 'node-0' && h.netns === 'root' && h.step === 'route' && h.device === 'eth0')!;
    expect(eth0Route.detail).toBe('default via 192.168.50.254 dev eth0');
    const atRouter = r.hops.find((h) => h.node === 'router' && h.step === 'forward')!;
    expect(atRouter.detail).toBe('192.168.60.0/24 dev eth1 proto kernel scope link src 192.168.60.254');
    // the router decrements the outer TTL; the inner packet is untouched until node-1 forwards it
    expect(atRouter.packet).toMatchObject({ dst: '10.244.1.2', ttl: 63, encap: { outerSrc: '192.168.50.10', outerDst: '192.168.60.10' } });
    expect(r.reply?.verdict).toBe('delivered');
  });
});

describe('pod to pod across nodes with plain routes (no encapsulation)', () => {
  it('routes the pod subnet via the other node on the shared segment, host-gw style', async () => {
    const plan = flannelStylePlan({ nodes: 2 });
    for (const n of plan.nodes) {
      n.links = n.links.filter((l) => l.name !== 'flannel.1');
      n.addresses = n.addresses.filter((a) => a.dev !== 'flannel.1');
      n.neighbors = [];
      n.fdb = [];
      n.routes = n.routes.filter((r) => r.dev !== 'flannel.1');
      const peer = n.node === 'node-0' ? { cidr: '10.244.1.0/24', ip: '192.168.50.11' } : { cidr: '10.244.0.0/24', ip: '192.168.50.10' };
      n.routes.push({ netns: 'root', dst: peer.cidr, family: 4, via: peer.ip, dev: 'eth0' });
    }
    const net = await emulator().apply(plan);
    net.trace({ from: 'default/pod-0-0', to: 'default/pod-1-0:80' });
    const r = net.trace({ from: 'default/pod-0-0', to: 'default/pod-1-0:80' });
    expect(r.verdict).toBe('delivered');
    expect(only(r.hops, 'forward', 'switch', 'recv').filter((s) => !s.includes('pod-'))).toEqual([
      'node-0 root cni0 recv',
      'node-0 root eth0 forward',
      'fabric 192.168.50.0/24 192.168.50.0/24 switch',
      'node-1 root eth0 recv',
      'node-1 root cni0 forward',
    ]);
    expect(r.hops.find((h) => h.step === 'forward')!.detail).toBe('10.244.1.0/24 via 192.168.50.11 dev eth0');
    expect(r.hops.some((h) => h.packet.encap)).toBe(false);
    expect(r.reply?.verdict).toBe('delivered');
  });
});

describe('what the kernel refuses', () => {
  it('answers a SYN to a closed TCP port with RST', async () => {
    const net = await emulator().apply(flannelStylePlan({ nodes: 2 }));
    const r = net.trace({ from: 'default/pod-0-0', to: 'default/pod-1-0:81' });
    expect(r.verdict).toBe('rejected');
    expect(r.reason).toBe('tcp port 81 closed in node-1/default/pod-1-0 (TCP RST)');
    expect(r.hops.at(-1)).toMatchObject({ node: 'node-1', step: 'deliver', detail: 'tcp port 81 closed: RST' });
    expect(r.reply?.verdict).toBe('delivered');
    expect(r.reply!.hops[0].packet).toMatchObject({ src: '10.244.1.2', dst: '10.244.0.2', sport: 81, flags: 'R.' });
    expect(r.reply!.hops.at(-1)).toMatchObject({ node: 'node-0', netns: 'default/pod-0-0', step: 'deliver' });
  });

  it('answers UDP to a closed port with ICMP port unreachable quoting the datagram', async () => {
    const net = await emulator().apply(flannelStylePlan({ nodes: 2 }));
    const r = net.trace({ from: 'default/pod-0-0', to: '10.244.1.2:9999', proto: 'udp' });
    expect(r.verdict).toBe('rejected');
    expect(r.reason).toMatch(/udp port 9999 closed in node-1\/default\/pod-1-0 \(ICMP port unreachable\)/);
    const icmp = r.reply!.hops.find((h) => h.step === 'icmp')!;
    expect(icmp).toMatchObject({ node: 'node-1', netns: 'default/pod-1-0', detail: 'port unreachable to 10.244.0.2' });
    expect(icmp.packet).toMatchObject({ src: '10.244.1.2', dst: '10.244.0.2', proto: 'icmp', icmp: { type: 3, code: 3 } });
    expect(r.reply?.verdict).toBe('delivered');
    expect(r.reply!.hops.at(-1)).toMatchObject({ netns: 'default/pod-0-0', step: 'deliver' });
  });

  it('UDP to an open port is delivered and echoed by the workload', async () => {
    const net = await emulator().apply(flannelStylePlan({ nodes: 2 }));
    const r = net.trace({ from: 'default/pod-0-0', to: '10.244.1.2:5353', proto: 'udp', payload: new TextEncoder().encode('ping') });
    expect(r.verdict).toBe('delivered');
    expect(new TextDecoder().decode(r.response)).toBe('ping');
    expect(r.reply?.verdict).toBe('delivered');
  });

  it('stops a routing loop by TTL and sends ICMP time exceeded back (no infinite loop)', async () => {
    const plan = flannelStylePlan({ nodes: 2 });
    node(plan, 'node-0').routes.push({ netns: 'root', dst: '10.99.0.0/24', family: 4, via: '192.168.50.11', dev: 'eth0' });
    node(plan, 'node-1').routes.push({ netns: 'root', dst: '10.99.0.0/24', family: 4, via: '192.168.50.10', dev: 'eth0' });
    const net = await emulator().apply(plan);
    const r = net.trace({ from: 'default/pod-0-0', to: '10.99.0.5:80' });
    expect(r.verdict).toBe('dropped');
    expect(r.reason).toMatch(/^TTL exceeded in transit at node-\d\/root \(ICMP time exceeded\)$/);
    const forwards = r.hops.filter((h) => h.step === 'forward');
    expect(forwards).toHaveLength(63); // the pod sends TTL 64; every forward takes one; the 64th host sees TTL 1
    expect(forwards.map((h) => h.node).slice(0, 4)).toEqual(['node-0', 'node-1', 'node-0', 'node-1']);
    expect(forwards.at(-1)!.packet.ttl).toBe(1);
    const icmp = r.reply!.hops.find((h) => h.step === 'icmp')!;
    expect(icmp.packet.icmp).toEqual({ type: 11, code: 0 });
    expect(r.reply?.verdict).toBe('delivered');
    expect(r.reply!.hops.at(-1)).toMatchObject({ netns: 'default/pod-0-0', step: 'deliver' });
  });

  it('drops a 1500-byte DF packet at flannel.1 with "fragmentation needed" when the pod MTU is 1500', async () => {
    const net = await emulator().apply(flannelStylePlan({ nodes: 2, podMtu: 1500 }));
    const r = net.trace({ from: 'default/pod-0-0', to: 'default/pod-1-0:80', size: 1500, df: true });
    expect(r.verdict).toBe('dropped');
    expect(r.reason).toBe('fragmentation needed at node-0/root dev flannel.1: 1500 bytes > mtu 1450');
    expect(r.hops.at(-1)).toMatchObject({ node: 'node-0', device: 'flannel.1', step: 'drop' });
    expect(r.hops.at(-1)!.detail).toBe('fragmentation needed: 1500 bytes > mtu 1450 of flannel.1 and DF set');
    expect(r.hops.at(-1)!.packet.length).toBe(1500);
    const icmp = r.reply!.hops.find((h) => h.step === 'icmp')!;
    expect(icmp.packet.icmp).toEqual({ type: 3, code: 4 });
    expect(icmp.detail).toBe('fragmentation needed (mtu 1450) to 10.244.0.2');
    expect(r.reply?.verdict).toBe('delivered');
  });

  it('delivers the same 1500-byte DF send when the pod MTU is 1450 (the segment fits the overlay)', async () => {
    const net = await emulator().apply(flannelStylePlan({ nodes: 2, podMtu: 1450 }));
    const r = net.trace({ from: 'default/pod-0-0', to: 'default/pod-1-0:80', size: 1500, df: true });
    expect(r.verdict).toBe('delivered');
    const encap = r.hops.find((h) => h.step === 'vxlan-encap')!;
    expect(encap.packet.length).toBe(1450);
  });

  it('fragments a 1500-byte UDP datagram without DF at flannel.1 (mtu 1450) and reassembles it in the receiving pod', async () => {
    const net = await emulator().apply(flannelStylePlan({ nodes: 2, podMtu: 1500 }));
    const r = net.trace({ from: 'default/pod-0-0', to: 'default/pod-1-0:5353', proto: 'udp', size: 1500, df: false, pcap: true });
    expect(r.verdict).toBe('delivered');
    expect(r.delivered).toMatchObject({ node: 'node-1', pod: 'default/pod-1-0', port: 5353 });
    const frag = r.hops.filter((h) => h.step === 'fragment');
    expect(frag).toHaveLength(1);
    expect(frag[0]).toMatchObject({ node: 'node-0', netns: 'root', device: 'flannel.1' });
    expect(frag[0]!.detail).toBe('fragment: 1500 bytes into 2 fragments (1444+76) for mtu 1450 of flannel.1');
    const steps = r.hops.map((h) => h.step);
    expect(steps.indexOf('fragment')).toBeLessThan(steps.indexOf('vxlan-encap'));
    expect(frag[0]!.packet).toMatchObject({ length: 1500, fragments: [1444, 76] });
    // Each fragment rides in its own VXLAN packet (at most 1444 + 50 bytes: the underlay's 1500 fits).
    expect(r.hops.find((h) => h.step === 'vxlan-encap')!.packet).toMatchObject({ length: 1500, fragments: [1444, 76], encap: { type: 'vxlan' } });
    const re = r.hops.filter((h) => h.step === 'reassemble');
    expect(re).toHaveLength(1);
    expect(re[0]).toMatchObject({ node: 'node-1', netns: 'default/pod-1-0', device: 'eth0' });
    expect(re[0]!.detail).toBe('reassemble: 2 fragments, 1500 bytes');
    expect(re[0]!.packet.fragments).toBeUndefined();
    expect(steps.indexOf('reassemble')).toBeLessThan(steps.lastIndexOf('deliver'));
  });

  it('fragments at the sender when the pod MTU is smaller than a datagram without DF', async () => {
    const net = await emulator().apply(flannelStylePlan({ nodes: 2, podMtu: 1450 }));
    const r = net.trace({ from: 'default/pod-0-0', to: 'default/pod-1-0:5353', proto: 'udp', size: 3000, df: false });
    expect(r.verdict).toBe('delivered');
    const frag = r.hops.filter((h) => h.step === 'fragment');
    expect(frag.map((h) => [h.netns, h.device, h.detail])).toEqual([
      ['default/pod-0-0', 'eth0', 'fragment: 3000 bytes into 3 fragments (1444+1444+152) for mtu 1450 of eth0'],
    ]);
    expect(r.hops.find((h) => h.step === 'reassemble')!.detail).toBe('reassemble: 3 fragments, 3000 bytes');
  });

  it('still drops the 1500-byte UDP datagram with DF at flannel.1 (fragmentation needed), fragmenting nothing', async () => {
    const net = await emulator().apply(flannelStylePlan({ nodes: 2, podMtu: 1500 }));
    const r = net.trace({ from: 'default/pod-0-0', to: 'default/pod-1-0:5353', proto: 'udp', size: 1500, df: true });
    expect(r.verdict).toBe('dropped');
    expect(r.reason).toBe('fragmentation needed at node-0/root dev flannel.1: 1500 bytes > mtu 1450');
    expect(r.hops.some((h) => h.step === 'fragment' || h.step === 'reassemble')).toBe(false);
    expect(r.reply!.hops.find((h) => h.step === 'icmp')!.packet.icmp).toEqual({ type: 3, code: 4 });
  });

  it('drops a packet to be forwarded when forwarding is off, silently', async () => {
    const plan = flannelStylePlan({ nodes: 2 });
    node(plan, 'node-0').sysctls = [{ netns: 'root', key: 'net.ipv4.ip_forward', value: '0' }];
    const net = await emulator().apply(plan);
    const r = net.trace({ from: 'default/pod-0-0', to: 'default/pod-1-0:80' });
    expect(r.verdict).toBe('dropped');
    expect(r.reason).toBe('forwarding disabled in node-0/root (net.ipv4.ip_forward=0)');
    expect(r.hops.at(-1)).toMatchObject({ node: 'node-0', netns: 'root', device: 'cni0', step: 'drop' });
    expect(r.reply).toBeUndefined();
  });

  it('reports no route as unreachable with ICMP net unreachable from the router', async () => {
    const net = await emulator().apply(flannelStylePlan({ nodes: 1 }));
    const r = net.trace({ from: 'node/node-0', to: '198.51.100.7:80' });
    expect(r.verdict).toBe('unreachable');
    expect(r.reason).toBe('no route to 198.51.100.7 in router/root (ICMP net unreachable)');
    expect(r.reply?.hops.find((h) => h.step === 'icmp')?.packet.icmp).toEqual({ type: 3, code: 0 });
  });

  it('reports an address nobody answers ARP for as unreachable after three probes', async () => {
    const net = await emulator().apply(flannelStylePlan({ nodes: 1, podsPerNode: 1 }));
    const r = net.trace({ from: 'default/pod-0-0', to: '10.244.0.77:80' });
    expect(r.verdict).toBe('unreachable');
    expect(r.reason).toBe('10.244.0.77 does not answer ARP on node-0/default/pod-0-0/eth0 (host unreachable)');
    expect(r.hops.filter((h) => h.step === 'arp').map((h) => h.detail)).toEqual([
      'who-has 10.244.0.77 tell 10.244.0.2',
      'who-has 10.244.0.77 tell 10.244.0.2 (probe 2)',
      'who-has 10.244.0.77 tell 10.244.0.2 (probe 3)',
    ]);
    expect(net.neighbours('node-0', 'default/pod-0-0')).toContainEqual({ netns: 'default/pod-0-0', dev: 'eth0', ip: '10.244.0.77', state: 'FAILED' });
  });
});

describe('outside the cluster and the nodes themselves', () => {
  it('the external host pings a node through the router', async () => {
    const net = await emulator().apply(flannelStylePlan({ nodes: 1 }));
    const r = net.trace({ from: 'external', to: '192.168.50.10', proto: 'icmp' });
    expect(r.verdict).toBe('delivered');
    expect(r.delivered).toMatchObject({ node: 'node-0', netns: 'root', ip: '192.168.50.10' });
    expect(r.source).toEqual({ node: 'external', netns: 'root', ip: '203.0.113.10' });
    expect(r.hops.filter((h) => h.step === 'forward').map((h) => h.node)).toEqual(['router']);
    expect(r.reply?.verdict).toBe('delivered');
    expect(r.reply!.hops.at(-1)).toMatchObject({ node: 'external', step: 'deliver' });
  });

  it('a node reaches a pod on another node from its root namespace with its flannel.1 address', async () => {
    const net = await emulator().apply(flannelStylePlan({ nodes: 2 }));
    const r = net.trace({ from: 'node/node-0', to: 'default/pod-1-0:80' });
    expect(r.verdict).toBe('delivered');
    expect(r.source.ip).toBe('10.244.0.0');
  });

  it('a pod reaches its own address over loopback', async () => {
    const net = await emulator().apply(flannelStylePlan({ nodes: 1 }));
    const r = net.trace({ from: 'default/pod-0-0', to: 'default/pod-0-0:80' });
    expect(r.verdict).toBe('delivered');
    expect(walk(r.hops)).toEqual(['node-0 default/pod-0-0 lo send', 'node-0 default/pod-0-0 lo route', 'node-0 default/pod-0-0 lo recv', 'node-0 default/pod-0-0 lo deliver']);
  });
});

describe('IPv6', () => {
  const v6 = () => flannelStylePlan({ nodes: 2, podsPerNode: 2, clusterCIDRv6: 'fd00:10:244::/56' });

  it('pod to pod on one node resolves with NDP and is delivered', async () => {
    const net = await emulator().apply(v6());
    const r = net.trace({ from: 'default/pod-0-0', to: '[fd00:10:244::3]:80' });
    expect(r.verdict).toBe('delivered');
    expect(r.delivered).toMatchObject({ pod: 'default/pod-0-1', ip: 'fd00:10:244::3', port: 80 });
    const ndp = r.hops.filter((h) => h.step === 'ndp');
    expect(ndp[0]).toMatchObject({ netns: 'default/pod-0-0', detail: 'neighbor solicitation: who has fd00:10:244::3' });
    expect(ndp[0].packet).toMatchObject({ src: 'fd00:10:244::2', dst: 'ff02::1:ff00:3', proto: 'icmpv6', icmp: { type: 135, code: 0 } });
    expect(ndp[1].detail).toMatch(/^neighbor advertisement: fd00:10:244::3 is-at /);
    expect(r.reply?.verdict).toBe('delivered');
  });

  it('pod to pod across nodes over flannel.1 decrements the hop limit and is delivered', async () => {
    const net = await emulator().apply(v6());
    const r = net.trace({ from: 'default/pod-0-0', to: 'default/pod-1-1:80' });
    expect(r.destination.ip).toBe('10.244.1.3'); // a dual-stack pod is reached on the primary family
    const r6 = net.trace({ from: 'default/pod-0-0', to: '[fd00:10:244:1::3]:80' });
    expect(r6.verdict).toBe('delivered');
    expect(r6.delivered).toMatchObject({ node: 'node-1', pod: 'default/pod-1-1' });
    const fwd = r6.hops.filter((h) => h.step === 'forward');
    expect(fwd.map((h) => `${h.node} ${h.detail}`)).toEqual([
      'node-0 fd00:10:244:1::/64 via fd00:10:244:1:: dev flannel.1 metric 1024 onlink',
      'node-1 fd00:10:244:1::/64 dev cni0 proto kernel metric 256',
    ]);
    expect(fwd.map((h) => h.packet.ttl)).toEqual([63, 62]);
    expect(r6.hops.find((h) => h.step === 'vxlan-encap')!.packet.encap).toMatchObject({ outerSrc: '192.168.50.10', outerDst: '192.168.50.11', vni: 1 });
    expect(r6.reply?.verdict).toBe('delivered');
  });

  it('an IPv6 packet too big for flannel.1 is dropped with ICMPv6 packet too big', async () => {
    const net = await emulator().apply(flannelStylePlan({ nodes: 2, podMtu: 1500, clusterCIDRv6: 'fd00:10:244::/56' }));
    const r = net.trace({ from: 'default/pod-0-0', to: '[fd00:10:244:1::2]:5353', proto: 'udp', size: 1500 });
    expect(r.verdict).toBe('dropped');
    expect(r.reason).toBe('packet too big at node-0/root dev flannel.1: 1500 bytes > mtu 1450');
    expect(r.reply!.hops.find((h) => h.step === 'icmp')!.packet.icmp).toEqual({ type: 2, code: 0 });
  });
});

describe('loopback', () => {
  it('every address of 127.0.0.0/8 is local (a local prefix route on lo), not only 127.0.0.1', async () => {
    const net = await emulator().apply(flannelStylePlan({ nodes: 1 }));
    expect(net.namespace('node-0', 'default/pod-0-0').routes({ family: 4, table: 'local' })).toContain('local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1');
    const r = net.trace({ from: 'default/pod-0-0', to: '127.0.0.53:80' });
    expect(r.verdict).toBe('delivered'); // the workload listens on the wildcard address
    expect(r.delivered).toMatchObject({ ip: '127.0.0.53', port: 80 });
    expect(r.hops.every((h) => h.device === 'lo')).toBe(true);
  });
});

describe('links and routes', () => {
  it('a link that is down drops what is sent into it', async () => {
    const plan = flannelStylePlan({ nodes: 1, podsPerNode: 2 });
    const veth = node(plan, 'node-0').links.find((l) => l.name === 'veth00000002')!;
    veth.up = false;
    const net = await emulator().apply(plan);
    const r = net.trace({ from: 'default/pod-0-1', to: '10.244.0.2:80' });
    // every ARP request dies at the down peer, so the neighbour never resolves
    expect(r.verdict).toBe('unreachable');
    expect(r.reason).toBe('10.244.0.2 does not answer ARP on node-0/default/pod-0-1/eth0 (host unreachable)');
    expect(r.hops.filter((h) => h.step === 'drop').map((h) => h.detail)).toEqual([
      'peer veth00000002 is down',
      'peer veth00000002 is down',
      'peer veth00000002 is down',
      'neigh 10.244.0.2 dev eth0 FAILED: no ARP reply after 3 probes',
    ]);
  });

  it('picks the lowest metric among equal prefixes and skips routes whose device is down', async () => {
    const plan = flannelStylePlan({ nodes: 1 });
    const root = node(plan, 'node-0');
    root.links.push({ kind: 'dummy', name: 'd0', netns: 'root', up: false }, { kind: 'dummy', name: 'd1', netns: 'root' });
    root.routes.push(
      { netns: 'root', dst: '198.51.100.0/24', family: 4, dev: 'd0', metric: 5 },
      { netns: 'root', dst: '198.51.100.0/24', family: 4, dev: 'd1', metric: 10 },
      { netns: 'root', dst: '198.51.100.0/25', family: 4, via: '192.168.50.254', dev: 'eth0', metric: 100 },
    );
    const net = await emulator().apply(plan);
    const ns = net.namespace('node-0');
    expect(ns.route('198.51.100.200')?.text).toBe('198.51.100.0/24 dev d1 scope link metric 10');
    expect(ns.route('198.51.100.7')?.text).toBe('198.51.100.0/25 via 192.168.50.254 dev eth0 metric 100');
    const r = net.trace({ from: 'node/node-0', to: '198.51.100.200:80' });
    expect(r.verdict).toBe('dropped');
    expect(r.reason).toBe('sent into dummy device node-0/root/d1');
  });

  it("the bridge's own address is local: a pod pings its gateway on the node", async () => {
    const net = await emulator().apply(flannelStylePlan({ nodes: 1 }));
    const r = net.trace({ from: 'default/pod-0-0', to: '10.244.0.1', proto: 'icmp' });
    expect(r.verdict).toBe('delivered');
    expect(r.delivered).toEqual({ node: 'node-0', netns: 'root', ip: '10.244.0.1' });
    expect(r.hops.at(-1)).toMatchObject({ node: 'node-0', netns: 'root', device: 'cni0', step: 'deliver', detail: 'echo request: kernel replies' });
    expect(r.reply?.verdict).toBe('delivered');
  });

  it('a router whose neighbour does not answer sends ICMP host unreachable back', async () => {
    const net = await emulator().apply(flannelStylePlan({ nodes: 2 }));
    const r = net.trace({ from: 'default/pod-0-0', to: '10.244.1.77:80' });
    expect(r.verdict).toBe('unreachable');
    expect(r.reason).toBe('10.244.1.77 does not answer ARP on node-1/root/cni0 (host unreachable)');
    const icmp = r.reply!.hops.find((h) => h.step === 'icmp')!;
    expect(icmp).toMatchObject({ node: 'node-1', detail: 'host unreachable to 10.244.0.2' });
    expect(icmp.packet.icmp).toEqual({ type: 3, code: 1 });
    expect(r.reply?.verdict).toBe('delivered');
  });

  it('IPv6 ping across nodes is answered by the kernel', async () => {
    const net = await emulator().apply(flannelStylePlan({ nodes: 2, clusterCIDRv6: 'fd00:10:244::/56' }));
    const r = net.trace({ from: 'default/pod-0-0', to: 'fd00:10:244:1::2', proto: 'icmp' });
    expect(r.verdict).toBe('delivered');
    expect(r.hops[0].packet).toMatchObject({ proto: 'icmpv6', icmp: { type: 128, code: 0 } });
    expect(r.reply!.hops.at(-1)!.packet).toMatchObject({ src: 'fd00:10:244:1::2', icmp: { type: 129, code: 0 } });
  });
});

import { emptyNodeDataplane, type NodeDataplane } from '@podnet/core';
import { describe, expect, it } from 'vitest';
import type { ChoiceOption, HookEnv, NamespaceView, PacketContext, RouteView } from '../hooks.js';
import { VirtualClock } from './conntrack.js';
import { createNetfilter, netfilterFactory, type NetfilterNamespace, rejectWith } from './engine.js';

const ADDRS: Record<string, string[]> = { eth0: ['192.168.0.2'], cni0: ['10.244.1.1'] };

const ns: NamespaceView = {
  node: 'node-1',
  name: 'root',
  addressType: (ip) =>
    Object.values(ADDRS).flat().includes(ip) || ip.startsWith('127.') ? 'local' : 'unicast',
  isLocalAddress: (ip) => Object.values(ADDRS).flat().includes(ip),
  addresses: (dev, family) =>
    (dev ? (ADDRS[dev] ?? []) : Object.values(ADDRS).flat()).filter(
      (a) => !family || (a.includes(':') ? 6 : 4) === family,
    ),
  route: (): RouteView | undefined => undefined,
  sourceAddress: (dst, oif) =>
    oif ? ADDRS[oif]?.[0] : dst.startsWith('10.244.') ? '10.244.1.1' : '192.168.0.2',
  sysctl: () => undefined,
  hasDevice: (d) => d in ADDRS,
};

function env(choose: (o: readonly ChoiceOption[]) => number = () => 0, journal?: (() => void)[]): HookEnv {
  return { chooser: { choose }, clock: { now: () => 0 }, undo: (fn) => journal?.push(fn) };
}

function ctx(p: Partial<PacketContext> = {}): PacketContext {
  return {
    family: 4,
    src: '192.168.0.9',
    dst: '10.96.0.10',
    proto: 'tcp',
    sport: 40000,
    dport: 80,
    tcpFlags: { syn: true, ack: false, rst: false, fin: false, psh: false },
    ttl: 64,
    mark: 0,
    iif: 'eth0',
    bridged: false,
    length: 60,
    local: false,
    ...p,
  };
}

function plan(iptables: string, extra: Partial<NodeDataplane> = {}): NodeDataplane {
  return { ...emptyNodeDataplane('node-1'), iptables: { ipv4: iptables, ipv6: '' }, ...extra };
}

const KP = `*nat
:KUBE-SERVICES - [0:0]
:KUBE-SVC - [0:0]
-A PREROUTING -j KUBE-SERVICES
-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp --dport 80 -j KUBE-SVC
-A KUBE-SVC -p tcp -m statistic --mode random --probability 0.5 -j DNAT --to-destination 10.244.1.5:8080
-A KUBE-SVC -p tcp -j DNAT --to-destination 10.244.1.6:8080
-A POSTROUTING -s 192.168.0.0/24 -o cni0 -j MASQUERADE
COMMIT
*filter
-A FORWARD -p udp --dport 9 -j REJECT --reject-with icmp-admin-prohibited
-A FORWARD -p tcp --dport 7 -j REJECT --reject-with tcp-reset
COMMIT
`;

describe('createNetfilter (the emulator hook)', () => {
  const clock = { now: () => 0 };

  it('gives the root namespace an engine when the plan has rules, and none otherwise', () => {
    expect(createNetfilter(plan(KP), 'root', { clock })).toBeDefined();
    expect(createNetfilter(plan(KP), 'default/web-0', { clock })).toBeUndefined();
    expect(createNetfilter(plan(''), 'root', { clock })).toBeUndefined();
    expect(() => createNetfilter(plan('*filter\n-A FORWARD --bogus\nCOMMIT\n'), 'root', { clock })).toThrow(
      /node node-1 iptables:2: unknown option "--bogus"/,
    );
  });

  it('rewrites the PacketContext for NAT, keeps its conntrack reference, and un-NATs the reply', () => {
    const nf = createNetfilter(plan(KP), 'root', { clock })!;
    const c = ctx();
    const pre = nf.hook(
      'PREROUTING',
      c,
      ns,
      env(() => 1),
    );
    expect(pre.verdict).toBe('accept');
    expect(c).toMatchObject({ dst: '10.244.1.6', dport: 8080 });
    expect(c.ct).toBeDefined();
    expect(pre.trace?.map((t) => `${t.table} ${t.chain ?? ''}`.trim())).toEqual([
      'conntrack',
      'nat PREROUTING',
      'nat KUBE-SERVICES',
      'statistic',
      'nat KUBE-SVC',
      'nat',
      'nat',
    ]);
    const fwd = { ...c, oif: 'cni0' };
    expect(nf.hook('FORWARD', fwd, ns, env()).verdict).toBe('accept');
    expect(nf.hook('POSTROUTING', fwd, ns, env()).verdict).toBe('accept');
    expect(fwd.src).toBe('10.244.1.1');
    const reply = ctx({
      src: '10.244.1.6',
      dst: '10.244.1.1',
      sport: 8080,
      dport: 40000,
      iif: 'cni0',
      tcpFlags: { syn: true, ack: true, rst: false, fin: false, psh: false },
    });
    nf.hook('PREROUTING', reply, ns, env());
    expect(reply).toMatchObject({ dst: '192.168.0.9', dport: 40000 });
    const out = { ...reply, oif: 'eth0' };
    nf.hook('FORWARD', out, ns, env());
    nf.hook('POSTROUTING', out, ns, env());
    expect(out).toMatchObject({ src: '10.96.0.10', sport: 80 });
  });

  it('maps REJECT to the reject the emulator sends', () => {
    const nf = createNetfilter(plan(KP), 'root', { clock })!;
    const udp = ctx({ proto: 'udp', dst: '10.244.1.5', dport: 9, tcpFlags: undefined, oif: 'cni0' });
    nf.hook('PREROUTING', udp, ns, env());
    expect(nf.hook('FORWARD', udp, ns, env())).toMatchObject({
      verdict: 'reject',
      with: 'icmp-admin-prohibited',
    });
    const tcp = ctx({ dst: '10.244.1.5', dport: 7, oif: 'cni0' });
    nf.hook('PREROUTING', tcp, ns, env());
    expect(nf.hook('FORWARD', tcp, ns, env())).toMatchObject({ verdict: 'reject', with: 'tcp-reset' });
    expect(rejectWith({ with: 'icmp', icmpType: 1, icmpCode: 5, name: 'x' }, 6)).toBe('icmp6-policy-fail');
  });

  it('draws random choices from the chooser and rolls state back through undo', () => {
    const nf = createNetfilter(plan(KP), 'root', { clock })! as NetfilterNamespace;
    const journal: (() => void)[] = [];
    const seen: number[] = [];
    const c = ctx();
    const count = (o: readonly ChoiceOption[]) => {
      seen.push(o.length);
      return 0;
    };
    nf.hook('PREROUTING', c, ns, env(count, journal));
    nf.hook(
      'POSTROUTING',
      { ...c, oif: 'cni0' },
      ns,
      env(() => 0, journal),
    );
    expect(seen).toEqual([2]);
    expect(nf.nf.conntrack.size).toBe(1);
    for (const f of journal.reverse()) f();
    expect(nf.nf.conntrack.size).toBe(0);
  });

  it('update() replaces the rules and keeps conntrack', () => {
    const vclock = new VirtualClock();
    const nf = netfilterFactory()(plan(KP), 'root', { clock: vclock })! as NetfilterNamespace;
    const c = ctx();
    nf.hook(
      'PREROUTING',
      c,
      ns,
      env(() => 0),
    );
    nf.hook('POSTROUTING', { ...c, oif: 'cni0' }, ns, env());
    nf.update(plan(KP.replace('10.244.1.5:8080', '10.244.1.7:8080')));
    // the established flow keeps its endpoint; a new one uses the new rules
    const again = ctx({ tcpFlags: { syn: false, ack: true, rst: false, fin: false, psh: false } });
    nf.hook(
      'PREROUTING',
      again,
      ns,
      env(() => 0),
    );
    expect(again.dst).toBe('10.244.1.5');
    const fresh = ctx({ sport: 40001 });
    nf.hook(
      'PREROUTING',
      fresh,
      ns,
      env(() => 0),
    );
    expect(fresh.dst).toBe('10.244.1.7');
  });
});

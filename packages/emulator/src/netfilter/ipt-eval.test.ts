import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { enumeratePaths, replayChooser } from './chooser.js';
import { VirtualClock } from './conntrack.js';
import { NetfilterHarness, type PacketSpec } from './harness.js';
import { TCP_ACK, TCP_FIN, TCP_SYN } from './packet.js';
import type { NfTraceEvent } from './types.js';

const NODE = {
  addresses: [
    { dev: 'eth0', cidr: '192.168.0.2/24' },
    { dev: 'cni0', cidr: '10.244.1.1/24' },
  ],
  routes: [{ dst: 'default', dev: 'eth0' }],
};

function node(iptables: string, opts: { clock?: VirtualClock; ipset?: string } = {}): NetfilterHarness {
  const h = new NetfilterHarness(NODE, { clock: opts.clock });
  if (opts.ipset) h.nf.applyIpset(opts.ipset);
  h.nf.applyIptables(iptables, 4);
  return h;
}

const fwd = (p: Partial<PacketSpec> = {}): PacketSpec => ({
  proto: 'tcp',
  src: '192.168.0.9',
  dst: '10.244.1.5',
  sport: 40000,
  dport: 80,
  iif: 'eth0',
  ...p,
});
const filter = (...rules: string[]) =>
  `*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n${rules.join('\n')}\nCOMMIT\n`;
const rulesHit = (events: NfTraceEvent[]) =>
  events.filter((e) => e.kind === 'rule').map((e) => (e as { rule: string }).rule);

describe('iptables interpreter: matches', () => {
  it('protocol, ports, ranges and negation', () => {
    const h = node(
      filter(
        '-A FORWARD -p tcp --dport 8000:8100 -j DROP',
        '-A FORWARD -p udp ! --sport 53 -j REJECT',
        '-A FORWARD -p tcp -m tcp --sport 1:1023 -j REJECT --reject-with tcp-reset',
      ),
    );
    expect(h.send(fwd({ dport: 8050 })).disposition).toBe('dropped');
    expect(h.send(fwd({ dport: 8101 })).disposition).toBe('forwarded');
    expect(h.send(fwd({ proto: 'udp', sport: 53, dport: 9 })).disposition).toBe('forwarded');
    expect(h.send(fwd({ proto: 'udp', sport: 54, dport: 9 })).reject).toMatchObject({
      icmpType: 3,
      icmpCode: 3,
    });
    expect(h.send(fwd({ sport: 22 })).reject).toMatchObject({ with: 'tcp-reset' });
  });

  it('tcp flags and --syn', () => {
    const h = node(
      filter(
        '-A FORWARD -p tcp --syn --dport 81 -j DROP',
        '-A FORWARD -p tcp --tcp-flags SYN,ACK,FIN FIN --dport 82 -j DROP',
      ),
    );
    expect(h.send(fwd({ dport: 81, tcpFlags: TCP_SYN })).disposition).toBe('dropped');
    expect(h.send(fwd({ dport: 81, tcpFlags: TCP_ACK })).disposition).toBe('forwarded');
    expect(h.send(fwd({ dport: 82, sport: 41000, tcpFlags: TCP_FIN })).disposition).toBe('dropped');
  });

  it('multiport, source/destination prefixes with masks, interface wildcards', () => {
    const h = node(
      filter(
        '-A FORWARD -p tcp -m multiport --dports 22,8000:8005 -j DROP',
        '-A FORWARD -s 172.16.0.0/255.240.0.0 -j REJECT',
        '-A FORWARD -i eth+ -o cni0 -d 10.244.1.66 -j REJECT --reject-with icmp-host-prohibited',
      ),
    );
    expect(h.send(fwd({ dport: 8003 })).disposition).toBe('dropped');
    expect(h.send(fwd({ dport: 22 })).disposition).toBe('dropped');
    expect(h.send(fwd({ src: '172.31.255.1', iif: 'eth0' })).disposition).toBe('rejected');
    expect(h.send(fwd({ dst: '10.244.1.66' })).reject?.name).toBe('icmp-host-prohibited');
    expect(h.send(fwd({ dst: '10.244.1.67' })).disposition).toBe('forwarded');
  });

  it('addrtype LOCAL, with and without --limit-iface-in', () => {
    const h = node(
      '*mangle\n-A PREROUTING -m addrtype --dst-type LOCAL --limit-iface-in -j MARK --set-mark 1\n-A PREROUTING -m addrtype --dst-type LOCAL -j MARK --or-mark 2\nCOMMIT\n',
    );
    expect(h.send(fwd({ dst: '192.168.0.2' })).packet.mark).toBe(3);
    // cni0's address arriving on eth0: local, but not on the input interface
    expect(h.send(fwd({ dst: '10.244.1.1', sport: 40001 })).packet.mark).toBe(2);
    expect(h.send(fwd({ dst: '10.244.1.9', sport: 40002 })).packet.mark).toBe(0);
  });

  it('statistic random asks the chooser; probability 1 and 0 do not', () => {
    const text = `*nat\n:S - [0:0]\n-A PREROUTING -j S\n-A S -m statistic --mode random --probability 0.25 -j DNAT --to-destination 10.244.1.7\n-A S -m statistic --mode random --probability 1.0 -j DNAT --to-destination 10.244.1.8\n-A S -j DNAT --to-destination 10.244.1.9\nCOMMIT\n`;
    const h = node(text);
    const paths = enumeratePaths((chooser) => {
      const undo: (() => void)[] = [];
      const o = h.send(fwd(), { chooser, undo: (f) => undo.push(f) });
      for (const f of undo.reverse()) f();
      return o.packet.dst;
    });
    expect(paths.map((p) => [p.result, p.probability])).toEqual([
      ['10.244.1.7', 0.25],
      ['10.244.1.8', 0.75],
    ]);
    expect(h.nf.conntrack.size).toBe(0);
  });

  it('statistic nth matches the --packet-th packet of every --every', () => {
    const h = node(
      '*mangle\n-A PREROUTING -m statistic --mode nth --every 3 --packet 1 -j MARK --set-mark 7\nCOMMIT\n',
    );
    const marks = [0, 1, 2, 3, 4, 5].map((i) => h.send(fwd({ sport: 1000 + i })).packet.mark);
    expect(marks).toEqual([0, 7, 0, 0, 7, 0]);
  });

  it('mark: MARK forms reduce to xmark, -m mark compares under the mask', () => {
    const h = node(
      '*mangle\n-A PREROUTING -j MARK --set-mark 0xff00\n-A PREROUTING -j MARK --and-mark 0x0ff0\n-A PREROUTING -j MARK --or-mark 0x1\n-A PREROUTING -j MARK --xor-mark 0x3\n-A PREROUTING -j MARK --set-xmark 0x10/0x10\n-A PREROUTING -m mark --mark 0xf12/0xfff -j MARK --set-mark 0x5/0xf\nCOMMIT\n',
    );
    // 0xff00 & 0x0ff0 = 0x0f00; |1 = 0x0f01; ^3 = 0x0f02; xmark 0x10/0x10 = 0x0f12; then low nibble := 5
    expect(h.send(fwd()).packet.mark).toBe(0x0f15);
  });

  it('conntrack states: NEW, ESTABLISHED after a reply, INVALID for a stray SYN/ACK, DNAT', () => {
    const h = node(
      '*nat\n-A PREROUTING -d 10.96.0.1 -p tcp --dport 443 -j DNAT --to-destination 10.244.1.5:6443\nCOMMIT\n' +
        filter(
          '-A FORWARD -m conntrack --ctstate INVALID -j DROP',
          '-A FORWARD -m conntrack --ctstate NEW,DNAT --ctorigdst 10.96.0.1 --ctorigdstport 443 -j ACCEPT',
          '-A FORWARD -m conntrack --ctstate ESTABLISHED --ctstatus SEEN_REPLY -j ACCEPT',
          '-A FORWARD -m conntrack --ctstate NEW -p tcp --dport 80 -j ACCEPT',
          '-A FORWARD -j REJECT',
        ),
    );
    const out = h.send(fwd({ dst: '10.96.0.1', dport: 443 }));
    expect(out.disposition).toBe('forwarded');
    expect(out.packet).toMatchObject({ dst: '10.244.1.5', dport: 6443 });
    const back = h.reply(out, { iif: 'cni0' });
    expect(back.disposition).toBe('forwarded');
    expect(back.packet).toMatchObject({ src: '10.96.0.1', sport: 443, dst: '192.168.0.9', dport: 40000 });
    // the client's ACK is ESTABLISHED now
    expect(h.send(fwd({ dst: '10.96.0.1', dport: 443, tcpFlags: TCP_ACK })).disposition).toBe('forwarded');
    // a SYN/ACK nobody asked for
    expect(h.send(fwd({ sport: 5555, tcpFlags: TCP_SYN | TCP_ACK })).disposition).toBe('dropped');
    expect(h.send(fwd({ sport: 5556, dport: 81 })).disposition).toBe('rejected');
  });

  it('recent: --set, --rcheck with --seconds and --reap, --update, --remove, --hitcount, --mask', () => {
    const clock = new VirtualClock();
    const h = node(
      '*filter\n:R - [0:0]\n' +
        '-A FORWARD -p tcp --dport 1 -m recent --name L --mask 255.255.255.0 --set -j ACCEPT\n' +
        '-A FORWARD -p tcp --dport 2 -m recent --name L --mask 255.255.255.0 --rcheck --seconds 10 --reap -j ACCEPT\n' +
        '-A FORWARD -p tcp --dport 3 -m recent --name L --mask 255.255.255.0 --update --seconds 10 --hitcount 3 -j ACCEPT\n' +
        '-A FORWARD -p tcp --dport 4 -m recent --name L --mask 255.255.255.0 --remove -j ACCEPT\n' +
        '-A FORWARD -j DROP\nCOMMIT\n',
      { clock },
    );
    let sport = 1000;
    const go = (dport: number, src = '192.168.0.9') =>
      h.send(fwd({ dport, src, sport: sport++ })).disposition;
    expect(go(2)).toBe('dropped');
    expect(go(1)).toBe('forwarded');
    // another host of the same /24
    expect(go(2, '192.168.0.10')).toBe('forwarded');
    expect(h.nf.recent.entries('L')).toEqual([{ address: '4|3232235520', last: 0, hits: 1 }]);
    clock.advance(11);
    expect(go(2)).toBe('dropped');
    // --reap removed the stale entry
    expect(h.nf.recent.entries('L')).toEqual([]);
    expect(go(1)).toBe('forwarded');
    // one hit so far, --hitcount 3 wants three within 10 s (a miss does not add one)
    expect(go(3)).toBe('dropped');
    expect(go(1)).toBe('forwarded');
    expect(go(3)).toBe('dropped');
    expect(go(1)).toBe('forwarded');
    expect(go(3)).toBe('forwarded');
    expect(h.nf.recent.entries('L')[0].hits).toBe(4);
    expect(go(4)).toBe('forwarded');
    expect(go(4)).toBe('dropped');
  });

  it('set: ipset lookups with directions, nomatch entries and families', () => {
    const ipset = [
      'create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536',
      'add KUBE-CLUSTER-IP 10.96.0.1,tcp:443',
      'create NETS hash:net family inet',
      'add NETS 192.168.0.0/16',
      'add NETS 192.168.7.0/24 nomatch',
    ].join('\n');
    const h = node(
      filter(
        '-A FORWARD -m set --match-set KUBE-CLUSTER-IP dst,dst -j REJECT',
        '-A FORWARD -m set ! --match-set NETS src -j DROP',
      ),
      { ipset },
    );
    expect(h.send(fwd({ dst: '10.96.0.1', dport: 443 })).disposition).toBe('rejected');
    expect(h.send(fwd({ dst: '10.96.0.1', dport: 80 })).disposition).toBe('forwarded');
    expect(h.send(fwd({ proto: 'udp', dst: '10.96.0.1', dport: 443 })).disposition).toBe('forwarded');
    expect(h.send(fwd({ src: '192.168.7.1' })).disposition).toBe('dropped');
    expect(h.send(fwd({ src: '10.1.1.1' })).disposition).toBe('dropped');
  });

  it('nfacct counts, physdev matches bridged packets, icmp types, comments are ignored', () => {
    const h = node(
      filter(
        '-A FORWARD -m nfacct --nfacct-name web -m comment --comment "count it"',
        '-A FORWARD -m physdev --physdev-in veth+ --physdev-is-bridged -j DROP',
        '-A FORWARD -p icmp --icmp-type echo-request -j REJECT --reject-with icmp-admin-prohibited',
      ),
    );
    h.send(fwd({ length: 100 }));
    h.send(fwd({ sport: 1, length: 50 }));
    expect(h.nf.nfacct.get('web')).toEqual({ packets: 2, bytes: 150 });
    const bridged = h.packet(fwd({ sport: 2 }));
    bridged.physIn = 'veth1234';
    bridged.physOut = 'veth5678';
    expect(h.send(bridged).disposition).toBe('dropped');
    expect(h.send(fwd({ proto: 'icmp' })).reject).toMatchObject({ icmpCode: 13 });
    expect(h.send(fwd({ proto: 'icmp', icmpType: 0 })).disposition).toBe('forwarded');
  });
});

describe('iptables interpreter: targets and chains', () => {
  it('jumps, gotos, RETURN and the policy', () => {
    const h = node(
      '*filter\n:FORWARD DROP [0:0]\n:A - [0:0]\n:B - [0:0]\n-A FORWARD -j A\n-A FORWARD -p tcp --dport 1 -j ACCEPT\n-A A -p tcp --dport 1 -g B\n-A A -p tcp --dport 2 -j B\n-A A -p tcp --dport 2 -j ACCEPT\n-A B -j RETURN\nCOMMIT\n',
    );
    const one = h.send(fwd({ dport: 1 }));
    expect(one.disposition).toBe('forwarded');
    expect(rulesHit(one.events)).toEqual([
      '-A FORWARD -j A',
      '-A A -p tcp --dport 1 -g B',
      '-A B -j RETURN',
      '-A FORWARD -p tcp --dport 1 -j ACCEPT',
    ]);
    expect(h.send(fwd({ dport: 2 })).disposition).toBe('forwarded');
    const three = h.send(fwd({ dport: 3 }));
    expect(three.disposition).toBe('dropped');
    expect(three.reason).toBe('filter FORWARD policy DROP');
  });

  it('DNAT picks the endpoint on the first packet and replays it; replies are un-NATed', () => {
    const h = node(
      '*nat\n-A PREROUTING -d 10.96.0.10 -p udp --dport 53 -j DNAT --to-destination 10.244.1.3:5353\nCOMMIT\n',
    );
    const q = h.send(fwd({ proto: 'udp', dst: '10.96.0.10', dport: 53, sport: 33333 }));
    expect(q.packet).toMatchObject({ dst: '10.244.1.3', dport: 5353 });
    const r = h.reply(q, { iif: 'cni0' });
    expect(r.packet).toMatchObject({ src: '10.96.0.10', sport: 53, dst: '192.168.0.9', dport: 33333 });
    const again = h.send(fwd({ proto: 'udp', dst: '10.96.0.10', dport: 53, sport: 33333 }));
    expect(again.packet).toMatchObject({ dst: '10.244.1.3', dport: 5353 });
    expect(rulesHit(again.events)).toEqual([]);
    expect(h.nf.conntrack.size).toBe(1);
  });

  it('SNAT and MASQUERADE keep the port when free and remap it on a clash', () => {
    const h = node('*nat\n-A POSTROUTING -o eth0 -j MASQUERADE\nCOMMIT\n');
    const a = h.send({
      proto: 'udp',
      src: '10.244.1.5',
      dst: '8.8.8.8',
      sport: 5000,
      dport: 53,
      iif: 'cni0',
    });
    expect(a.packet).toMatchObject({ src: '192.168.0.2', sport: 5000 });
    const b = h.send({
      proto: 'udp',
      src: '10.244.1.6',
      dst: '8.8.8.8',
      sport: 5000,
      dport: 53,
      iif: 'cni0',
    });
    expect(b.packet.src).toBe('192.168.0.2');
    expect(b.packet.sport).not.toBe(5000);
    expect(b.packet.sport).toBeGreaterThanOrEqual(1024);
    const back = h.reply(b, { iif: 'eth0' });
    expect(back.packet).toMatchObject({ dst: '10.244.1.6', dport: 5000, src: '8.8.8.8', sport: 53 });
  });

  it('MASQUERADE --to-ports and SNAT to a range', () => {
    const h = node(
      '*nat\n-A POSTROUTING -p tcp -o eth0 -j MASQUERADE --to-ports 30000-30001\n-A POSTROUTING -p udp -j SNAT --to-source 192.168.0.50-192.168.0.50:7000\nCOMMIT\n',
    );
    const ports = [0, 1].map(
      (i) =>
        h.send({ proto: 'tcp', src: '10.244.1.5', dst: '1.1.1.1', sport: 40000 + i, dport: 80, iif: 'cni0' })
          .packet.sport,
    );
    expect(ports.sort()).toEqual([30000, 30001]);
    expect(
      h.send({ proto: 'udp', src: '10.244.1.5', dst: '1.1.1.1', sport: 9, dport: 53, iif: 'cni0' }).packet,
    ).toMatchObject({ src: '192.168.0.50', sport: 7000 });
  });

  it('REDIRECT to the input interface address, or to loopback from OUTPUT', () => {
    const h = node(
      '*nat\n-A PREROUTING -p tcp --dport 80 -j REDIRECT --to-ports 8080\n-A OUTPUT -p tcp -d 10.96.0.1 -j REDIRECT --to-ports 9000\nCOMMIT\n',
    );
    const a = h.send(fwd({ iif: 'cni0', src: '10.244.1.5', dst: '1.2.3.4' }));
    expect(a.disposition).toBe('local');
    expect(a.packet).toMatchObject({ dst: '10.244.1.1', dport: 8080 });
    const b = h.send({ proto: 'tcp', src: '192.168.0.2', dst: '10.96.0.1', sport: 5, dport: 443 });
    expect(b.disposition).toBe('local');
    expect(b.hooks).toEqual(['OUTPUT', 'POSTROUTING', 'PREROUTING', 'INPUT']);
    expect(b.packet).toMatchObject({ dst: '127.0.0.1', dport: 9000 });
  });

  it('LOG goes into the trace; NOTRACK makes the packet untracked', () => {
    const h = node(
      '*raw\n-A PREROUTING -p udp --dport 53 -j NOTRACK\nCOMMIT\n' +
        filter(
          '-A FORWARD -j LOG --log-prefix "fwd: "',
          '-A FORWARD -m conntrack --ctstate UNTRACKED -j REJECT',
        ),
    );
    const t = h.send(fwd());
    expect(t.events.find((e) => e.kind === 'log')).toMatchObject({
      prefix: 'fwd: ',
      packet: 'tcp 192.168.0.9:40000 > 10.244.1.5:80 [SYN]',
    });
    expect(t.disposition).toBe('forwarded');
    expect(h.send(fwd({ proto: 'udp', dport: 53 })).disposition).toBe('rejected');
  });

  it('records every matched rule, the NAT and the conntrack entry in the trace', () => {
    const h = node(
      '*nat\n:SVC - [0:0]\n-A PREROUTING -m comment --comment "to svc" -j SVC\n-A SVC -p tcp -j DNAT --to-destination 10.244.1.9:8080\nCOMMIT\n',
    );
    const o = h.send(fwd({ dst: '10.96.0.7' }));
    const kinds = o.events.map((e) => e.kind);
    expect(kinds).toEqual(['conntrack', 'rule', 'rule', 'nat', 'nat', 'conntrack']);
    expect(o.events[1]).toMatchObject({
      table: 'nat',
      chain: 'PREROUTING',
      line: 3,
      action: 'jump SVC',
      rule: '-A PREROUTING -m comment --comment "to svc" -j SVC',
    });
    expect(o.events[3]).toMatchObject({ type: 'dnat', from: '10.96.0.7:80', to: '10.244.1.9:8080' });
    expect(o.events[5]).toMatchObject({ action: 'confirmed' });
  });

  it('large chains are indexed without changing the first match', () => {
    const dsts = ['10.96.0.1', '10.96.0.2', '10.96.0.3', '10.96.0.4'];
    const ports = [80, 443];
    const spec = fc.record({
      dst: fc.option(fc.constantFrom(...dsts), { nil: undefined }),
      port: fc.option(fc.constantFrom(...ports), { nil: undefined }),
      verdict: fc.constantFrom('ACCEPT', 'DROP'),
    });
    fc.assert(
      fc.property(
        fc.array(spec, { minLength: 16, maxLength: 40 }),
        fc.constantFrom(...dsts),
        fc.constantFrom(...ports),
        (specs, dst, port) => {
          const lines = specs.map(
            (s) =>
              `-A T -p tcp${s.dst ? ` -d ${s.dst}` : ''}${s.port ? ` --dport ${s.port}` : ''} -j ${s.verdict}`,
          );
          const h = node(
            `*filter\n:T - [0:0]\n-A FORWARD -j T\n${lines.join('\n')}\n-A FORWARD -j REJECT\nCOMMIT\n`,
          );
          const first = specs.find((s) => (!s.dst || s.dst === dst) && (!s.port || s.port === port));
          const want = !first ? 'rejected' : first.verdict === 'ACCEPT' ? 'forwarded' : 'dropped';
          expect(h.send(fwd({ dst, dport: port })).disposition).toBe(want);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('replaying the chosen path reproduces it', () => {
    const h = node(
      '*nat\n-A PREROUTING -m statistic --mode random --probability 0.5 -j DNAT --to-destination 10.244.1.7\n-A PREROUTING -j DNAT --to-destination 10.244.1.8\nCOMMIT\n',
    );
    expect(h.send(fwd(), { chooser: replayChooser([1]) }).packet.dst).toBe('10.244.1.8');
    expect(h.send(fwd({ sport: 2 }), { chooser: replayChooser([0]) }).packet.dst).toBe('10.244.1.7');
  });
});

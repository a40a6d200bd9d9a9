import { RuleParseError } from '@podnet/core';
import { describe, expect, it } from 'vitest';
import { enumeratePaths } from './chooser.js';
import { VirtualClock } from './conntrack.js';
import { NetfilterHarness } from './harness.js';
import { Ipvs, type IpvsVirtualService } from './ipvs.js';
import { TCP_ACK } from './packet.js';

function ipvs(text: string, clock = new VirtualClock()): Ipvs {
  const v = new Ipvs(clock);
  v.restore(text, 'test.ipvs');
  return v;
}

/** Schedules `n` new connections from distinct clients; returns the real servers' addresses. */
function picks(
  v: Ipvs,
  svc: IpvsVirtualService,
  n: number,
  client = (i: number) => `192.168.0.${i + 10}`,
): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const p = v.schedule(svc, client(i), 40000 + i, svc.addr!)!;
    v.commit(svc, p.server, client(i), `k${i}-${Math.random()}`, 6, !p.persistent);
    out.push(p.server.addr);
  }
  return out;
}

const svc = (v: Ipvs) => [...v.services.values()][0];

describe('ipvsadm -R', () => {
  it('parses services, real servers, weights, persistence and fwmark services', () => {
    const v = ipvs(
      [
        '-A -t 10.96.0.1:443 -s rr',
        '-a -t 10.96.0.1:443 -r 192.168.0.2:6443 -m -w 1',
        '-A -u 10.96.0.10:53 -s wrr -p 10800',
        '-a -u 10.96.0.10:53 -r 10.244.1.3:53 -m -w 2',
        '-A -f 100 -s sh -b sh-port',
        '-A -t [fd00::1]:443 -s lc -p',
        '-a -t [fd00::1]:443 -r [fd00:10::5]:6443 -m',
      ].join('\n'),
    );
    const list = [...v.services.values()];
    expect(list.map((s) => [s.name, s.scheduler, s.persistent, s.servers.length])).toEqual([
      ['TCP 10.96.0.1:443', 'rr', 0, 1],
      ['UDP 10.96.0.10:53', 'wrr', 10800, 1],
      ['FWM 100', 'sh', 0, 0],
      ['TCP [fd00::1]:443', 'lc', 300, 1],
    ]);
    expect(list[1].servers[0]).toMatchObject({ addr: '10.244.1.3', port: 53, weight: 2 });
    expect(v.lookup(4, 17, '10.96.0.10', 53, 0)?.name).toBe('UDP 10.96.0.10:53');
    expect(v.lookup(4, 6, '10.96.0.99', 1, 100)?.name).toBe('FWM 100');
    expect(v.list()).toContain('  -> 192.168.0.2:6443');
  });

  it.each([
    ['an unknown scheduler', '-A -t 10.0.0.1:80 -s lblcr\n', 1, /not modelled/],
    [
      'the default (gatewaying) method',
      '-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.1.1.1:80\n',
      2,
      /gatewaying/,
    ],
    ['tunnelling', '-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.1.1.1:80 -i\n', 2, /not modelled/],
    ['a server of a missing service', '-a -t 10.0.0.1:80 -r 10.1.1.1:80 -m\n', 1, /Service not defined/],
    ['a duplicate service', '-A -t 10.0.0.1:80\n-A -t 10.0.0.1:80\n', 2, /already exists/],
    ['a bad address', '-A -t 10.0.0.300:80\n', 1, /illegal address/],
    ['an unknown option', '-A -t 10.0.0.1:80 --frob\n', 1, /unknown option/],
  ])('refuses %s, naming the line', (_w, text, line, msg) => {
    let err: unknown;
    try {
      ipvs(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RuleParseError);
    expect((err as RuleParseError).line).toBe(line);
    expect((err as RuleParseError).message).toMatch(msg);
  });
});

describe('IPVS schedulers', () => {
  const three = (sched: string, w = [1, 1, 1]) =>
    ipvs(
      [
        `-A -t 10.96.0.1:80 -s ${sched}`,
        ...w.map((x, i) => `-a -t 10.96.0.1:80 -r 10.244.0.${i + 1}:80 -m -w ${x}`),
      ].join('\n'),
    );

  it('rr cycles through the servers, skipping weight 0', () => {
    const v = three('rr', [1, 0, 1]);
    expect(picks(v, svc(v), 4)).toEqual(['10.244.0.1', '10.244.0.3', '10.244.0.1', '10.244.0.3']);
  });

  it('wrr interleaves by weight (one plain round first, as ip_vs_wrr starts at weight 0)', () => {
    const v = three('wrr', [4, 2, 1]);
    expect(picks(v, svc(v), 10)).toEqual([
      '10.244.0.1',
      '10.244.0.2',
      '10.244.0.3',
      // current weight 4: A; 3: A; 2: A, B; 1: A, B, C
      '10.244.0.1',
      '10.244.0.1',
      '10.244.0.1',
      '10.244.0.2',
      '10.244.0.1',
      '10.244.0.2',
      '10.244.0.3',
    ]);
  });

  it('lc and wlc balance connections by weight', () => {
    const lc = three('lc');
    expect(picks(lc, svc(lc), 6)).toEqual([
      '10.244.0.1',
      '10.244.0.2',
      '10.244.0.3',
      '10.244.0.1',
      '10.244.0.2',
      '10.244.0.3',
    ]);
    const wlc = three('wlc', [2, 1, 1]);
    const got = picks(wlc, svc(wlc), 8);
    expect(got.filter((a) => a === '10.244.0.1')).toHaveLength(4);
  });

  it('nq prefers an idle server; sed weighs by (active+1)/weight', () => {
    const v = three('nq', [1, 3, 1]);
    const s = svc(v);
    s.servers[0].active = 1;
    s.servers[1].active = 5;
    expect(v.schedule(s, '1.1.1.1', 1, s.addr!)!.server.addr).toBe('10.244.0.3');
    s.servers[2].active = 2;
    // sed: (1+1)/1=2, (5+1)/3=2, (2+1)/1=3 → the first of the two lowest
    expect(v.schedule(s, '1.1.1.1', 1, s.addr!)!.server.addr).toBe('10.244.0.1');
  });

  it('sh and dh hash the source or destination: the same client always gets the same server', () => {
    const v = three('sh');
    const s = svc(v);
    const a = picks(v, s, 5, () => '203.0.113.7');
    expect(new Set(a).size).toBe(1);
    const spread = new Set(picks(v, s, 40, (i) => `203.0.113.${i}`));
    expect(spread.size).toBe(3);
    const p = v.schedule(s, '203.0.113.7', 1, s.addr!)!;
    expect(p.options).toEqual([{ server: p.server, probability: 1, preferred: true }]);
  });

  it('persistence pins a client (by netmask) until the template times out', () => {
    const clock = new VirtualClock();
    const v = ipvs(
      '-A -t 10.96.0.1:80 -s rr -p 60 -M 255.255.255.0\n-a -t 10.96.0.1:80 -r 10.244.0.1:80 -m\n-a -t 10.96.0.1:80 -r 10.244.0.2:80 -m\n',
      clock,
    );
    const s = svc(v);
    expect(picks(v, s, 3, (i) => `198.51.100.${i}`)).toEqual(['10.244.0.1', '10.244.0.1', '10.244.0.1']);
    clock.advance(61);
    expect(picks(v, s, 1, () => '198.51.100.9')).toEqual(['10.244.0.2']);
  });

  it('offers every eligible server to an enumerating chooser with its weight share', () => {
    const v = three('wrr', [3, 1, 0]);
    const s = svc(v);
    const p = v.schedule(s, '1.1.1.1', 1, s.addr!)!;
    expect(p.options.map((o) => [o.server.addr, o.probability, o.preferred])).toEqual([
      ['10.244.0.1', 0.75, true],
      ['10.244.0.2', 0.25, false],
    ]);
  });
});

describe('IPVS datapath (kube-proxy IPVS mode)', () => {
  function node(): NetfilterHarness {
    const h = new NetfilterHarness({
      addresses: [
        { dev: 'eth0', cidr: '192.168.0.2/24' },
        { dev: 'cni0', cidr: '10.244.1.1/24' },
        { dev: 'kube-ipvs0', cidr: '10.96.0.1/32' },
      ],
      routes: [{ dst: 'default', dev: 'eth0' }],
    });
    h.nf.applyIpset(
      'create KUBE-CLUSTER-IP hash:ip,port family inet\nadd KUBE-CLUSTER-IP 10.96.0.1,tcp:443\n',
      { exist: true },
    );
    h.nf.applyIptables(
      [
        '*nat',
        ':KUBE-SERVICES - [0:0]',
        ':KUBE-POSTROUTING - [0:0]',
        ':KUBE-MARK-MASQ - [0:0]',
        '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
        '-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000',
        '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
        '-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000',
        '-A KUBE-POSTROUTING -j MASQUERADE',
        '-A KUBE-SERVICES ! -s 10.244.0.0/16 -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ',
        '-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT',
        'COMMIT',
        '',
      ].join('\n'),
      4,
      { noflush: true },
    );
    h.nf.applyIpvs(
      '-A -t 10.96.0.1:443 -s rr\n-a -t 10.96.0.1:443 -r 10.244.1.5:6443 -m -w 1\n-a -t 10.96.0.1:443 -r 10.244.1.6:6443 -m -w 1\n',
    );
    return h;
  }

  it('schedules at INPUT, sends the packet out again, masquerades it, and un-NATs the reply', () => {
    const h = node();
    const o = h.send({
      proto: 'tcp',
      src: '192.168.0.9',
      dst: '10.96.0.1',
      sport: 40000,
      dport: 443,
      iif: 'eth0',
    });
    expect(o.disposition).toBe('forwarded');
    expect(o.hooks).toEqual(['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING']);
    expect(o.oif).toBe('cni0');
    expect(o.packet).toMatchObject({ src: '10.244.1.1', dst: '10.244.1.5', dport: 6443 });
    expect(o.events.find((e) => e.kind === 'ipvs')).toMatchObject({
      service: 'TCP 10.96.0.1:443',
      scheduler: 'rr',
      realServer: '10.244.1.5:6443',
    });
    const r = h.reply(o, { iif: 'cni0' });
    expect(r.disposition).toBe('forwarded');
    expect(r.packet).toMatchObject({ src: '10.96.0.1', sport: 443, dst: '192.168.0.9', dport: 40000 });
    expect(h.nf.conntrack.dump()).toMatch(
      /src=192.168.0.9 dst=10.96.0.1 sport=40000 dport=443 src=10.244.1.5 dst=10.244.1.1 sport=6443 dport=40000/,
    );
    // later packets of the connection stay on the same real server; the next connection goes round
    expect(
      h.send({
        proto: 'tcp',
        src: '192.168.0.9',
        dst: '10.96.0.1',
        sport: 40000,
        dport: 443,
        iif: 'eth0',
        tcpFlags: TCP_ACK,
      }).packet.dst,
    ).toBe('10.244.1.5');
    expect(
      h.send({ proto: 'tcp', src: '192.168.0.9', dst: '10.96.0.1', sport: 40001, dport: 443, iif: 'eth0' })
        .packet.dst,
    ).toBe('10.244.1.6');
    expect(h.nf.ipvs.list()).toMatch(/10.244.1.5:6443\s+Masq\s+1\s+1\s+0/);
  });

  it('local clients are scheduled in OUTPUT; pods keep their source address', () => {
    const h = node();
    const local = h.send({ proto: 'tcp', src: '192.168.0.2', dst: '10.96.0.1', sport: 1234, dport: 443 });
    expect(local.hooks).toEqual(['OUTPUT', 'POSTROUTING']);
    expect(local.packet).toMatchObject({ dst: '10.244.1.5', src: '10.244.1.1' });
    const pod = h.send({
      proto: 'tcp',
      src: '10.244.1.9',
      dst: '10.96.0.1',
      sport: 1234,
      dport: 443,
      iif: 'cni0',
    });
    expect(pod.packet).toMatchObject({ dst: '10.244.1.6', src: '10.244.1.9' });
  });

  it('enumerates the real servers as paths; no server left means port unreachable', () => {
    const h = node();
    const paths = enumeratePaths((chooser) => {
      const undo: (() => void)[] = [];
      const o = h.send(
        { proto: 'tcp', src: '192.168.0.9', dst: '10.96.0.1', sport: 5, dport: 443, iif: 'eth0' },
        { chooser, undo: (f) => undo.push(f) },
      );
      for (const f of undo.reverse()) f();
      return o.packet.dst;
    });
    expect(paths.map((p) => [p.result, p.probability])).toEqual([
      ['10.244.1.5', 0.5],
      ['10.244.1.6', 0.5],
    ]);
    expect(h.nf.conntrack.size).toBe(0);
    h.nf.applyIpvs(
      '-e -t 10.96.0.1:443 -r 10.244.1.5:6443 -m -w 0\n-d -t 10.96.0.1:443 -r 10.244.1.6:6443\n',
    );
    const o = h.send({
      proto: 'tcp',
      src: '192.168.0.9',
      dst: '10.96.0.1',
      sport: 6,
      dport: 443,
      iif: 'eth0',
    });
    expect(o.disposition).toBe('rejected');
    expect(o.reject).toMatchObject({ icmpType: 3, icmpCode: 3 });
  });
});

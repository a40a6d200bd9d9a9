import { describe, expect, it } from 'vitest';
import {
  Conntrack,
  formatEntry,
  invertTuple,
  type PacketCt,
  parseConntrackLine,
  VirtualClock,
} from './conntrack.js';
import {
  type NfPacket,
  PROTO_ICMP,
  PROTO_TCP,
  PROTO_UDP,
  TCP_ACK,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
} from './packet.js';

const pkt = (p: Partial<NfPacket>): NfPacket => ({
  family: 4,
  proto: PROTO_TCP,
  src: '10.0.0.1',
  dst: '10.0.0.2',
  sport: 40000,
  dport: 80,
  mark: 0,
  ...p,
});
const rev = (p: NfPacket, extra: Partial<NfPacket> = {}): NfPacket => ({
  ...p,
  src: p.dst,
  dst: p.src,
  sport: p.dport,
  dport: p.sport,
  ...extra,
});

function start(ct: Conntrack, p: NfPacket): PacketCt {
  const t = ct.track(p);
  expect(ct.confirm(t)).toBe(true);
  return t;
}

describe('conntrack', () => {
  it('tracks a TCP handshake and teardown through its states and timeouts', () => {
    const clock = new VirtualClock();
    const ct = new Conntrack({ clock });
    const syn = pkt({ tcpFlags: TCP_SYN });
    const a = start(ct, syn);
    expect(a.state).toBe('NEW');
    expect(a.entry!.tcpState).toBe('SYN_SENT');
    expect(a.entry!.expires).toBe(120);
    const b = ct.track(rev(syn, { tcpFlags: TCP_SYN | TCP_ACK }));
    expect(b).toMatchObject({ state: 'ESTABLISHED', dir: 'reply' });
    expect(b.entry!.tcpState).toBe('SYN_RECV');
    const c = ct.track(pkt({ tcpFlags: TCP_ACK }));
    expect(c.entry!.tcpState).toBe('ESTABLISHED');
    expect(c.entry!.assured).toBe(true);
    expect(c.entry!.expires).toBe(432000);
    ct.track(pkt({ tcpFlags: TCP_FIN | TCP_ACK }));
    expect(c.entry!.tcpState).toBe('FIN_WAIT');
    ct.track(rev(syn, { tcpFlags: TCP_ACK }));
    expect(c.entry!.tcpState).toBe('CLOSE_WAIT');
    ct.track(rev(syn, { tcpFlags: TCP_FIN | TCP_ACK }));
    expect(c.entry!.tcpState).toBe('LAST_ACK');
    ct.track(pkt({ tcpFlags: TCP_ACK }));
    expect(c.entry!.tcpState).toBe('TIME_WAIT');
    // a new SYN on the same tuple starts a fresh connection
    const again = ct.track(syn);
    expect(again.state).toBe('NEW');
    expect(again.entry).not.toBe(c.entry);
  });

  it('classifies stray packets as INVALID and picks up mid-stream ACKs (tcp_loose)', () => {
    const ct = new Conntrack();
    expect(ct.track(pkt({ tcpFlags: TCP_SYN | TCP_ACK })).state).toBe('INVALID');
    expect(ct.track(pkt({ tcpFlags: TCP_RST })).state).toBe('INVALID');
    expect(ct.track(pkt({ tcpFlags: TCP_FIN })).state).toBe('INVALID');
    const ack = ct.track(pkt({ tcpFlags: TCP_ACK }));
    expect(ack.state).toBe('NEW');
    expect(ack.entry!.tcpState).toBe('ESTABLISHED');
    expect(new Conntrack({ tcpLoose: false }).track(pkt({ tcpFlags: TCP_ACK })).state).toBe('INVALID');
    expect(ct.track(pkt({ proto: PROTO_ICMP, icmpType: 0, icmpId: 7 })).state).toBe('INVALID');
    expect(
      ct.track({ ...pkt({}), family: 6, proto: 58, src: 'fe80::1', dst: 'ff02::1:ff00:2', icmpType: 135 })
        .state,
    ).toBe('UNTRACKED');
  });

  it('UDP: unreplied 30 s, stream 120 s and assured once traffic continues after 2 s', () => {
    const clock = new VirtualClock();
    const ct = new Conntrack({ clock });
    const q = pkt({ proto: PROTO_UDP, dport: 53 });
    const a = start(ct, q);
    expect(a.entry!.expires).toBe(30);
    expect(ct.track(q).state).toBe('NEW');
    ct.track(rev(q));
    expect(a.entry!.seenReply).toBe(true);
    expect(a.entry!.assured).toBe(false);
    clock.advance(5);
    expect(ct.track(q).state).toBe('ESTABLISHED');
    expect(a.entry!.assured).toBe(true);
    expect(a.entry!.expires).toBe(125);
    clock.advance(121);
    expect(ct.size).toBe(0);
    expect(ct.track(q).state).toBe('NEW');
  });

  it('ICMP echo flows by id, and errors about a connection are RELATED', () => {
    const ct = new Conntrack();
    const echo = pkt({ proto: PROTO_ICMP, icmpType: 8, icmpId: 99, sport: 0, dport: 0 });
    const a = start(ct, echo);
    expect(formatEntry(a.entry!, 0)).toBe(
      'icmp     1 30 src=10.0.0.1 dst=10.0.0.2 type=8 code=0 id=99 [UNREPLIED] src=10.0.0.2 dst=10.0.0.1 type=0 code=0 id=99 mark=0 use=1',
    );
    expect(ct.track({ ...echo, src: '10.0.0.2', dst: '10.0.0.1', icmpType: 0 })).toMatchObject({
      state: 'ESTABLISHED',
      dir: 'reply',
    });
    const udp = pkt({ proto: PROTO_UDP, sport: 5000, dport: 9 });
    start(ct, udp);
    const err = ct.track({
      ...echo,
      src: '10.0.0.2',
      dst: '10.0.0.1',
      icmpType: 3,
      icmpCode: 3,
      inner: { proto: PROTO_UDP, src: '10.0.0.1', dst: '10.0.0.2', sport: 5000, dport: 9 },
    });
    expect(err).toMatchObject({ state: 'RELATED', dir: 'reply' });
    expect(
      ct.track({
        ...echo,
        icmpType: 3,
        icmpCode: 1,
        inner: { proto: PROTO_UDP, src: '9.9.9.9', dst: '8.8.8.8', sport: 1, dport: 2 },
      }).state,
    ).toBe('INVALID');
  });

  it('NAT keeps a free tuple, remaps the source port on a clash, reuses a mapping for the same source', () => {
    const ct = new Conntrack({ seed: 3 });
    const masq = { minAddr: '192.168.0.2', maxAddr: '192.168.0.2' };
    const a = ct.track(pkt({ proto: PROTO_UDP, src: '10.244.1.5', dst: '8.8.8.8', sport: 5000, dport: 53 }));
    ct.setupNat(a.entry!, 'dst', undefined);
    ct.setupNat(a.entry!, 'src', masq);
    ct.confirm(a);
    expect(a.entry!.reply).toMatchObject({ dst: '192.168.0.2', dport: 5000 });
    expect(a.entry!.srcNat).toBe(true);
    const b = ct.track(pkt({ proto: PROTO_UDP, src: '10.244.1.6', dst: '8.8.8.8', sport: 5000, dport: 53 }));
    ct.setupNat(b.entry!, 'dst', undefined);
    ct.setupNat(b.entry!, 'src', masq);
    expect(b.entry!.reply.dport).not.toBe(5000);
    expect(b.entry!.reply.dport).toBeGreaterThanOrEqual(1024);
    ct.confirm(b);
    // the same source to another destination keeps its mapping (endpoint-independent)
    const c = ct.track(pkt({ proto: PROTO_UDP, src: '10.244.1.6', dst: '1.1.1.1', sport: 5000, dport: 53 }));
    ct.setupNat(c.entry!, 'dst', undefined);
    ct.setupNat(c.entry!, 'src', masq);
    expect(c.entry!.reply.dport).toBe(b.entry!.reply.dport);
    // privileged ports stay privileged
    const d = ct.track(pkt({ proto: PROTO_UDP, src: '10.244.1.7', dst: '8.8.8.8', sport: 123, dport: 53 }));
    ct.setupNat(d.entry!, 'src', { ...masq, randomFully: true });
    expect(d.entry!.reply.dport).toBeLessThan(512);
  });

  it('a null binding moves the source port when a DNATed flow would clash (the insertion race)', () => {
    const ct = new Conntrack({ seed: 9 });
    // two clients' queries DNATed to one server from the same source port through a SNAT box
    const a = ct.track(pkt({ proto: PROTO_UDP, src: '10.0.0.1', dst: '10.96.0.10', sport: 4000, dport: 53 }));
    ct.setupNat(a.entry!, 'dst', { minAddr: '10.244.0.5', maxAddr: '10.244.0.5', minPort: 53, maxPort: 53 });
    ct.setupNat(a.entry!, 'src', undefined);
    ct.confirm(a);
    const b = ct.track(pkt({ proto: PROTO_UDP, src: '10.0.0.1', dst: '10.244.0.5', sport: 4000, dport: 53 }));
    ct.setupNat(b.entry!, 'dst', undefined);
    ct.setupNat(b.entry!, 'src', undefined);
    expect(b.entry!.reply.dport).not.toBe(4000);
    expect(b.entry!.srcNat).toBe(true);
    expect(ct.confirm(b)).toBe(true);
  });

  it('refuses to confirm a second entry whose tuple is taken', () => {
    const ct = new Conntrack();
    const a = ct.track(pkt({ proto: PROTO_UDP }));
    const b = ct.track(pkt({ proto: PROTO_UDP }));
    expect(ct.confirm(a)).toBe(true);
    // same tuples: clash resolution keeps the existing entry
    expect(ct.confirm(b)).toBe(true);
    expect(b.entry).toBe(a.entry);
    const c = ct.track(pkt({ proto: PROTO_UDP, sport: 1 }));
    c.entry!.reply = { ...a.entry!.reply };
    expect(ct.confirm(c)).toBe(false);
  });

  it('dumps as conntrack -L and parses conntrack -L back', () => {
    const ct = new Conntrack();
    const a = ct.track(pkt({ tcpFlags: TCP_SYN }));
    ct.setupNat(a.entry!, 'dst', {
      minAddr: '10.244.1.2',
      maxAddr: '10.244.1.2',
      minPort: 8080,
      maxPort: 8080,
    });
    ct.confirm(a);
    const line = ct.dump();
    expect(line).toBe(
      'tcp      6 120 SYN_SENT src=10.0.0.1 dst=10.0.0.2 sport=40000 dport=80 [UNREPLIED] src=10.244.1.2 dst=10.0.0.1 sport=8080 dport=40000 mark=0 use=1',
    );
    expect(parseConntrackLine(line)).toEqual({
      proto: 'tcp',
      protoNumber: 6,
      timeout: 120,
      state: 'SYN_SENT',
      orig: { src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 80 },
      reply: { src: '10.244.1.2', dst: '10.0.0.1', sport: 8080, dport: 40000 },
      unreplied: true,
      assured: false,
      mark: 0,
    });
    expect(
      parseConntrackLine('conntrack v1.4.7 (conntrack-tools): 1 flow entries have been shown.'),
    ).toBeUndefined();
    expect(
      parseConntrackLine(
        'udp      17 28 src=fd77:1::2 dst=fd77:2::2 sport=1 dport=2 src=fd77:2::2 dst=fd77:1::2 sport=2 dport=1 [ASSURED] mark=0 use=1',
      ),
    ).toMatchObject({ assured: true, unreplied: false });
    expect(ct.delete((e) => e.orig.dport === 80)).toBe(1);
    expect(ct.size).toBe(0);
    start(ct, pkt({}));
    expect(ct.flush()).toBe(1);
  });

  it('inverts tuples, echo types included', () => {
    expect(
      invertTuple(PROTO_ICMP, { src: 'a', dst: 'b', sport: 7, dport: 0, icmpType: 8, icmpCode: 0 }),
    ).toEqual({ src: 'b', dst: 'a', sport: 7, dport: 0, icmpType: 0, icmpCode: 0 });
    expect(invertTuple(PROTO_TCP, { src: 'a', dst: 'b', sport: 1, dport: 2 })).toEqual({
      src: 'b',
      dst: 'a',
      sport: 2,
      dport: 1,
    });
  });

  it('undoes its changes for rolled-back branches', () => {
    const ct = new Conntrack();
    const undo: (() => void)[] = [];
    const a = ct.track(pkt({ tcpFlags: TCP_SYN }), (f) => undo.push(f));
    ct.confirm(a, (f) => undo.push(f));
    ct.track(rev(pkt({ tcpFlags: TCP_SYN }), { tcpFlags: TCP_SYN | TCP_ACK }), (f) => undo.push(f));
    expect(a.entry!.tcpState).toBe('SYN_RECV');
    for (const f of undo.reverse()) f();
    expect(ct.size).toBe(0);
  });
});

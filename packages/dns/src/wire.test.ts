import dnsPacket from 'dns-packet';
import { describe, expect, it } from 'vitest';
import { createResolver } from './resolver.js';
import { testCluster } from './test-cluster.js';
import {
  answerQuery,
  completeUpstream,
  decodeAnswer,
  encodeQuestion,
  encodeResponse,
  type WireOptions,
} from './wire.js';

const resolver = createResolver(testCluster(), { serial: 7 });
const UDP: WireOptions = { transport: 'udp', recursion: true };
const TCP: WireOptions = { transport: 'tcp', recursion: true };

function query(name: string, type = 'A', extra: Record<string, unknown> = {}): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id: 0x1234,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type, class: 'IN' }],
    ...extra,
  } as any);
}

const edns = (udpPayloadSize: number, extra: Record<string, unknown> = {}) => ({
  additionals: [{ name: '.', type: 'OPT', udpPayloadSize, flags: 0, options: [], ...extra }],
});

function reply(packet: Uint8Array, options = UDP) {
  const out = answerQuery(resolver, packet, options);
  if (out.kind !== 'reply') throw new Error(`expected a reply, got ${out.kind}`);
  return { out, msg: dnsPacket.decode(out.message) as any };
}

describe('wire: queries in, dns-packet-encoded responses out', () => {
  it('answers with the ID, the question as asked, AA and RD echoed, no RA for cluster names', () => {
    const { msg, out } = reply(query('SvC1.testns.svc.cluster.local'));
    expect(msg.id).toBe(0x1234);
    expect(msg.type).toBe('response');
    expect(msg.questions).toEqual([{ name: 'SvC1.testns.svc.cluster.local', type: 'A', class: 'IN' }]);
    expect([msg.flag_aa, msg.flag_rd, msg.flag_ra, msg.flag_tc]).toEqual([true, true, false, false]);
    expect(msg.rcode).toBe('NOERROR');
    expect(msg.answers).toEqual([
      {
        name: 'SvC1.testns.svc.cluster.local',
        type: 'A',
        class: 'IN',
        ttl: 5,
        flush: false,
        data: '10.0.0.1',
      },
    ]);
    expect(out.cacheable).toBe(true);
  });

  it('puts the zone SOA in the authority section of NXDOMAIN', () => {
    const { msg } = reply(query('nosuch.testns.svc.cluster.local'));
    expect(msg.rcode).toBe('NXDOMAIN');
    expect(msg.authorities[0].type).toBe('SOA');
    expect(msg.authorities[0].data).toMatchObject({
      mname: 'ns.dns.cluster.local',
      rname: 'hostmaster.cluster.local',
      serial: 7,
    });
  });

  it('answers EDNS0 with its own OPT (1232 bytes advertised, DO echoed)', () => {
    const { msg } = reply(
      query('svc1.testns.svc.cluster.local', 'A', edns(4096, { flags: dnsPacket.DNSSEC_OK })),
    );
    const opt = msg.additionals.find((a: any) => a.type === 'OPT');
    expect(opt).toMatchObject({ udpPayloadSize: 1232, ednsVersion: 0, flag_do: true });
  });

  it('answers an unknown EDNS version with BADVERS', () => {
    const { msg, out } = reply(query('svc1.testns.svc.cluster.local', 'A', edns(1232, { ednsVersion: 1 })));
    expect(out.rcode).toBe('BADVERS');
    expect(msg.answers).toHaveLength(0);
    expect(msg.additionals.find((a: any) => a.type === 'OPT').extendedRcode).toBe(1);
  });

  it('truncates a large UDP answer with TC and answers it whole over TCP', () => {
    const plain = reply(query('many.big.svc.cluster.local'));
    expect(plain.msg.flag_tc).toBe(true);
    expect(plain.out.message.length).toBeLessThanOrEqual(512);
    expect(plain.msg.answers.length).toBeGreaterThan(0);
    expect(plain.msg.answers.length).toBeLessThan(100);
    const big = reply(query('many.big.svc.cluster.local', 'A', edns(4096)));
    expect(big.msg.flag_tc).toBe(true);
    expect(big.out.message.length).toBeLessThanOrEqual(4096);
    const tcp = reply(query('many.big.svc.cluster.local'), TCP);
    expect(tcp.msg.flag_tc).toBe(false);
    expect(tcp.msg.answers).toHaveLength(100);
  });

  it('drops additional records before cutting answers (no TC then)', () => {
    const req = { id: 1, opcode: 0, rd: true, cd: false, question: { name: 'x.cluster.local', type: 'SRV' } };
    const rr = (i: number) => ({ name: `t${i}.cluster.local`, type: 'A', ttl: 5, data: `10.0.0.${i}` });
    const answers = [1, 2, 3].map((i) => ({
      name: 'x.cluster.local',
      type: 'SRV',
      ttl: 5,
      data: { priority: 0, weight: 33, port: 80, target: `t${i}.cluster.local` },
    }));
    const full = encodeResponse(req, { rcode: 'NOERROR', answers, additionals: [1, 2, 3].map(rr) }, 65535);
    const cut = dnsPacket.decode(
      encodeResponse(req, { rcode: 'NOERROR', answers, additionals: [1, 2, 3].map(rr) }, full.length - 1),
    ) as any;
    expect(cut.flag_tc).toBe(false);
    expect(cut.answers).toHaveLength(3);
    expect(cut.additionals).toHaveLength(0);
  });

  it('answers undecodable queries with FORMERR and drops what cannot be answered', () => {
    expect(answerQuery(resolver, Buffer.alloc(5), UDP)).toEqual({ kind: 'drop', reason: 'short' });
    const response = Buffer.from(query('svc1.testns.svc.cluster.local'));
    response[2] |= 0x80;
    expect(answerQuery(resolver, response, UDP)).toEqual({ kind: 'drop', reason: 'response' });
    const garbage = Buffer.from([0xab, 0xcd, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0x3f, 0x61]);
    const { msg } = reply(garbage);
    expect([msg.id, msg.rcode, msg.flag_rd, msg.questions.length]).toEqual([0xabcd, 'FORMERR', true, 0]);
    const two = dnsPacket.encode({
      type: 'query',
      id: 9,
      questions: [
        { name: 'a.cluster.local', type: 'A' },
        { name: 'b.cluster.local', type: 'A' },
      ],
    } as any);
    expect(reply(two).msg.rcode).toBe('FORMERR');
    // A label containing a dot cannot be echoed faithfully: FORMERR, not a wrong answer.
    const dotted = Buffer.from(query('ab.testns.svc.cluster.local'));
    dotted[14] = 0x2e;
    expect(reply(dotted).msg.rcode).toBe('FORMERR');
    const twoOpt = query('svc1.testns.svc.cluster.local', 'A', {
      additionals: [edns(1232).additionals[0], edns(512).additionals[0]],
    });
    expect(reply(twoOpt).msg.rcode).toBe('FORMERR');
  });

  it('answers other opcodes with NOTIMP', () => {
    const notify = Buffer.from(query('cluster.local', 'SOA'));
    notify[2] = (notify[2] & 0x87) | (4 << 3);
    const { msg } = reply(notify);
    expect([msg.rcode, msg.opcode]).toEqual(['NOTIMP', 'NOTIFY']);
  });

  it('hands forwarding to the caller and relays or fails it', () => {
    const fwd = createResolver(testCluster(), { upstreams: ['192.0.2.1'] });
    const q = query('example.org', 'A', edns(1232));
    const out = answerQuery(fwd, q, UDP);
    expect(out.kind).toBe('upstream');
    if (out.kind !== 'upstream') return;
    expect(out.mode).toBe('forward');
    expect(out.query.equals(q)).toBe(true);
    const upstream = dnsPacket.encode({
      type: 'response',
      id: 0x1234,
      flags: dnsPacket.RECURSION_AVAILABLE | dnsPacket.RECURSION_DESIRED,
      questions: [{ name: 'example.org', type: 'A' }],
      answers: [{ name: 'example.org', type: 'A', ttl: 60, data: '93.184.215.14' }],
    } as any);
    const relayed = completeUpstream(out, upstream, UDP);
    expect(relayed.source).toBe('forward');
    expect((dnsPacket.decode(relayed.message) as any).answers[0].data).toBe('93.184.215.14');
    const failed = dnsPacket.decode(completeUpstream(out, undefined, UDP).message) as any;
    expect(failed.rcode).toBe('SERVFAIL');
    expect(answerQuery(fwd, q, { ...UDP, recursion: false })).toMatchObject({
      kind: 'reply',
      rcode: 'REFUSED',
    });
  });

  it('chases an ExternalName target through the upstream and appends its records', () => {
    const fwd = createResolver(testCluster(), { upstreams: ['192.0.2.1'] });
    const out = answerQuery(fwd, query('external.testns.svc.cluster.local'), UDP);
    if (out.kind !== 'upstream') throw new Error(out.kind);
    expect(out.mode).toBe('chase');
    const asked = dnsPacket.decode(out.query) as any;
    expect(asked.questions[0]).toMatchObject({ name: 'ext.interwebs.test', type: 'A' });
    const upstream = dnsPacket.encode({
      type: 'response',
      id: asked.id,
      questions: asked.questions,
      answers: [{ name: 'ext.interwebs.test', type: 'A', ttl: 300, data: '198.51.100.7' }],
    } as any);
    const msg = dnsPacket.decode(completeUpstream(out, upstream, UDP).message) as any;
    expect(msg.answers.map((a: any) => `${a.type} ${a.data}`)).toEqual([
      'CNAME ext.interwebs.test',
      'A 198.51.100.7',
    ]);
    expect(msg.flag_aa).toBe(true);
  });
});

describe('wire: client helpers', () => {
  it('encodeQuestion makes a stub query the server answers; decodeAnswer reads the reply back', () => {
    const resolver = createResolver(testCluster());
    const query = encodeQuestion({ name: 'svc1.testns.svc.cluster.local', type: 'A' }, 0x1_2345);
    const q = dnsPacket.decode(Buffer.from(query)) as any;
    expect([q.id, q.flag_rd, q.questions]).toEqual([
      0x2345,
      true,
      [{ name: 'svc1.testns.svc.cluster.local', type: 'A', class: 'IN' }],
    ]);
    const out = answerQuery(resolver, query, { transport: 'udp', recursion: true });
    if (out.kind !== 'reply') throw new Error(`expected a reply, got ${out.kind}`);
    const a = decodeAnswer(out.message)!;
    expect(a).toMatchObject({ rcode: 'NOERROR', authoritative: true, source: 'forward' });
    expect(a.answers.map((r) => [r.name, r.type, r.data])).toEqual([
      ['svc1.testns.svc.cluster.local', 'A', '10.0.0.1'],
    ]);
    const nx = answerQuery(
      resolver,
      encodeQuestion({ name: 'nope.testns.svc.cluster.local', type: 'A' }, 7),
      {
        transport: 'udp',
        recursion: true,
      },
    );
    if (nx.kind !== 'reply') throw new Error('expected a reply');
    expect(decodeAnswer(nx.message)!.rcode).toBe('NXDOMAIN');
  });

  it('decodeAnswer refuses what is not a DNS response', () => {
    expect(decodeAnswer(Uint8Array.of(1, 2, 3))).toBeUndefined();
    expect(decodeAnswer(encodeQuestion({ name: 'a.b', type: 'A' }, 1))).toBeUndefined();
    expect(decodeAnswer(new Uint8Array(40).fill(0xff))).toBeUndefined();
  });
});

import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResolver } from './resolver.js';
import { type DnsServer, startDnsServer } from './server.js';
import { decode, encodeQuery, tcpAsk, udpAsk } from './test-client.js';
import { testCluster } from './test-cluster.js';
import { answerQuery } from './wire.js';

const LOCAL = { listen: '127.0.0.1:0', health: '127.0.0.1:0', ready: '127.0.0.1:0', metrics: '127.0.0.1:0' };

describe('the real server', () => {
  let server: DnsServer;
  beforeAll(async () => {
    server = await startDnsServer({ state: testCluster(), ...LOCAL, resolver: { serial: 11 } });
  });
  afterAll(async () => {
    await server.stop();
  });

  it('answers over UDP and TCP with the bytes the engine produces', async () => {
    const engine = createResolver(testCluster(), { serial: 11 });
    for (const [name, type] of [
      ['svc1.testns.svc.cluster.local', 'A'],
      ['_http._tcp.hdls1.testns.svc.cluster.local', 'SRV'],
      ['nosuch.testns.svc.cluster.local', 'AAAA'],
      ['1.0.0.10.in-addr.arpa', 'PTR'],
    ]) {
      const q = encodeQuery(name, type);
      const expected = answerQuery(engine, q, { transport: 'udp', recursion: true });
      const expectedTcp = answerQuery(engine, q, { transport: 'tcp', recursion: true });
      if (expected.kind !== 'reply' || expectedTcp.kind !== 'reply') throw new Error(expected.kind);
      const viaUdp = await udpAsk(server.address.port, q);
      expect(viaUdp?.equals(expected.message)).toBe(true);
      // Asked again: the cached bytes, with this query's ID.
      const again = await udpAsk(server.address.port, encodeQuery(name, type, 0x0101));
      expect(decode(again).id).toBe(0x0101);
      expect(again?.subarray(2).equals(expected.message.subarray(2))).toBe(true);
      const [viaTcp] = await tcpAsk(server.address.port, [q]);
      expect(viaTcp.equals(expectedTcp.message)).toBe(true);
    }
  });

  it('sets TC on a UDP answer too large for the client and answers it whole over TCP', async () => {
    const q = encodeQuery('many.big.svc.cluster.local');
    const udp = decode(await udpAsk(server.address.port, q));
    expect(udp.flag_tc).toBe(true);
    const [tcp] = await tcpAsk(server.address.port, [q]);
    expect(decode(tcp).answers).toHaveLength(100);
  });

  it('answers pipelined TCP queries on one connection', async () => {
    const qs = ['svc1', 'svc6', 'nosuch'].map((s, i) =>
      encodeQuery(`${s}.testns.svc.cluster.local`, 'A', 100 + i),
    );
    const replies = (await tcpAsk(server.address.port, qs)).map(decode);
    expect(replies.map((r) => `${r.id} ${r.rcode}`).sort()).toEqual([
      '100 NOERROR',
      '101 NOERROR',
      '102 NXDOMAIN',
    ]);
  });

  it('serves /health, /ready and CoreDNS-named metrics', async () => {
    const get = async (addr: string | undefined, path: string) => {
      const res = await fetch(`http://${addr}/${path}`);
      return { status: res.status, body: await res.text() };
    };
    expect(await get(server.http.health, 'health')).toEqual({ status: 200, body: 'OK' });
    expect(await get(server.http.ready, 'ready')).toEqual({ status: 200, body: 'OK' });
    await udpAsk(server.address.port, encodeQuery('nosuch.testns.svc.cluster.local', 'A'));
    const m = await get(server.http.metrics, 'metrics');
    expect(m.status).toBe(200);
    expect(m.body).toMatch(
      /coredns_dns_requests_total\{server="dns:\/\/127\.0\.0\.1:\d+",zone="\.",proto="udp",family="1",type="A"\} \d+/,
    );
    expect(m.body).toMatch(/coredns_dns_responses_total\{.*rcode="NXDOMAIN",plugin="kubernetes"\} [1-9]/);
    expect(m.body).toMatch(/coredns_dns_request_duration_seconds_bucket\{.*type="A",le="\+Inf"\} [1-9]/);
    expect(m.body).toMatch(/coredns_dns_requests_total\{.*proto="tcp".*\} [1-9]/);
  });

  it('answers from the new state after update()', async () => {
    const q = encodeQuery('svc1.testns.svc.cluster.local');
    expect(decode(await udpAsk(server.address.port, q)).rcode).toBe('NOERROR');
    const state = testCluster();
    server.update({ ...state, services: state.services.filter((s) => s.name !== 'svc1') });
    expect(decode(await udpAsk(server.address.port, q)).rcode).toBe('NXDOMAIN');
    server.update(state);
    expect(decode(await udpAsk(server.address.port, q)).answers[0].data).toBe('10.0.0.1');
  });
});

describe('forwarding', () => {
  let upstream: dgram.Socket;
  let upstreamPort = 0;
  let asked = 0;
  beforeAll(async () => {
    upstream = dgram.createSocket('udp4');
    upstream.on('message', (msg, rinfo) => {
      asked++;
      const q = dnsPacket.decode(msg) as any;
      const answers =
        q.questions[0].name === 'example.org'
          ? [{ name: 'example.org', type: 'A', ttl: 60, data: '192.0.2.80' }]
          : [];
      upstream.send(
        dnsPacket.encode({
          type: 'response',
          id: q.id,
          flags: dnsPacket.RECURSION_AVAILABLE,
          questions: q.questions,
          answers,
        } as any),
        rinfo.port,
        rinfo.address,
      );
    });
    await new Promise<void>((r) => upstream.bind(0, '127.0.0.1', () => r()));
    upstreamPort = upstream.address().port;
  });
  afterAll(() => upstream.close());

  it('forwards outside names for allowed clients and refuses the rest (not an open resolver)', async () => {
    const open = await startDnsServer({
      state: testCluster(),
      ...LOCAL,
      resolver: { upstreams: [`127.0.0.1:${upstreamPort}`] },
    });
    const closed = await startDnsServer({
      state: testCluster(),
      ...LOCAL,
      resolver: { upstreams: [`127.0.0.1:${upstreamPort}`] },
      allowRecursionFrom: ['10.244.0.0/16'],
    });
    try {
      const r = decode(await udpAsk(open.address.port, encodeQuery('example.org')));
      expect([r.rcode, r.flag_ra, r.answers[0]?.data]).toEqual(['NOERROR', true, '192.0.2.80']);
      const [t] = await tcpAsk(open.address.port, [encodeQuery('example.org')]);
      expect(decode(t).answers[0]?.data).toBe('192.0.2.80');
      const before = asked;
      expect(decode(await udpAsk(closed.address.port, encodeQuery('example.org'))).rcode).toBe('REFUSED');
      expect(asked).toBe(before);
      // Cluster names stay answered for everyone.
      expect(
        decode(await udpAsk(closed.address.port, encodeQuery('svc1.testns.svc.cluster.local'))).rcode,
      ).toBe('NOERROR');
    } finally {
      await open.stop();
      await closed.stop();
    }
  });

  it('answers SERVFAIL when no upstream answers in time', async () => {
    const dead = dgram.createSocket('udp4');
    await new Promise<void>((r) => dead.bind(0, '127.0.0.1', () => r()));
    const s = await startDnsServer({
      state: testCluster(),
      ...LOCAL,
      resolver: { upstreams: [`127.0.0.1:${dead.address().port}`] },
      forwardTimeoutMs: 200,
    });
    try {
      expect(decode(await udpAsk(s.address.port, encodeQuery('example.org'))).rcode).toBe('SERVFAIL');
    } finally {
      await s.stop();
      dead.close();
    }
  });
});

describe('server errors', () => {
  it('refuses a malformed listen address and an address in use, naming it', async () => {
    await expect(startDnsServer({ state: testCluster(), listen: 'localhost:53' })).rejects.toThrow(
      /listen: "localhost:53"/,
    );
    const a = await startDnsServer({ state: testCluster(), ...LOCAL });
    try {
      await expect(
        startDnsServer({ state: testCluster(), ...LOCAL, listen: `127.0.0.1:${a.address.port}` }),
      ).rejects.toMatchObject({
        code: 'PODNET_INVALID_ARGUMENT',
        message: expect.stringMatching(/EADDRINUSE/),
      });
    } finally {
      await a.stop();
    }
  });

  it('stops serving after stop()', async () => {
    const s = await startDnsServer({ state: testCluster(), ...LOCAL });
    const port = s.address.port;
    await s.stop();
    expect(await udpAsk(port, encodeQuery('svc1.testns.svc.cluster.local'), 300)).toBeUndefined();
    await expect(fetch(`http://${s.http.health}/health`)).rejects.toThrow();
  });
});

/**
 * Robustness: 100,000 random and mutated packets. In process, every packet is answered (a reply that
 * decodes, with the query's ID, within the size limit) or dropped, and nothing throws. Over
 * loopback, the same packets go to the real server in paced batches; after each batch a valid query
 * must still be answered correctly, and the server's counters must account for every packet.
 */
import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResolver } from './resolver.js';
import { type DnsServer, startDnsServer } from './server.js';
import { decode, encodeQuery, tcpAsk, udpAsk } from './test-client.js';
import { testCluster } from './test-cluster.js';
import { answerQuery, parseQuery, responseLimit } from './wire.js';

const TOTAL = 100_000;

/** mulberry32: a small seeded PRNG, so a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEEDS: Buffer[] = [
  ['svc1.testns.svc.cluster.local', 'A'],
  ['_http._tcp.hdls1.testns.svc.cluster.local', 'SRV'],
  ['many.big.svc.cluster.local', 'A'],
  ['1.0.0.10.in-addr.arpa', 'PTR'],
  ['dns-version.cluster.local', 'TXT'],
  ['cluster.local', 'NS'],
  ['external.testns.svc.cluster.local', 'CNAME'],
  ['example.org', 'AAAA'],
].flatMap(([name, type], i) => [
  encodeQuery(name, type, i),
  encodeQuery(name, type, i, {
    additionals: [{ name: '.', type: 'OPT', udpPayloadSize: 4096, flags: 0, options: [] }],
  }),
]);

function packets(seed: number, count: number): Buffer[] {
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const kind = int(4);
    if (kind === 0) {
      out.push(Buffer.from(Array.from({ length: int(600) }, () => int(256))));
      continue;
    }
    const p = Buffer.from(SEEDS[int(SEEDS.length)]);
    let q: Buffer = p;
    for (let m = 1 + int(4); m > 0; m--) {
      const at = int(Math.max(1, q.length));
      switch (int(6)) {
        case 0:
          q[at] ^= 1 << int(8);
          break;
        case 1:
          q[at] = int(256);
          break;
        case 2:
          q = q.subarray(0, at);
          break;
        case 3:
          q = Buffer.concat([q, Buffer.from(Array.from({ length: int(64) }, () => int(256)))]);
          break;
        case 4:
          // Section counts: huge, or off by one.
          if (q.length >= 12) q.writeUInt16BE(int(2) ? 0xffff : int(4), 4 + 2 * int(4));
          break;
        default:
          // A compression pointer where a label length should be.
          if (q.length > 13) {
            q[12 + int(q.length - 13)] = 0xc0;
          }
      }
    }
    if (kind === 3 && q.length >= 3) q[2] &= 0x7f; // keep QR clear: a query, not a response
    out.push(q);
  }
  return out;
}

describe('robustness: 100,000 random and mutated packets', () => {
  const all = packets(20240601, TOTAL);
  let server: DnsServer;
  beforeAll(async () => {
    server = await startDnsServer({
      state: testCluster(),
      listen: '127.0.0.1:0',
      health: false,
      ready: false,
      metrics: false,
      resolver: { upstreams: ['127.0.0.1:9'] },
      allowRecursionFrom: ['10.0.0.0/8'],
    });
  });
  afterAll(async () => {
    await server.stop();
  });

  it('in process: every packet is answered or dropped, never throws', () => {
    const resolver = createResolver(testCluster(), { upstreams: ['127.0.0.1:9'] });
    const counts = { reply: 0, drop: 0, upstream: 0 };
    const bad: string[] = [];
    for (const p of all) {
      const out = answerQuery(resolver, p, { transport: 'udp', recursion: false });
      counts[out.kind]++;
      if (out.kind !== 'reply') continue;
      const msg = dnsPacket.decode(out.message) as any;
      const parsed = parseQuery(p);
      const limit = parsed.ok ? responseLimit(parsed.request, 'udp') : 512;
      if (msg.id !== p.readUInt16BE(0) || msg.type !== 'response' || out.message.length > limit) {
        bad.push(p.toString('hex'));
      }
    }
    expect(bad).toEqual([]);
    expect(counts.reply + counts.drop).toBe(TOTAL);
    expect(counts.reply).toBeGreaterThan(TOTAL / 2);
  }, 60_000);

  it('over loopback UDP and TCP: the server keeps answering valid queries between batches', async () => {
    const port = server.address.port;
    const client = dgram.createSocket('udp4');
    let answered = 0;
    client.on('message', () => answered++);
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
    const liveness = encodeQuery('svc1.testns.svc.cluster.local', 'A', 0x7777);
    const batch = 250;
    try {
      for (let i = 0; i < all.length; i += batch) {
        for (const p of all.slice(i, i + batch)) client.send(p, port, '127.0.0.1');
        const r = decode(await udpAsk(port, liveness, 2000));
        expect([r.id, r.rcode, r.answers[0]?.data]).toEqual([0x7777, 'NOERROR', '10.0.0.1']);
      }
      // TCP: mutated messages with mismatched length prefixes, then a valid query on a fresh connection.
      const tcpPackets = all.slice(0, 2000);
      for (let i = 0; i < tcpPackets.length; i += 200)
        await tcpAsk(port, tcpPackets.slice(i, i + 200), 200, 300);
      const [t] = await tcpAsk(port, [liveness]);
      expect(decode(t).answers[0]?.data).toBe('10.0.0.1');
    } finally {
      client.close();
    }
    expect(answered).toBeGreaterThan(TOTAL / 2);
    const m = server.metricsText();
    const sum = (re: RegExp) => [...m.matchAll(re)].reduce((s, x) => s + Number(x[1]), 0);
    const udpSeen = sum(/coredns_dns_requests_total\{[^}]*proto="udp"[^}]*\} (\d+)/g);
    // Every packet sent (plus one liveness query per batch) was counted: answered or dropped.
    expect(udpSeen).toBe(TOTAL + Math.ceil(TOTAL / batch));
  }, 120_000);
});

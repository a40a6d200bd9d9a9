import type {
  EmulatedHost,
  OutboundResult,
  PeerInfo,
  RenderContext,
  TcpHandler,
  UdpHandler,
} from '@podnet/core';
import dnsPacket from 'dns-packet';
import { describe, expect, it } from 'vitest';
import { type DnsAppConfig, dnsApp } from './dns-app.js';
import { clusterDns, dnsServerPods } from './dns-plugin.js';
import { dnsSnapshot } from './resolver-options.js';
import { decode, encodeQuery, udpAsk } from './test-client.js';
import { testCluster } from './test-cluster.js';

/** An emulated namespace that records bound handlers and answers outbound UDP from a table. */
class FakeHost implements EmulatedHost {
  readonly node = 'node-1';
  readonly netns = 'kube-system/coredns-0';
  readonly udp = new Map<number, UdpHandler>();
  readonly tcp = new Map<number, TcpHandler>();
  readonly sent: string[] = [];
  readonly logs: string[] = [];
  constructor(private readonly upstream?: (payload: Uint8Array) => Uint8Array | undefined) {}
  addresses() {
    return ['10.244.0.2'];
  }
  listenUdp(port: number, handler: UdpHandler) {
    this.udp.set(port, handler);
  }
  listenTcp(port: number, handler: TcpHandler) {
    this.tcp.set(port, handler);
  }
  sendUdp(dst: string, port: number, payload: Uint8Array): OutboundResult {
    this.sent.push(`${dst}:${port}`);
    const reply = this.upstream?.(payload);
    return reply ? { ok: true, reply } : { ok: false, error: 'unreachable' };
  }
  requestTcp(): OutboundResult {
    return { ok: false, error: 'refused' };
  }
  openTun(): never {
    throw new Error('no TUN in this test');
  }
  log(message: string) {
    this.logs.push(message);
  }
}

const peer = (address: string): PeerInfo => ({
  address,
  port: 40000,
  localAddress: '10.244.0.2',
  localPort: 53,
});
const config = (extra: Partial<DnsAppConfig> = {}): DnsAppConfig =>
  JSON.parse(JSON.stringify({ snapshot: dnsSnapshot(testCluster()), ...extra }));

describe('dnsApp.emulated', () => {
  it('answers real DNS packets on UDP port 53', () => {
    const host = new FakeHost();
    dnsApp.emulated(config(), host);
    const reply = host.udp.get(53)!(encodeQuery('svc1.testns.svc.cluster.local'), peer('10.244.1.50'));
    const msg = decode(Buffer.from(reply!));
    expect([msg.rcode, msg.flag_aa, msg.answers[0].data]).toEqual(['NOERROR', true, '10.0.0.1']);
  });

  it('answers length-prefixed messages on TCP port 53, in order', () => {
    const host = new FakeHost();
    dnsApp.emulated(config(), host);
    const frame = (b: Buffer) => Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
    const req = Buffer.concat([
      frame(encodeQuery('many.big.svc.cluster.local', 'A', 1)),
      frame(encodeQuery('nosuch.testns.svc.cluster.local', 'A', 2)),
    ]);
    const out = Buffer.from(host.tcp.get(53)!(req, peer('10.244.1.50'))!);
    const first = out.readUInt16BE(0);
    const a = decode(out.subarray(2, 2 + first));
    const b = decode(out.subarray(4 + first));
    expect([a.id, a.answers.length, a.flag_tc]).toEqual([1, 100, false]);
    expect([b.id, b.rcode]).toEqual([2, 'NXDOMAIN']);
  });

  it('forwards outside names through the emulated network for cluster clients only', () => {
    const upstream = (payload: Uint8Array) => {
      const q = dnsPacket.decode(Buffer.from(payload)) as any;
      return dnsPacket.encode({
        type: 'response',
        id: q.id,
        flags: dnsPacket.RECURSION_AVAILABLE,
        questions: q.questions,
        answers: [{ name: q.questions[0].name, type: 'A', ttl: 60, data: '198.51.100.1' }],
      } as any);
    };
    const host = new FakeHost(upstream);
    dnsApp.emulated(config({ resolver: { upstreams: ['192.0.2.1'] } }), host);
    const ok = decode(Buffer.from(host.udp.get(53)!(encodeQuery('example.org'), peer('10.244.1.50'))!));
    expect(ok.answers[0].data).toBe('198.51.100.1');
    expect(host.sent).toEqual(['192.0.2.1:53']);
    const refused = decode(Buffer.from(host.udp.get(53)!(encodeQuery('example.org'), peer('203.0.113.10'))!));
    expect(refused.rcode).toBe('REFUSED');
    expect(host.sent).toHaveLength(1);
  });

  it("serves CoreDNS's /metrics on TCP 9153, /health on 8080 and /ready on 8181 over HTTP/1.1", () => {
    const host = new FakeHost();
    dnsApp.emulated(config(), host);
    expect([...host.tcp.keys()].sort((a, b) => a - b)).toEqual([53, 8080, 8181, 9153]);
    host.udp.get(53)!(encodeQuery('svc1.testns.svc.cluster.local'), peer('10.244.1.50'));
    host.udp.get(53)!(encodeQuery('nosuch.testns.svc.cluster.local'), peer('10.244.1.50'));
    const get = (port: number, path: string, method = 'GET') =>
      Buffer.from(
        host.tcp.get(port)!(
          Buffer.from(`${method} ${path} HTTP/1.1\r\nHost: x\r\n\r\n`),
          peer('10.244.1.50'),
        )!,
      ).toString('utf8');
    const m = get(9153, '/metrics');
    const [head, body] = m.split('\r\n\r\n');
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    expect(head).toContain('Content-Type: text/plain; version=0.0.4');
    expect(head).toContain(`Content-Length: ${Buffer.byteLength(body)}`);
    expect(body).toMatch(
      /^coredns_dns_requests_total\{server="dns:\/\/:53",zone=".",proto="udp",family="1",type="A"\} 2$/m,
    );
    expect(body).toMatch(/^coredns_dns_responses_total\{[^}]*rcode="NXDOMAIN",plugin="kubernetes"\} 1$/m);
    expect(get(8080, '/health').endsWith('\r\n\r\nOK')).toBe(true);
    expect(get(8181, '/ready').endsWith('\r\n\r\nOK')).toBe(true);
    expect(get(9153, '/health').split('\r\n')[0]).toBe('HTTP/1.1 404 Not Found');
    expect(get(8080, '/health', 'HEAD').endsWith('\r\n\r\n')).toBe(true);
    expect(host.tcp.get(9153)!(Buffer.from('not http'), peer('10.244.1.50'))).toBeUndefined();
  });

  it('moves or turns off the HTTP endpoints like the real server (health, ready, metrics)', () => {
    const host = new FakeHost();
    dnsApp.emulated(config({ health: false, ready: ':9153', metrics: '0.0.0.0:9300' }), host);
    expect([...host.tcp.keys()].sort((a, b) => a - b)).toEqual([53, 9153, 9300]);
    const ready = Buffer.from(
      host.tcp.get(9153)!(Buffer.from('GET /ready HTTP/1.1\r\n\r\n'), peer('10.0.0.9'))!,
    );
    expect(ready.toString().endsWith('OK')).toBe(true);
    expect(() => dnsApp.emulated(config({ metrics: 'nope:x' }), new FakeHost())).toThrow(/dns app metrics/);
  });

  it('drops what is not a query', () => {
    const host = new FakeHost();
    dnsApp.emulated(config(), host);
    expect(host.udp.get(53)!(Uint8Array.of(1, 2, 3), peer('10.244.1.50'))).toBeUndefined();
  });
});

describe('dnsApp.run', () => {
  it('starts the real server from a JSON config and stops it', async () => {
    const app = await dnsApp.run(
      config({ listen: '127.0.0.1:0', health: false, ready: false, metrics: false }),
    );
    try {
      const port = Number(app.endpoints[0].split(':').pop());
      expect(app.endpoints[0]).toMatch(/^udp 127\.0\.0\.1:\d+$/);
      const msg = decode(await udpAsk(port, encodeQuery('dns-version.cluster.local', 'TXT')));
      expect(msg.answers[0].data.map(String)).toEqual(['1.1.0']);
    } finally {
      await app.stop();
    }
    expect(dnsApp.id).toBe('dns');
  });
});

describe('the dns plugin', () => {
  it('runs the dns app in the pods behind the DNS Service IP', () => {
    const state = testCluster();
    expect([...dnsServerPods(state)]).toEqual(['kube-system/coredns-0']);
    const ctx = { state, pods: state.pods.filter((p) => p.node === 'node-1') } as unknown as RenderContext;
    const apps = clusterDns().render(ctx).apps ?? [];
    expect(apps).toHaveLength(1);
    expect(apps[0]).toMatchObject({
      name: 'dns:kube-system/coredns-0',
      netns: 'kube-system/coredns-0',
      app: 'dns',
      pod: { namespace: 'kube-system', name: 'coredns-0' },
    });
    // The config survives a JSON round trip (it travels in the plan).
    expect(JSON.parse(JSON.stringify(apps[0].config))).toEqual(apps[0].config);
    expect((apps[0].config as DnsAppConfig).snapshot.services).toHaveLength(state.services.length);
  });

  it('falls back to kube-system pods labelled k8s-app=kube-dns', () => {
    const state = testCluster();
    const without = { ...state, services: state.services.filter((s) => s.name !== 'kube-dns') };
    expect([...dnsServerPods(without)]).toEqual(['kube-system/coredns-0']);
  });
});

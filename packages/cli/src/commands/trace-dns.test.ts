import { fileURLToPath } from 'node:url';
import { loadCluster } from '@podnet/cluster';
import { beforeAll, describe, expect, it } from 'vitest';
import { bufferIo } from '../io.js';
import { main } from '../main.js';

const file = fileURLToPath(new URL('../../../../examples/two-node.yaml', import.meta.url));

interface JsonPacket {
  src: string;
  dst: string;
  sport?: number;
  dport?: number;
}
interface JsonHop {
  node: string;
  netns: string;
  step: string;
  packet: JsonPacket;
  before?: JsonPacket;
}
interface JsonQuery {
  name: string;
  type: string;
  rcode: string;
  nameserver: string;
  verdict: string;
  answeredBy?: string;
  hops: JsonHop[];
  reply?: { verdict: string; hops: JsonHop[] };
}

async function trace(...args: string[]) {
  const io = bufferIo();
  const code = await main(['trace', '-f', file, '--from', 'default/client', ...args], io);
  return { code, io };
}

let dnsIP: string;
let webIP: string;
let corednsPods: Map<string, string>;
let webPods: string[];

beforeAll(async () => {
  const state = await loadCluster([file]);
  dnsIP = state.network.dns.serviceIP;
  webIP = state.services.find((s) => s.namespace === 'default' && s.name === 'web')!.clusterIPs[0];
  corednsPods = new Map(
    state.pods
      .filter((p) => p.namespace === 'kube-system' && p.labels['k8s-app'] === 'kube-dns')
      .map((p) => [`kube-system/${p.name}`, p.ips[0]]),
  );
  webPods = state.pods.filter((p) => p.labels.app === 'web').map((p) => `default/${p.name}`);
  expect(corednsPods.size).toBe(2);
  expect(webPods).toHaveLength(3);
});

describe('podnet trace --to DNS-NAME on examples/two-node.yaml', () => {
  it('web:80 -o json: one query (the first search domain hits), DNAT to a coredns pod and back, then the web ClusterIP', async () => {
    const { code, io } = await trace('--to', 'web:80', '-o', 'json');
    expect(io.stderr).toBe('');
    expect(code).toBe(0);
    const out = JSON.parse(io.stdout);
    const queries = out.resolve.queries as JsonQuery[];
    expect(queries.map((q) => ({ name: q.name, type: q.type, rcode: q.rcode, verdict: q.verdict }))).toEqual([
      { name: 'web.default.svc.cluster.local', type: 'A', rcode: 'NOERROR', verdict: 'delivered' },
    ]);
    const q = queries[0];
    expect(q.nameserver).toBe(dnsIP);
    expect(corednsPods.has(q.answeredBy!)).toBe(true);
    const podIP = corednsPods.get(q.answeredBy!)!;
    // kube-proxy rewrote DNS ClusterIP:53 to the coredns pod that answered.
    const dnat = q.hops.find((h) => h.before?.dst === dnsIP && h.packet.dst !== dnsIP)!;
    expect(dnat).toBeDefined();
    expect({ dst: dnat.packet.dst, dport: dnat.packet.dport, proto: dnat.before!.dport }).toEqual({
      dst: podIP,
      dport: 53,
      proto: 53,
    });
    // The reply reaches the client from the DNS ClusterIP it asked, un-NATed on the way.
    expect(q.reply!.verdict).toBe('delivered');
    const last = q.reply!.hops.at(-1)!;
    expect({ netns: last.netns, src: last.packet.src, sport: last.packet.sport }).toEqual({
      netns: 'default/client',
      src: dnsIP,
      sport: 53,
    });
    expect(q.reply!.hops.some((h) => h.before?.src === podIP && h.packet.src === dnsIP)).toBe(true);

    expect(out.resolve.address).toBe(webIP);
    expect(out.destination).toEqual({ ip: webIP, port: 80, proto: 'tcp' });
    expect(out.verdict).toBe('delivered');
    expect(webPods).toContain(out.delivered.pod);
    expect(out.delivered.port).toBe(8080);
  });

  it('the FQDN without a trailing dot pays ndots:5: 3 NXDOMAIN search queries, then the name as is', async () => {
    const { code, io } = await trace('--to', 'web.default.svc.cluster.local:80', '-o', 'json');
    expect(code).toBe(0);
    const out = JSON.parse(io.stdout);
    const queries = out.resolve.queries as JsonQuery[];
    expect(queries.map((q) => [q.name, q.rcode])).toEqual([
      ['web.default.svc.cluster.local.default.svc.cluster.local', 'NXDOMAIN'],
      ['web.default.svc.cluster.local.svc.cluster.local', 'NXDOMAIN'],
      ['web.default.svc.cluster.local.cluster.local', 'NXDOMAIN'],
      ['web.default.svc.cluster.local', 'NOERROR'],
    ]);
    // Each query is its own exchange, from its own source port.
    const ports = queries.map((q) => q.hops[0].packet.sport);
    expect(new Set(ports).size).toBe(4);
    expect(out.resolve.address).toBe(webIP);
    expect(out.verdict).toBe('delivered');
  });

  it('a name that does not resolve: exit 1, verdict unreachable, the reason names it', async () => {
    const { code, io } = await trace('--to', 'nope:80', '-o', 'json');
    expect(code).toBe(1);
    const out = JSON.parse(io.stdout);
    expect(out.verdict).toBe('unreachable');
    expect(out.reason).toMatch(/^nope: /);
    expect(out.hops).toEqual([]);
    expect(out.resolve.address).toBeUndefined();
    const queries = out.resolve.queries as JsonQuery[];
    expect(queries.slice(0, 3).map((q) => [q.name, q.rcode])).toEqual([
      ['nope.default.svc.cluster.local', 'NXDOMAIN'],
      ['nope.svc.cluster.local', 'NXDOMAIN'],
      ['nope.cluster.local', 'NXDOMAIN'],
    ]);
    expect(queries.every((q) => q.verdict === 'delivered')).toBe(true);

    const text = await trace('--to', 'nope:80');
    expect(text.code).toBe(1);
    expect(text.io.stdout).toMatch(/\nverdict: unreachable: nope: .*\n$/);
  });

  it('--all-paths enumerates the final leg: 3 web pods, 1/3 each', async () => {
    const { code, io } = await trace('--to', 'web:80', '--all-paths', '-o', 'json');
    expect(code).toBe(0);
    const out = JSON.parse(io.stdout);
    expect(out.resolve.queries).toHaveLength(1);
    const paths = out.paths as { probability: number; verdict: string; delivered: { pod: string } }[];
    expect(paths).toHaveLength(3);
    expect(paths.map((p) => p.delivered.pod).sort()).toEqual([...webPods].sort());
    for (const p of paths) {
      expect(p.verdict).toBe('delivered');
      expect(p.probability).toBeCloseTo(1 / 3, 6);
    }
  });

  it('text output: a resolve section with each query, its rcode, the coredns pod and its hops, before the trace', async () => {
    const { code, io } = await trace('--to', 'web:80');
    expect(code).toBe(0);
    const lines = io.stdout.split('\n');
    expect(lines[0]).toBe('resolve web from default/client (1 query):');
    expect(lines[1]).toMatch(
      new RegExp(
        `^query 1: web\\.default\\.svc\\.cluster\\.local\\. A @${dnsIP.replace(/\./g, '\\.')}:53 → NOERROR answered by kube-system/coredns-`,
      ),
    );
    expect(lines[2]).toMatch(
      /^ +1 {2}node-1\/default\/client eth0 {2}send: udp send to 10\.96\.0\.10:53 from port \d+/,
    );
    expect(lines).toContain(`web → ${webIP}`);
    const traceLine = lines.findIndex((l) => l.startsWith('trace tcp default/client'));
    expect(lines[traceLine]).toBe(`trace tcp default/client (10.244.0.2) → ${webIP}:80`);
    expect(traceLine).toBeGreaterThan(lines.indexOf(`web → ${webIP}`));
    expect(lines.find((l) => l.startsWith('verdict: '))).toMatch(/^verdict: delivered to default\/web-/);
  });

  it('refuses --from external for a name, and resolves a node with its own resolv.conf', async () => {
    const io = bufferIo();
    const code = await main(['trace', '-f', file, '--from', 'external', '--to', 'web:80'], io);
    expect(code).toBe(2);
    expect(io.stderr).toMatch(/--from.*external has no resolver/);

    // A node asks its upstream nameservers, not the cluster DNS: no search list, so no web.default...
    const node = bufferIo();
    const nodeCode = await main(
      ['trace', '-f', file, '--from', 'node/node-1', '--to', 'web:80', '-o', 'json'],
      node,
    );
    expect(nodeCode).toBe(1);
    const out = JSON.parse(node.stdout);
    expect(out.verdict).toBe('unreachable');
    for (const q of out.resolve.queries as JsonQuery[]) expect(q.name).toBe('web');
  });

  it('the kube-dns metrics port 9153 is served by the coredns pods (no RST)', async () => {
    const { code, io } = await trace('--to', `${dnsIP}:9153`, '-o', 'json');
    expect(code).toBe(0);
    const out = JSON.parse(io.stdout);
    expect(out.verdict).toBe('delivered');
    expect(corednsPods.has(out.delivered.pod)).toBe(true);
    expect(out.delivered.port).toBe(9153);
    expect(out.reply.verdict).toBe('delivered');
  });
});

import { fileURLToPath } from 'node:url';
import { loadCluster } from '@podnet/cluster';
import { describe, expect, it } from 'vitest';
import { bufferIo } from '../io.js';
import { main } from '../main.js';

const file = fileURLToPath(new URL('../../../../examples/two-node.yaml', import.meta.url));

interface JsonHop {
  node: string;
  netns: string;
  step: string;
  packet: { src: string; dst: string; sport?: number; dport?: number };
  before?: { src: string; dst: string; sport?: number; dport?: number };
}

describe('podnet trace on examples/two-node.yaml, end to end', () => {
  it('client → web ClusterIP --all-paths -o json: DNAT to each web pod with probability 1/3, the reply un-NATed', async () => {
    const state = await loadCluster([file]);
    const clusterIP = state.services.find((s) => s.namespace === 'default' && s.name === 'web')!
      .clusterIPs[0];
    const web = state.pods
      .filter((p) => p.namespace === 'default' && p.labels.app === 'web')
      .map((p) => ({ pod: `default/${p.name}`, ip: p.ips[0], port: 8080 }))
      .sort((a, b) => a.pod.localeCompare(b.pod));
    expect(web).toHaveLength(3);

    const io = bufferIo();
    const argv = [
      'trace',
      '-f',
      file,
      '--from',
      'default/client',
      '--to',
      `${clusterIP}:80`,
      '--all-paths',
      '-o',
      'json',
    ];
    const code = await main(argv, io);
    expect(io.stderr).toBe('');
    expect(code).toBe(0);
    const out = JSON.parse(io.stdout);

    expect(out.verdict).toBe('delivered');
    const paths = out.paths as {
      probability: number;
      verdict: string;
      delivered: { pod: string; ip: string; port: number };
    }[];
    expect(
      paths
        .map((p) => ({ pod: p.delivered.pod, ip: p.delivered.ip, port: p.delivered.port }))
        .sort((a, b) => a.pod.localeCompare(b.pod)),
    ).toEqual(web);
    for (const p of paths) {
      expect(p.verdict).toBe('delivered');
      expect(p.probability).toBeCloseTo(1 / 3, 6);
    }

    // The hop that rewrote the destination: ClusterIP:80 became the chosen pod's IP:8080.
    const hops = out.hops as JsonHop[];
    const dnat = hops.find((h) => h.before?.dst === clusterIP && h.packet.dst !== clusterIP);
    expect(dnat).toBeDefined();
    expect({ dst: dnat!.packet.dst, dport: dnat!.packet.dport, node: dnat!.node }).toEqual({
      dst: out.delivered.ip,
      dport: 8080,
      node: 'node-1',
    });

    // The answer reaches the client from the ClusterIP:80 it called, not from the pod.
    expect(out.reply.verdict).toBe('delivered');
    const last = (out.reply.hops as JsonHop[]).at(-1)!;
    expect({ netns: last.netns, src: last.packet.src, sport: last.packet.sport }).toEqual({
      netns: 'default/client',
      src: clusterIP,
      sport: 80,
    });
    expect(
      (out.reply.hops as JsonHop[]).some(
        (h) => h.before?.src === out.delivered.ip && h.packet.src === clusterIP,
      ),
    ).toBe(true);
  });
});

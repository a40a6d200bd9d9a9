import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadCluster } from '@podnet/cluster';
import { describe, expect, it } from 'vitest';
import { bufferIo } from '../io.js';
import { main } from '../main.js';

const examples = fileURLToPath(new URL('../../../../examples/', import.meta.url));
const twoNode = readFileSync(`${examples}two-node.yaml`, 'utf8');
const threeNode = readFileSync(`${examples}three-node-two-subnets.yaml`, 'utf8');

/** The example with its ClusterNetwork's overlay swapped, as a user would edit it. */
function withOverlay(text: string, backend: string): string {
  const out = text.replace(/overlay: \{[^}]*\}/, `overlay: { backend: ${backend} }`);
  expect(out).not.toBe(text);
  return out;
}

interface Hop {
  node: string;
  netns: string;
  device: string;
  step: string;
  packet: {
    src: string;
    dst: string;
    dport?: number;
    encap?: { type: string; vni?: number; outerSrc: string; outerDst: string; dport: number };
  };
}

async function trace(manifest: string, to: string) {
  const io = bufferIo(manifest);
  const code = await main(['trace', '-f', '-', '--from', 'default/client', '--to', to, '-o', 'json'], io);
  return { code, err: io.stderr, json: code <= 1 ? JSON.parse(io.stdout) : undefined };
}

describe('podnet trace across nodes, per overlay (examples/)', async () => {
  const state = await loadCluster([`${examples}two-node.yaml`]);
  const client = state.pods.find((p) => p.name === 'client')!;
  const remote = state.pods.find((p) => p.labels.app === 'web' && p.node !== client.node)!;
  const nodeIP = (n: string) => state.nodes.find((x) => x.name === n)!.internalIPs[0];
  const to = `${remote.ips[0]}:8080`;

  it('vxlan: eth0 → veth → cni0 → flannel.1 (encap 8472, VNI 1) → underlay → decap → cni0 → veth → eth0', async () => {
    const r = await trace(twoNode, to);
    expect(r.code).toBe(0);
    expect(r.json.delivered).toMatchObject({ pod: `default/${remote.name}`, ip: remote.ips[0], port: 8080 });
    const hops: Hop[] = r.json.hops;
    const encap = hops.find((h) => h.step === 'vxlan-encap')!;
    expect(encap).toMatchObject({ node: client.node, device: 'flannel.1' });
    expect(encap.packet.encap).toMatchObject({
      type: 'vxlan',
      vni: 1,
      outerSrc: nodeIP(client.node),
      outerDst: nodeIP(remote.node),
      dport: 8472,
    });
    const order = ['send', 'vxlan-encap', 'vxlan-decap', 'deliver'].map((s) =>
      hops.findIndex((h) => h.step === s),
    );
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(hops.find((h) => h.step === 'vxlan-decap')).toMatchObject({
      node: remote.node,
      device: 'flannel.1',
    });
    const devices = hops.map((h) => `${h.node}:${h.device}`);
    expect(devices).toContain(`${client.node}:cni0`);
    expect(devices).toContain(`${remote.node}:cni0`);
    expect(r.json.reply.verdict).toBe('delivered');
  });

  it('udp: the TUN flannel0 and UDP 8285 between the nodes', async () => {
    const r = await trace(withOverlay(twoNode, 'udp'), to);
    expect(r.code).toBe(0);
    const hops: Hop[] = r.json.hops;
    expect(hops.some((h) => h.device === 'flannel0' && h.step === 'tun')).toBe(true);
    const outer = hops.find((h) => h.packet.dport === 8285 && h.packet.src === nodeIP(client.node))!;
    expect(outer.packet).toMatchObject({ dst: nodeIP(remote.node), dport: 8285 });
    expect(hops.some((h) => h.step.startsWith('vxlan'))).toBe(false);
  });

  it('host-gw: a plain route via the remote node, no encapsulation', async () => {
    const r = await trace(withOverlay(twoNode, 'host-gw'), to);
    expect(r.code).toBe(0);
    const hops: Hop[] = r.json.hops;
    expect(hops.some((h) => h.packet.encap || h.device.startsWith('flannel'))).toBe(false);
    const fwd = hops.find((h) => h.step === 'forward' && h.node === client.node)! as Hop & { detail: string };
    expect(fwd.detail).toContain(`via ${nodeIP(remote.node)} dev eth0`);
  });

  it('three-node-two-subnets: host-gw is refused naming both subnets; vxlan crosses the router', async () => {
    const refused = await trace(withOverlay(threeNode, 'host-gw'), '10.244.2.2:8080');
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/192\.168\.50\.0\/24 and 192\.168\.60\.0\/24/);
    const three = await loadCluster([`${examples}three-node-two-subnets.yaml`]);
    const c = three.pods.find((p) => p.name === 'client')!;
    const far = three.nodes.find(
      (n) => n.underlaySubnet !== three.nodes.find((x) => x.name === c.node)!.underlaySubnet,
    )!;
    const target = three.pods.find(
      (p) => p.node === far.name && p.containers.some((k) => k.ports.some((x) => x.containerPort === 8080)),
    )!;
    const r = await trace(threeNode, `${target.ips[0]}:8080`);
    expect(r.code).toBe(0);
    const hops: Hop[] = r.json.hops;
    expect(hops.some((h) => h.node === 'router' || h.netns === 'router' || h.device.includes('router'))).toBe(
      true,
    );
    expect(hops.find((h) => h.step === 'vxlan-encap')?.packet.encap?.outerDst).toBe(far.internalIPs[0]);
  });
});

/**
 * The linux backend against the real kernel: a two-node bridge + VXLAN cluster comes up, a pod on
 * node-1 reaches a pod on node-2 over real VXLAN (seen by tcpdump on the underlay segment bridge),
 * host-gw routes work the same way, re-apply is idempotent and repairs drift, and `down` leaves
 * nothing behind.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { bridge } from '@podnet/bridge';
import { type AppModule, type ClusterDataplane, composeDataplane, type FeatureCheck } from '@podnet/core';
import { fixtureCluster } from '@podnet/core/testing';
import { workloadApp } from '@podnet/emulator';
import { hostGw } from '@podnet/overlay-host-gw';
import { flannelUdpApp, udp } from '@podnet/overlay-udp';
import { vxlan } from '@podnet/overlay-vxlan';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { down, linux, type LinuxNetwork, status } from '../src/linux-backend.js';
import { clusterMarker, clusterPrefix, fabricNetns, nodeNetns, segmentBridge } from '../src/names.js';
import { probe } from '../src/probe.js';
import { bundledApp, inNetns, PACKAGES, type HostSnapshot, skipReason, snapshot, tempStateDir, uniqueCluster } from './test-support.js';

const reason = skipReason(['tcpdump']);
if (reason) console.log(`linux-backend.linux.test.ts: skipped: ${reason}`);

/** Made in beforeAll, so a run that filters every test out leaves nothing behind. */
let stateDir = '';
let workload: AppModule;

beforeAll(async () => {
  if (reason) return;
  stateDir = tempStateDir();
  workload = await bundledApp(workloadApp, join(PACKAGES, 'emulator/src/workload.ts'), stateDir);
});

afterAll(() => {
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

function twoNodes(overlay: 'vxlan' | 'host-gw' | 'udp'): ClusterDataplane {
  const state = fixtureCluster({
    nodes: [{ name: 'node-1' }, { name: 'node-2' }],
    pods: [
      { name: 'a', node: 'node-1', ports: [{ port: 8080 }, { port: 5353, protocol: 'UDP' }] },
      { name: 'b', node: 'node-2', ports: [{ port: 8080 }, { port: 5353, protocol: 'UDP' }] },
    ],
  });
  return composeDataplane(state, { podNetwork: bridge(), overlay: overlay === 'vxlan' ? vxlan() : overlay === 'udp' ? udp() : hostGw() });
}

/** Captures UDP/8472 on the segment bridge while `action` runs; resolves to tcpdump's lines. */
async function capture(ns: string, dev: string, filter: string, action: () => Promise<void>): Promise<string> {
  const child = spawn('ip', ['netns', 'exec', ns, 'tcpdump', '-n', '-l', '-c', '4', '-i', dev, ...filter.split(' ')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const until = Date.now() + 5000;
  while (!err.includes('listening on') && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  await action();
  const timer = setTimeout(() => child.kill('SIGTERM'), 3000);
  await exited;
  clearTimeout(timer);
  return out;
}

describe.skipIf(reason !== '')('linux backend: two nodes, bridge + vxlan', () => {
  const cluster = uniqueCluster('vx');
  const prefix = clusterPrefix(cluster);
  const marker = clusterMarker(cluster);
  let before: HostSnapshot;
  let net: LinuxNetwork;
  const steps: string[] = [];

  beforeAll(async () => {
    before = snapshot(prefix, marker);
    net = await linux({ clusterName: cluster, stateDir }).apply(twoNodes('vxlan'), {
      apps: new Map([['workload', workload]]),
      onProgress: (s) => steps.push(s),
    });
  });

  afterAll(async () => {
    await down(cluster, { stateDir });
  });

  it('reports progress per step and runs every app', async () => {
    expect(steps).toContain('preflight');
    expect(steps.some((s) => s.startsWith('devices ('))).toBe(true);
    expect(steps.at(-1)).toBe('ready');
    const st = await status(cluster, { stateDir });
    expect(st.exists).toBe(true);
    expect(st.namespaces.every((n) => n.exists)).toBe(true);
    expect(st.apps.map((a) => [a.key, a.state])).toEqual([
      ['node-1|workload:default/a', 'ready'],
      ['node-2|workload:default/b', 'ready'],
    ]);
  });

  it('carries pod-to-pod traffic across nodes over real VXLAN', async () => {
    const fabric = fabricNetns(prefix);
    let http: Awaited<ReturnType<typeof probe>> = [];
    const seen = await capture(fabric, segmentBridge('192.168.50.0/24'), 'udp port 8472', async () => {
      http = await probe(cluster, 'default/a', { proto: 'http', host: '10.244.1.2', port: 8080 }, { stateDir });
    });
    expect(http[0]).toMatchObject({ ok: true, status: 200 });
    expect(http[0].reply?.endsWith('\r\n\r\nb')).toBe(true);
    // tcpdump decodes UDP/8472 as OTV (same header as VXLAN): outer node-1 → node-2, inner pod a → pod b.
    expect(seen).toMatch(/IP 192\.168\.50\.10\.\d+ > 192\.168\.50\.11\.8472: (OTV|VXLAN).*instance 1\nIP 10\.244\.0\.2\.\d+ > 10\.244\.1\.2\.8080: Flags \[S\]/);
    const udp = await probe(cluster, 'default/b', { proto: 'udp', host: '10.244.0.2', port: 5353, payload: 'hello' }, { stateDir });
    expect(udp[0]).toMatchObject({ ok: true, reply: 'hello' });
  });

  it('re-applying the same plan changes nothing', async () => {
    const again: string[] = [];
    await linux({ clusterName: cluster, stateDir }).apply(twoNodes('vxlan'), {
      apps: new Map([['workload', workload]]),
      onProgress: (s) => again.push(s),
    });
    expect(again).toContain('plan: 0 to remove, 0 to create or correct');
    expect(again.some((s) => s.startsWith('rules in') || s.startsWith('starting apps'))).toBe(false);
    const nat = inNetns(nodeNetns(prefix, 'node-1'), ['iptables-save', '-t', 'nat']);
    expect(nat.split('\n').filter((l) => l.startsWith('-A POSTROUTING'))).toEqual([
      '-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG',
    ]);
  });

  it('restores a deleted vxlan device and a deleted route on re-apply', async () => {
    const n1 = nodeNetns(prefix, 'node-1');
    inNetns(n1, ['ip', 'link', 'del', 'flannel.1']);
    const n2 = nodeNetns(prefix, 'node-2');
    inNetns(n2, ['ip', 'route', 'del', '10.244.0.0/24']);
    const broken = await probe(cluster, 'default/a', { proto: 'tcp', host: '10.244.1.2', port: 8080, timeoutMs: 500 }, { stateDir });
    expect(broken[0].ok).toBe(false);
    const repair: string[] = [];
    await linux({ clusterName: cluster, stateDir }).apply(twoNodes('vxlan'), {
      apps: new Map([['workload', workload]]),
      onProgress: (s) => repair.push(s),
    });
    expect(repair.some((s) => /^plan: \d+ to remove, [1-9]\d* to create or correct$/.test(s))).toBe(true);
    expect(inNetns(n1, ['ip', '-d', 'link', 'show', 'flannel.1'])).toMatch(/vxlan id 1 local 192\.168\.50\.10 dev eth0 srcport 0 0 dstport 8472 nolearning/);
    expect(inNetns(n2, ['ip', 'route', 'show', '10.244.0.0/24'])).toContain('via 10.244.0.0 dev flannel.1 onlink');
    const ok = await probe(cluster, 'default/a', { proto: 'tcp', host: '10.244.1.2', port: 8080, payload: 'echo-me' }, { stateDir });
    expect(ok[0]).toMatchObject({ ok: true, reply: 'echo-me' });
  });

  it('down removes every namespace, link and process', async () => {
    const report = await down(cluster, { stateDir });
    expect(report.namespaces.length).toBe(7);
    const after = snapshot(prefix, marker);
    expect(after).toEqual({ ...before, processes: [] });
    expect((await status(cluster, { stateDir })).exists).toBe(false);
  });
});

describe.skipIf(reason !== '')('linux backend: host-gw', () => {
  const cluster = uniqueCluster('gw');
  afterAll(async () => {
    await down(cluster, { stateDir });
  });

  it('routes pod to pod via the other node’s underlay address', async () => {
    const checks: FeatureCheck[] = await linux({ clusterName: cluster, stateDir }).preflight!(twoNodes('host-gw'));
    expect(checks.filter((c) => !c.ok)).toEqual([]);
    await linux({ clusterName: cluster, stateDir }).apply(twoNodes('host-gw'), { apps: new Map([['workload', workload]]) });
    const n1 = nodeNetns(clusterPrefix(cluster), 'node-1');
    expect(inNetns(n1, ['ip', 'route', 'show', '10.244.1.0/24']).trim()).toBe('10.244.1.0/24 via 192.168.50.11 dev eth0');
    const r = await probe(cluster, 'default/a', { proto: 'http', host: '10.244.1.2', port: 8080 }, { stateDir });
    expect(r[0]).toMatchObject({ ok: true, status: 200 });
    expect(r[0].reply?.endsWith('\r\n\r\nb')).toBe(true);
  });
});

describe.skipIf(reason !== '')('linux backend: udp overlay (TUN + flannel-udp daemon)', () => {
  const cluster = uniqueCluster('udp');
  afterAll(async () => {
    await down(cluster, { stateDir });
  });

  it('carries pod traffic through flannel0 and the userspace daemon on UDP 8285', async () => {
    const flannel = await bundledApp(flannelUdpApp, join(PACKAGES, 'overlay-udp/src/index.ts'), stateDir);
    const apps = new Map<string, AppModule>([
      ['workload', workload],
      ['flannel-udp', flannel],
    ]);
    await linux({ clusterName: cluster, stateDir }).apply(twoNodes('udp'), { apps });
    const prefix = clusterPrefix(cluster);
    const n1 = nodeNetns(prefix, 'node-1');
    expect(inNetns(n1, ['ip', '-d', 'link', 'show', 'flannel0'])).toMatch(/UP,LOWER_UP> mtu 1472 .*state UP[\s\S]*tun type tun pi off/);
    let r: Awaited<ReturnType<typeof probe>> = [];
    const seen = await capture(fabricNetns(prefix), segmentBridge('192.168.50.0/24'), 'udp port 8285', async () => {
      r = await probe(cluster, 'default/a', { proto: 'http', host: '10.244.1.2', port: 8080 }, { stateDir });
    });
    expect(r[0]).toMatchObject({ ok: true, status: 200 });
    expect(r[0].reply?.endsWith('\r\n\r\nb')).toBe(true);
    expect(seen).toMatch(/IP 192\.168\.50\.10\.8285 > 192\.168\.50\.11\.8285: UDP/);
    const st = await status(cluster, { stateDir });
    expect(st.apps.filter((a) => a.app === 'flannel-udp').map((a) => a.state)).toEqual(['ready', 'ready']);
  });
});

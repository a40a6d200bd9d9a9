#!/usr/bin/env node
/**
 * Service proxy benchmark: renders N services × M endpoints with @podnet/proxy-iptables and
 * @podnet/proxy-nftables, applies the same text with the real iptables-restore / nft -f inside
 * throwaway network namespaces, and reports render time as a ratio of the kernel's apply time,
 * plus the size and apply time of the incremental update after one endpoint change.
 *
 * Build first: (cd packages/core && npx tsup) && (cd packages/proxy-iptables && npx tsup) &&
 *              (cd packages/proxy-nftables && npx tsup)
 * Run as root:  node bench/proxy/render.mjs [N=10000] [M=10] [RUNS=3]
 *   env NOFLUSH_SIZES="1000 2000": sizes at which the full iptables text is also timed with
 *   `iptables-restore --noflush` into an empty namespace (super-linear on iptables 1.8.9-nft).
 * Only namespaces named pnbench-<pid>-* are created; they are deleted at exit, also on failure.
 *
 * The full iptables text is applied as kube-proxy's data part with plain `iptables-restore` (the
 * namespace is empty, so flushing its tables changes nothing) followed by the EnsureRule part with
 * `--noflush`; updates are applied with `--noflush`, as kube-proxy does.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { defaultClusterNetwork } from '../../packages/core/dist/index.js';
import { ENSURE_MARKER, renderIptables, renderIptablesUpdate } from '../../packages/proxy-iptables/dist/index.js';
import { renderNftables, renderNftablesCleanup, renderNftablesUpdate } from '../../packages/proxy-nftables/dist/index.js';

const N = Number(process.argv[2] ?? 10000);
const M = Number(process.argv[3] ?? 10);
const RUNS = Number(process.argv[4] ?? 3);
const NOFLUSH_SIZES = (process.env.NOFLUSH_SIZES ?? '1000 2000').split(/\s+/).filter(Boolean).map(Number);
const PREFIX = `pnbench-${process.pid}`;
const work = mkdtempSync(join(tmpdir(), 'pnbench-'));
const namespaces = [];

function cleanup() {
  for (const ns of namespaces.splice(0)) spawnSync('ip', ['netns', 'del', ns]);
  rmSync(work, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => process.exit(130));

function run(args, inputFile) {
  const r = spawnSync('sh', ['-c', `${args.map((a) => `'${a}'`).join(' ')} < '${inputFile}'`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${args.join(' ')} failed (${r.status}): ${r.stderr.slice(0, 500)}`);
}

function netns(tag) {
  const name = `${PREFIX}-${tag}`;
  const r = spawnSync('ip', ['netns', 'add', name], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip netns add ${name}: ${r.stderr}`);
  namespaces.push(name);
  return name;
}

function dropNetns(name) {
  spawnSync('ip', ['netns', 'del', name]);
  namespaces.splice(namespaces.indexOf(name), 1);
}

const timed = (f) => {
  const t0 = performance.now();
  const value = f();
  return { ms: performance.now() - t0, value };
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const file = (name, text) => {
  const p = join(work, name);
  writeFileSync(p, text);
  return p;
};

/** A node "node-a" in a one-node cluster with N ClusterIP services of M endpoints each. */
function cluster(movedEndpoint, n = N) {
  const network = { ...defaultClusterNetwork(), serviceCIDRs: ['10.96.0.0/12'], clusterCIDRs: ['10.128.0.0/9'] };
  const node = {
    name: 'node-a',
    labels: {},
    internalIPs: ['192.168.50.10'],
    underlaySubnet: '192.168.50.0/24',
    podCIDRs: ['10.128.0.0/24'],
    ready: true,
    unschedulable: false,
  };
  const services = [];
  const endpointSlices = [];
  for (let i = 0; i < n; i++) {
    const name = `svc-${i}`;
    services.push({
      namespace: 'bench',
      name,
      type: 'ClusterIP',
      clusterIPs: [`10.${96 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`],
      headless: false,
      ipFamilies: [4],
      ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }],
      selector: { app: name },
      externalIPs: [],
      loadBalancerIPs: [],
      loadBalancerSourceRanges: [],
      externalTrafficPolicy: 'Cluster',
      internalTrafficPolicy: 'Cluster',
      sessionAffinity: 'None',
      sessionAffinityTimeoutSeconds: 10800,
      publishNotReadyAddresses: false,
      labels: {},
      annotations: {},
    });
    const endpoints = [];
    for (let j = 0; j < M; j++) {
      const k = i * M + j;
      const ip = i === 0 && j === 0 && movedEndpoint ? movedEndpoint : `10.${128 + (k >> 16)}.${(k >> 8) & 255}.${k & 255}`;
      endpoints.push({ addresses: [ip], ready: true, serving: true, terminating: false, nodeName: `node-${j % 3}` });
    }
    endpointSlices.push({
      namespace: 'bench',
      name: `${name}-abcde`,
      serviceName: name,
      addressType: 'IPv4',
      ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
      endpoints,
    });
  }
  const state = {
    network,
    nodes: [node],
    namespaces: [],
    pods: [],
    services,
    endpointSlices,
    ingresses: [],
    ingressClasses: [],
    networkPolicies: [],
    secrets: [],
    warnings: [],
  };
  return { state, node, pods: [], podMtu: 1450, uplink: 'eth0', fabric: { segments: [], routers: [], hosts: [] } };
}

function main() {
  if (process.getuid?.() !== 0) throw new Error('run as root: the apply step needs network namespaces');
  const before = cluster();
  const after = cluster('10.200.0.1');
  const lines = (t) => (t === '' ? 0 : t.trimEnd().split('\n').length);
  const results = {};

  // iptables: render (median of RUNS), restore into an empty namespace, then the partial update.
  {
    const renders = [];
    let text = '';
    for (let r = 0; r < RUNS; r++) {
      const t = timed(() => renderIptables(before).ipv4);
      renders.push(t.ms);
      text = t.value;
    }
    const update = timed(() => renderIptablesUpdate(after, before).ipv4);
    const ns = netns('ipt');
    const cut = text.indexOf(ENSURE_MARKER);
    const data = file('ipt-data.rules', text.slice(0, cut));
    const ensure = file('ipt-ensure.rules', text.slice(cut));
    const apply = timed(() => run(['ip', 'netns', 'exec', ns, 'iptables-restore'], data));
    const applyEnsure = timed(() => run(['ip', 'netns', 'exec', ns, 'iptables-restore', '--noflush'], ensure));
    const upd = file('ipt-update.rules', update.value);
    const applyUpdate = timed(() => run(['ip', 'netns', 'exec', ns, 'iptables-restore', '--noflush'], upd));
    dropNetns(ns);
    results.iptables = {
      renderMs: median(renders),
      applyMs: apply.ms,
      ensureApplyMs: applyEnsure.ms,
      fullBytes: text.length,
      fullLines: lines(text),
      updateRenderMs: update.ms,
      updateBytes: update.value.length,
      updateLines: lines(update.value),
      updateApplyMs: applyUpdate.ms,
    };
  }

  // iptables-restore --noflush of a full sync into an empty namespace, at smaller sizes.
  const noflush = [];
  for (const n of NOFLUSH_SIZES) {
    const text = renderIptables(cluster(undefined, n)).ipv4;
    const data = file(`ipt-data-${n}.rules`, text.slice(0, text.indexOf(ENSURE_MARKER)));
    const flushNs = netns(`f${n}`);
    const flush = timed(() => run(['ip', 'netns', 'exec', flushNs, 'iptables-restore'], data));
    dropNetns(flushNs);
    const keepNs = netns(`k${n}`);
    const keep = timed(() => run(['timeout', '900', 'ip', 'netns', 'exec', keepNs, 'iptables-restore', '--noflush'], data));
    dropNetns(keepNs);
    noflush.push({ services: n, flushMs: flush.ms, noflushMs: keep.ms });
  }

  // nftables: render, nft -f into an empty namespace, then the partial update and its cleanup.
  {
    const renders = [];
    let text = '';
    for (let r = 0; r < RUNS; r++) {
      const t = timed(() => renderNftables(before));
      renders.push(t.ms);
      text = t.value;
    }
    const update = timed(() => renderNftablesUpdate(after, before));
    const cleanupText = renderNftablesCleanup(after, before);
    const ns = netns('nft');
    const full = file('nft-full.nft', text);
    const apply = timed(() => run(['ip', 'netns', 'exec', ns, 'nft', '-f', '-'], full));
    const upd = file('nft-update.nft', update.value);
    const applyUpdate = timed(() => run(['ip', 'netns', 'exec', ns, 'nft', '-f', '-'], upd));
    const cln = file('nft-cleanup.nft', cleanupText);
    const applyCleanup = timed(() => run(['ip', 'netns', 'exec', ns, 'nft', '-f', '-'], cln));
    dropNetns(ns);
    results.nftables = {
      renderMs: median(renders),
      applyMs: apply.ms,
      fullBytes: text.length,
      fullLines: lines(text),
      updateRenderMs: update.ms,
      updateBytes: update.value.length,
      updateLines: lines(update.value),
      updateApplyMs: applyUpdate.ms,
      cleanupLines: lines(cleanupText),
      cleanupApplyMs: applyCleanup.ms,
    };
  }

  const f = (x) => Math.round(x).toLocaleString('en-US');
  console.log(`Service proxy: ${N} services × ${M} endpoints, render median of ${RUNS}, Node ${process.version}`);
  console.log('| mode | render ms | kernel apply ms | render / apply | full text | update after 1 endpoint change | update apply ms |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const [mode, r] of Object.entries(results)) {
    console.log(
      `| ${mode} | ${f(r.renderMs)} | ${f(r.applyMs)} | ${(r.renderMs / r.applyMs).toFixed(3)} | ${f(r.fullLines)} lines, ${(r.fullBytes / 1e6).toFixed(1)} MB | ${f(r.updateLines)} lines, ${f(r.updateBytes)} B (${((100 * r.updateBytes) / r.fullBytes).toFixed(2)} %), rendered in ${f(r.updateRenderMs)} ms | ${f(r.updateApplyMs)} |`,
    );
  }
  console.log(`iptables EnsureRule part (--noflush): ${f(results.iptables.ensureApplyMs)} ms; nft cleanup of ${results.nftables.cleanupLines} stale chain(s): ${f(results.nftables.cleanupApplyMs)} ms`);
  for (const r of noflush) {
    console.log(`iptables-restore of the full text for ${r.services} services into an empty namespace: ${f(r.flushMs)} ms; with --noflush: ${f(r.noflushMs)} ms`);
  }
  console.log(JSON.stringify({ N, M, RUNS, node: process.version, results, noflush }));
}

try {
  main();
} finally {
  cleanup();
}

// Netfilter benchmark: parse a kube-proxy-shaped ruleset of 10,000 services (≈110,000 iptables
// rules; the nftables-mode equivalent) with the emulator's interpreters, time per-packet
// evaluation, and time the real `iptables-restore` of the same text in a throwaway namespace.
//
//   node --expose-gc bench/netfilter/run.mjs [--services 10000] [--endpoints 3] [--packets 20000] [--runs 3]
//                                [--no-kernel] [--kernel-nft]
//
// The emulator's TypeScript is bundled on the fly with the workspace's esbuild (no build needed).
// The kernel part needs root, `ip` and `iptables-restore`; it creates `pnbench-<pid>` and removes
// it. Prints a table and, last, one JSON line with the figures.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { iptablesJumps, iptablesText, nftText, services } from './gen-rules.mjs';

const { values } = parseArgs({
  options: {
    services: { type: 'string', default: '10000' },
    endpoints: { type: 'string', default: '3' },
    packets: { type: 'string', default: '20000' },
    runs: { type: 'string', default: '3' },
    'no-kernel': { type: 'boolean', default: false },
    'kernel-nft': { type: 'boolean', default: false },
  },
});
const N = Number(values.services);
const M = Number(values.endpoints);
const PACKETS = Number(values.packets);
const RUNS = Number(values.runs);

const root = fileURLToPath(new URL('../../', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'pnbench-'));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const gc = globalThis.gc ?? (() => {});

async function loadNetfilter() {
  const out = join(work, 'netfilter.mjs');
  execFileSync(
    join(root, 'node_modules/.bin/esbuild'),
    [
      join(root, 'packages/emulator/src/netfilter/index.ts'),
      '--bundle',
      '--platform=node',
      '--format=esm',
      `--alias:@podnet/core=${join(root, 'packages/core/src/index.ts')}`,
      `--outfile=${out}`,
      '--log-level=warning',
    ],
    { stdio: 'inherit' },
  );
  return import(pathToFileURL(out).href);
}

const nf = await loadNetfilter();
const svcs = services(N, M);
const ipt = iptablesText(svcs);
const nft = nftText(svcs);
const iptRules = (ipt + iptablesJumps).split('\n').filter((l) => l.startsWith('-A ')).length;
const nftRules = nft.split('\n').filter((l) => l.startsWith('add rule')).length;

function time(fn) {
  const t0 = performance.now();
  const r = fn();
  return { ms: performance.now() - t0, r };
}

// ---- parse ----
const iptParse = [];
let harnessIpt;
for (let k = 0; k < RUNS; k++) {
  const h = new nf.NetfilterHarness(
    { addresses: [{ dev: 'eth0', cidr: '192.168.0.2/24' }, { dev: 'cni0', cidr: '10.244.0.1/14' }], routes: [{ dst: 'default', dev: 'eth0' }] },
    { chooser: nf.seededChooser(7) },
  );
  harnessIpt = undefined;
  gc();
  // as kube-proxy: the data with a plain restore, the base-chain jumps with --noflush
  iptParse.push(
    time(() => {
      h.nf.applyIptables(ipt, 4, { source: 'bench' });
      h.nf.applyIptables(iptablesJumps, 4, { noflush: true, source: 'bench-jumps' });
    }).ms,
  );
  harnessIpt = h;
}
const nftParse = [];
let harnessNft;
for (let k = 0; k < RUNS; k++) {
  const h = new nf.NetfilterHarness(
    { addresses: [{ dev: 'eth0', cidr: '192.168.0.2/24' }, { dev: 'cni0', cidr: '10.244.0.1/14' }], routes: [{ dst: 'default', dev: 'eth0' }] },
    { chooser: nf.seededChooser(7) },
  );
  harnessNft = undefined;
  gc();
  nftParse.push(time(() => h.nf.applyNft(nft, { source: 'bench' })).ms);
  harnessNft = h;
}

// ---- per-packet evaluation ----
function perPacket(h) {
  let rnd = 12345;
  const next = () => (rnd = (Math.imul(rnd, 1103515245) + 12345) >>> 0);
  const flows = [];
  for (let p = 0; p < PACKETS; p++) {
    const s = svcs[next() % N];
    flows.push({ proto: 'tcp', src: `192.168.${1 + (p >> 16)}.${(p >> 8) & 255 || 1}`, dst: s.ip, sport: 1024 + (p & 0xfff), dport: 80, iif: 'eth0' });
  }
  // warm-up on a separate range of flows
  for (let p = 0; p < 500; p++) h.send({ ...flows[p], sport: 60000 + p });
  let wrong = 0;
  const first = time(() => {
    for (const f of flows) {
      const o = h.send(f, { trace: false });
      if (o.disposition !== 'forwarded' || o.packet.dst === f.dst) wrong++;
    }
  }).ms;
  const est = time(() => {
    for (const f of flows) h.send({ ...f, tcpFlags: nf.TCP_ACK }, { trace: false });
  }).ms;
  // the same first packets again, new source ports, with every rule and NAT recorded
  const traced = time(() => {
    for (const f of flows) h.send({ ...f, sport: f.sport + 8192 });
  }).ms;
  return {
    firstUs: (first * 1000) / PACKETS,
    establishedUs: (est * 1000) / PACKETS,
    tracedUs: (traced * 1000) / PACKETS,
    wrong,
    conntrack: h.nf.conntrack.size,
  };
}
const evalIpt = perPacket(harnessIpt);
const evalNft = perPacket(harnessNft);

// ---- the kernel ----
let kernel;
if (!values['no-kernel'] && process.getuid?.() === 0) {
  const ns = `pnbench-${process.pid}`;
  const file = join(work, 'ipt.rules');
  const jumps = join(work, 'jumps.rules');
  const nftFile = join(work, 'nft.nft');
  writeFileSync(file, ipt);
  writeFileSync(jumps, iptablesJumps);
  writeFileSync(nftFile, nft);
  const run = (args) => {
    const t0 = performance.now();
    const r = spawnSync('ip', ['netns', 'exec', ns, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
    return performance.now() - t0;
  };
  try {
    const restore = [];
    for (let k = 0; k < RUNS; k++) {
      execFileSync('ip', ['netns', 'add', ns]);
      try {
        // `--noflush` into an empty namespace is super-linear on iptables 1.8.9 (see the Service proxy section)
        restore.push(run(['sh', '-c', `iptables-restore < ${file} && iptables-restore --noflush < ${jumps}`]));
      } finally {
        execFileSync('ip', ['netns', 'del', ns]);
      }
    }
    kernel = { iptablesRestoreMs: median(restore) };
    if (values['kernel-nft']) {
      execFileSync('ip', ['netns', 'add', ns]);
      try {
        kernel.nftMs = run(['nft', '-f', nftFile]);
      } finally {
        execFileSync('ip', ['netns', 'del', ns]);
      }
    }
  } catch (e) {
    kernel = { error: String(e.message ?? e) };
  }
}
rmSync(work, { recursive: true, force: true });

const f1 = (x) => x.toFixed(1);
const f2 = (x) => x.toFixed(2);
const rows = [
  ['ruleset', `${N} services x ${M} endpoints: ${iptRules} iptables rules (${(ipt.length / 1e6).toFixed(1)} MB), ${nftRules} nft rules`],
  ['iptables-restore text: parse (emulator)', `${f1(median(iptParse))} ms (median of ${RUNS})`],
  ['nft -f text: parse (emulator)', `${f1(median(nftParse))} ms (median of ${RUNS})`],
  ['iptables: first packet (PREROUTING DNAT, FORWARD, POSTROUTING MASQUERADE)', `${f2(evalIpt.firstUs)} µs/packet`],
  ['iptables: established packet (conntrack hit)', `${f2(evalIpt.establishedUs)} µs/packet`],
  ['iptables: first packet with the trace recorded', `${f2(evalIpt.tracedUs)} µs/packet`],
  ['nftables: first packet', `${f2(evalNft.firstUs)} µs/packet`],
  ['nftables: established packet', `${f2(evalNft.establishedUs)} µs/packet`],
  ['nftables: first packet with the trace recorded', `${f2(evalNft.tracedUs)} µs/packet`],
];
if (kernel?.iptablesRestoreMs !== undefined) {
  rows.push(['kernel: iptables-restore of the same text (fresh netns)', `${f1(kernel.iptablesRestoreMs)} ms (median of ${RUNS})`]);
  rows.push(['ratio kernel restore / emulator parse', `${f2(kernel.iptablesRestoreMs / median(iptParse))}x`]);
}
if (kernel?.nftMs !== undefined) {
  rows.push(['kernel: nft -f of the same text (fresh netns)', `${f1(kernel.nftMs)} ms`]);
  rows.push(['ratio kernel nft -f / emulator parse', `${f2(kernel.nftMs / median(nftParse))}x`]);
}
if (kernel?.error) rows.push(['kernel', `not measured: ${kernel.error}`]);
for (const [k, v] of rows) console.log(`${k.padEnd(76)} ${v}`);
if (evalIpt.wrong || evalNft.wrong) console.log(`WARNING: ${evalIpt.wrong + evalNft.wrong} packets were not DNATed`);
console.log(
  JSON.stringify({
    services: N,
    endpoints: M,
    iptRules,
    nftRules,
    iptParseMs: median(iptParse),
    nftParseMs: median(nftParse),
    ipt: evalIpt,
    nft: evalNft,
    kernel,
  }),
);

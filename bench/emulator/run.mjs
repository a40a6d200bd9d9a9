// Emulator benchmark: realize a 100-node, 10,000-pod flannel-style dataplane (bridge + VXLAN,
// hand-generated, no plugins) and trace cross-node pod→pod TCP connections.
//
//   pnpm --filter @podnet/core --filter @podnet/emulator build
//   node --expose-gc bench/emulator/run.mjs [--nodes 100] [--pods 100] [--seconds 3]
//
// Prints a table and, last, one JSON line with the figures.
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

async function load() {
  try {
    return await import('@podnet/emulator');
  } catch {
    // Not installed into bench/node_modules (no `pnpm install` yet): use the workspace build.
    return await import(new URL('../../packages/emulator/dist/index.js', import.meta.url).href);
  }
}

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '100' },
    pods: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '3' },
  },
});
const nodes = Number(values.nodes);
const pods = Number(values.pods);
const seconds = Number(values.seconds);

const { emulator, flannelStylePlan } = await load();
const gc = globalThis.gc ?? (() => {});

const plan = flannelStylePlan({ nodes, podsPerNode: pods });
gc();
const heapBefore = process.memoryUsage().heapUsed;
const t0 = performance.now();
const c0 = process.cpuUsage();
const net = await emulator().apply(plan);
const realizeMs = performance.now() - t0;
const realizeCpu = process.cpuUsage(c0);
gc();
const heapAfter = process.memoryUsage().heapUsed;

function rate(label, traceOnce) {
  // warm-up: resolves ARP on the path and lets the JIT settle
  for (let i = 0; i < 2000; i++) traceOnce(i);
  let n = 0;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 200; i++) traceOnce(n++);
  }
  const ms = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  return {
    label,
    traces: n,
    perSecond: Math.round((n * 1000) / ms),
    perCpuSecond: Math.round((n * 1000) / cpuMs),
    microsPerTrace: Number(((ms * 1000) / n).toFixed(2)),
  };
}

const last = nodes - 1;
const fixed = rate('cross-node pod→pod tcp (same pair)', () => {
  const r = net.trace({ from: 'default/pod-0-0', to: `default/pod-${last}-${pods - 1}:80` });
  if (r.verdict !== 'delivered') throw new Error(`unexpected verdict ${r.verdict}: ${r.reason}`);
});
const pairs = Array.from({ length: 1000 }, (_, i) => ({
  from: `default/pod-${i % nodes}-${(i * 7) % pods}`,
  to: `default/pod-${(i * 13 + 1) % nodes === i % nodes ? (i + 1) % nodes : (i * 13 + 1) % nodes}-${(i * 11) % pods}:80`,
}));
const rotating = rate('cross-node pod→pod tcp (1,000 pairs)', (i) => {
  const r = net.trace(pairs[i % pairs.length]);
  if (r.verdict !== 'delivered') throw new Error(`unexpected verdict ${r.verdict}: ${r.reason}`);
});
const sample = net.trace({ from: 'default/pod-0-0', to: `default/pod-${last}-${pods - 1}:80` });
const pcapStart = performance.now();
let pcapN = 0;
while (performance.now() - pcapStart < 500) {
  net.trace({ from: 'default/pod-0-0', to: `default/pod-${last}-${pods - 1}:80`, pcap: true });
  pcapN++;
}
const pcapRate = Math.round((pcapN * 1000) / (performance.now() - pcapStart));
const maxRssMb = Math.round(process.resourceUsage().maxRSS / 1024);

const figures = {
  nodes,
  pods: nodes * pods,
  realizeMs: Math.round(realizeMs),
  realizeCpuMs: Math.round((realizeCpu.user + realizeCpu.system) / 1000),
  heapMb: Math.round((heapAfter - heapBefore) / 1048576),
  peakRssMb: maxRssMb,
  hopsPerTrace: sample.hops.length + (sample.reply?.hops.length ?? 0),
  tracesPerSecond: fixed.perSecond,
  tracesPerCpuSecond: fixed.perCpuSecond,
  tracesPerSecondRotating: rotating.perSecond,
  tracesPerCpuSecondRotating: rotating.perCpuSecond,
  tracesPerSecondWithPcap: pcapRate,
  node: process.version,
};
console.log(`emulator: ${nodes} nodes, ${nodes * pods} pods`);
console.log(`  realize                 ${figures.realizeMs} ms (${figures.realizeCpuMs} ms CPU)`);
console.log(`  heap held by network    ${figures.heapMb} MB (peak RSS ${figures.peakRssMb} MB)`);
for (const r of [fixed, rotating]) {
  console.log(`  ${r.label.padEnd(40)} ${r.perSecond} traces/s (${r.microsPerTrace} µs/trace; ${r.perCpuSecond} per CPU-second)`);
}
console.log(`  with pcap                               ${pcapRate} traces/s`);
console.log(`  hops per trace (forward + reply)        ${figures.hopsPerTrace}`);
console.log(JSON.stringify(figures));
await net.destroy();

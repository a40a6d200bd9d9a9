// DNS benchmark: dnsperf against podnet's DNS server and against C authoritative servers (NSD, Knot)
// loaded with the same records, same machine, same run, loopback only. Method of
// /work/shared/reference/perf-baselines.md §1: 1,000 services (A + `_http._tcp` SRV), query files of
// 100,000 lines (q-a: A only; q-mix: 70 % A, 20 % SRV, 10 % NXDOMAIN), server pinned to cpu1 with one
// worker, dnsperf pinned to cpu0; `max` = saturation, `fixed` = 20,000 qps with per-query latencies.
//
// Usage (after `npx tsup` in packages/core and packages/dns):
//   node bench/dns/bench.mjs [--runs 3] [--secs 8] [--servers podnet,nsd,knot] [--modes max,fixed,mix] [--rate 20000] [--keep]
import { execFileSync, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import http from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? def : process.argv[i + 1];
};
const RUNS = Number(arg('runs', 3));
const SECS = Number(arg('secs', 8));
const RATE = Number(arg('rate', 20000));
const SERVERS = arg('servers', 'podnet,nsd,knot').split(',');
const MODES = arg('modes', 'max,fixed,mix').split(',');
const KEEP = process.argv.includes('--keep');
const N = 1000;
const ZONE = 'cluster.local';
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

// ---- data: the same records for every server -------------------------------------------------

const ip = (i) => `10.96.${(i >> 8) & 255}.${i & 255}`;
const name = (i) => `svc-${i}.default.svc.${ZONE}`;
const srv = (i) => `_http._tcp.svc-${i}.default.svc.${ZONE}`;

function generate(dir) {
  let zone = `$ORIGIN ${ZONE}.\n$TTL 30\n@ IN SOA ns.dns.${ZONE}. hostmaster.${ZONE}. 1 7200 1800 86400 30\n@ IN NS ns.dns.${ZONE}.\nns.dns IN A 10.96.0.10\n`;
  for (let i = 0; i < N; i++) zone += `${name(i)}. IN A ${ip(i)}\n${srv(i)}. IN SRV 0 100 80 ${name(i)}.\n`;
  writeFileSync(join(dir, `${ZONE}.zone`), zone);
  // The same records for podnet, as a cluster: 1,000 ClusterIP services with a named TCP port.
  const core = JSON.parse(readFileSync(join(here, '../../packages/core/package.json'), 'utf8'));
  if (!core.name) throw new Error('packages/core not found');
  const network = {
    name: 'default',
    clusterCIDRs: ['10.244.0.0/16'],
    serviceCIDRs: ['10.96.0.0/12'],
    nodeCIDRMaskSize: 24,
    nodeCIDRMaskSizeIPv6: 64,
    clusterDomain: ZONE,
    underlay: { subnets: ['192.168.50.0/24'], mtu: 1500, externalSubnet: '203.0.113.0/24' },
    overlay: { backend: 'vxlan' },
    proxy: { mode: 'iptables' },
    dns: { serviceIP: '10.96.0.10', ttl: 30, pods: 'insecure', upstreams: [], staticHosts: {} },
    serviceNodePortRange: { min: 30000, max: 32767 },
    addons: { dns: true, ingressController: 'auto' },
    ipFamilies: [4],
  };
  const services = Array.from({ length: N }, (_, i) => ({
    namespace: 'default',
    name: `svc-${i}`,
    type: 'ClusterIP',
    clusterIPs: [ip(i)],
    headless: false,
    ipFamilies: [4],
    ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 80 }],
    selector: {},
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
  }));
  const state = { network, namespaces: [{ name: 'default', labels: {} }], services, endpointSlices: [], pods: [] };
  writeFileSync(join(dir, 'state.json'), JSON.stringify(state));
  // dnsperf query files, the same deterministic PRNG as the reference generator.
  let s = 12345;
  const rnd = () => (s = (s * 1103515245 + 12345) >>> 0) / 4294967296;
  let qa = '';
  let qm = '';
  for (let k = 0; k < 100000; k++) {
    const i = Math.floor(rnd() * N);
    qa += `${name(i)} A\n`;
    const r = rnd();
    if (r < 0.7) qm += `${name(i)} A\n`;
    else if (r < 0.9) qm += `${srv(i)} SRV\n`;
    else qm += `svc-${i}.nosuch.svc.${ZONE} A\n`;
  }
  writeFileSync(join(dir, 'q-a.txt'), qa);
  writeFileSync(join(dir, 'q-mix.txt'), qm);
}

// ---- servers --------------------------------------------------------------------------------

function freePort() {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.bind(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

function configs(dir, ports) {
  mkdirSync(join(dir, 'nsd'), { recursive: true });
  mkdirSync(join(dir, 'knot'), { recursive: true });
  writeFileSync(
    join(dir, 'nsd/nsd.conf'),
    `server:\n  ip-address: 127.0.0.1\n  port: ${ports.nsd}\n  server-count: 1\n  username: ""\n  zonesdir: "${dir}"\n` +
      `  pidfile: "${dir}/nsd/nsd.pid"\n  xfrdfile: "${dir}/nsd/xfrd.state"\n  zonelistfile: "${dir}/nsd/zone.list"\n` +
      '  database: ""\n  verbosity: 0\n  hide-version: yes\n  reuseport: yes\n  rrl-ratelimit: 0\n  rrl-whitelist-ratelimit: 0\n' +
      `remote-control:\n  control-enable: no\nzone:\n  name: ${ZONE}\n  zonefile: ${ZONE}.zone\n`,
  );
  writeFileSync(
    join(dir, 'knot/knot.conf'),
    `server:\n  listen: 127.0.0.1@${ports.knot}\n  udp-workers: 1\n  tcp-workers: 1\n  background-workers: 1\n  rundir: "${dir}/knot"\n` +
      `database:\n  storage: "${dir}/knot/db"\nlog:\n  - target: stderr\n    any: warning\n` +
      `template:\n  - id: default\n    storage: "${dir}"\n    semantic-checks: off\nzone:\n  - domain: ${ZONE}\n    file: "${ZONE}.zone"\n`,
  );
}

function start(server, dir, port) {
  const pin = ['-c', '1'];
  const cmd = {
    podnet: ['node', join(here, 'podnet-dns-server.mjs'), join(dir, 'state.json'), String(port)],
    nsd: ['nsd', '-d', '-c', join(dir, 'nsd/nsd.conf')],
    knot: ['knotd', '-c', join(dir, 'knot/knot.conf')],
  }[server];
  const child = spawn('taskset', [...pin, ...cmd], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  child.stdout.on('data', (d) => {
    const m = /http (\S+)\/metrics/.exec(String(d));
    if (m) child.metrics = m[1];
  });
  child.on('exit', (code) => {
    if (code && !child.killed) process.stderr.write(`${server} exited ${code}: ${err}\n`);
  });
  return child;
}

/** One A query over loopback; resolves true when answered. */
function probe(port) {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const t = setTimeout(() => {
      s.close();
      resolve(false);
    }, 200);
    s.on('message', () => {
      clearTimeout(t);
      s.close();
      resolve(true);
    });
    const labels = name(0).split('.').flatMap((l) => [Buffer.from([l.length]), Buffer.from(l)]);
    const q = Buffer.concat([Buffer.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels, Buffer.from([0, 0, 1, 0, 1])]);
    s.send(q, port, '127.0.0.1');
  });
}

async function waitUp(port) {
  for (let i = 0; i < 100; i++) if (await probe(port)) return;
  throw new Error(`server on ${port} did not answer`);
}

/** podnet only: the queries the server itself counted (coredns_dns_requests_total, all labels). */
function serverSeen(child) {
  if (!child.metrics) return Promise.resolve(Number.NaN);
  return new Promise((resolve) => {
    const req = http.get(`http://${child.metrics}/metrics`, { agent: false }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () =>
        resolve([...text.matchAll(/^coredns_dns_requests_total\{[^}]*\} (\d+)/gm)].reduce((a, m) => a + Number(m[1]), 0)),
      );
    });
    req.on('error', () => resolve(Number.NaN));
  });
}

function treeCpuMs(pid) {
  const stats = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const f = readFileSync(`/proc/${d}/stat`, 'utf8');
      const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
      stats.push({ pid: Number(d), ppid: Number(rest[1]), ticks: Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14]) });
    } catch {
      // The process went away between readdir and read.
    }
  }
  const tree = new Set([pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const s of stats) if (tree.has(s.ppid) && !tree.has(s.pid)) tree.add(s.pid), (grew = true);
  }
  return (stats.filter((s) => tree.has(s.pid)).reduce((a, s) => a + s.ticks, 0) * 1000) / CLK_TCK;
}

function busy1s() {
  const snap = () => readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const a = snap();
  execFileSync('sleep', ['1']);
  const b = snap();
  const d = b.map((x, i) => x - a[i]);
  const total = d.reduce((x, y) => x + y, 0);
  return Math.round((100 * (total - d[3] - d[4])) / total);
}

/** Wait (at most 40 s) for a second in which the machine is < 10 % busy; the last sample is logged. */
function waitQuiet() {
  let b = 100;
  for (let i = 0; i < 40 && (b = busy1s()) >= 10; i++);
  return b;
}

function dnsperf(port, queryFile, fixed) {
  const args = ['-c', '0', 'dnsperf', '-t', '2', '-T', '1', '-c', '8', '-q', '200', '-s', '127.0.0.1', '-p', String(port), '-d', queryFile, '-l', String(SECS)];
  if (fixed) args.push('-Q', String(RATE), '-v');
  const out = execFileSync('taskset', args, { maxBuffer: 1 << 28 }).toString();
  const num = (re) => Number(re.exec(out)?.[1] ?? Number.NaN);
  const r = {
    qps: num(/Queries per second:\s+([\d.]+)/),
    sent: num(/Queries sent:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/),
    completed: num(/Queries completed:\s+(\d+)/),
    avgMs: num(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
  };
  if (fixed) {
    const lat = [];
    for (const line of out.split('\n')) {
      if (!line.startsWith('>')) continue;
      const f = line.trim().split(/\s+/);
      const x = Number.parseFloat(f[f.length - 1]);
      if (Number.isFinite(x)) lat.push(x * 1e6);
    }
    lat.sort((a, b) => a - b);
    const p = (q) => (lat.length ? Math.round(lat[Math.min(lat.length - 1, Math.floor(q * lat.length))]) : Number.NaN);
    Object.assign(r, { p50: p(0.5), p90: p(0.9), p99: p(0.99), p999: p(0.999) });
  }
  return r;
}

const median = (xs) => {
  const s = [...xs].filter(Number.isFinite).sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : Number.NaN;
};

// ---- run ------------------------------------------------------------------------------------

const dir = mkdtempSync(join(tmpdir(), 'podnet-bench-dns-'));
const children = [];
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  if (!KEEP) rmSync(dir, { recursive: true, force: true });
});
process.on('SIGINT', () => process.exit(130));

generate(dir);
const ports = { podnet: await freePort(), nsd: await freePort(), knot: await freePort() };
configs(dir, ports);
const results = {};
const raw = [];
for (const server of SERVERS) {
  const child = start(server, dir, ports[server]);
  children.push(child);
  await waitUp(ports[server]);
  results[server] = {};
  for (const mode of MODES) {
    const runs = [];
    for (let i = 1; i <= RUNS; i++) {
      const bg = waitQuiet();
      const c0 = treeCpuMs(child.pid);
      const s0 = await serverSeen(child);
      const r = dnsperf(ports[server], join(dir, mode === 'mix' ? 'q-mix.txt' : 'q-a.txt'), mode === 'fixed');
      const cpu = treeCpuMs(child.pid) - c0;
      r.serverSeen = (await serverSeen(child)) - s0;
      r.usPerQuery = (cpu * 1000) / (r.qps * SECS);
      r.cpuUtil = cpu / 10 / SECS;
      r.bg = bg;
      runs.push(r);
      if (!(r.qps > 0)) r.note = ` NO ANSWERS: ${r.sent} sent, the server counted ${r.serverSeen}, probe after the run ${(await probe(ports[server])) ? 'answered' : 'unanswered'}`;
      const line = `${server} ${mode} run${i} bg=${bg}% qps=${r.qps.toFixed(0)} sent=${r.sent} srv_seen=${r.serverSeen} lost=${r.lost} avg_ms=${r.avgMs.toFixed(3)} srv_cpu=${r.cpuUtil.toFixed(0)}% srv_us_per_q=${r.usPerQuery.toFixed(2)}${mode === 'fixed' ? ` p50=${r.p50} p90=${r.p90} p99=${r.p99} p99.9=${r.p999}us` : ''}${r.note ?? ''}`;
      raw.push(line);
      console.log(line);
    }
    results[server][mode] = Object.fromEntries(
      Object.keys(runs[0])
        .filter((k) => k !== 'note')
        .map((k) => [k, median(runs.map((r) => r[k]))]),
    );
    results[server][mode].min = Math.min(...runs.map((r) => r.qps));
    results[server][mode].max = Math.max(...runs.map((r) => r.qps));
  }
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
}

// ---- report ---------------------------------------------------------------------------------

const fmt = (x, d = 0) => (Number.isFinite(x) ? x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '–');
console.log(`\nMedians of ${RUNS} runs, ${SECS} s each; server pinned to cpu1 (1 worker), dnsperf -c 8 -q 200 pinned to cpu0.\n`);
console.log('| server | A: qps (max) [min..max] | srv µs/q | lost | mix: qps | srv µs/q | lost | @' + fmt(RATE) + ' qps: p50 / p90 / p99 / p99.9 (µs) | srv µs/q @' + fmt(RATE) + ' | lost |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const s of SERVERS) {
  const m = results[s].max ?? {};
  const x = results[s].mix ?? {};
  const f = results[s].fixed ?? {};
  console.log(
    `| ${s} | ${fmt(m.qps)} [${fmt(m.min)}..${fmt(m.max)}] | ${fmt(m.usPerQuery, 1)} | ${fmt(m.lost)} | ${fmt(x.qps)} | ${fmt(x.usPerQuery, 1)} | ${fmt(x.lost)} | ${fmt(f.p50)} / ${fmt(f.p90)} / ${fmt(f.p99)} / ${fmt(f.p999)} | ${fmt(f.usPerQuery, 1)} | ${fmt(f.lost)} |`,
  );
}
if (results.podnet) {
  console.log('\nRatios podnet / C server (qps: higher is better for podnet; µs/q and latency: lower is better):\n');
  for (const c of SERVERS.filter((s) => s !== 'podnet')) {
    const r = (mode, k) => fmt(results.podnet[mode]?.[k] / results[c][mode]?.[k], 2);
    console.log(
      `- vs ${c}: A qps ${r('max', 'qps')}, mix qps ${r('mix', 'qps')}, srv µs/q ${r('max', 'usPerQuery')} (max) / ${r('fixed', 'usPerQuery')} (@${fmt(RATE)}), p50 ${r('fixed', 'p50')}, p99 ${r('fixed', 'p99')}`,
    );
  }
}
writeFileSync(join(dir, 'raw.txt'), `${raw.join('\n')}\n`);
if (KEEP) console.log(`\nwork dir kept: ${dir}`);

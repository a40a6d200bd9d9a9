/**
 * Differential check: the same scenarios on the real kernel (linux backend) and, when
 * `@podnet/emulator` exports `emulator()` with `trace`, on the emulator — and the same outcome from
 * both: did the exchange complete, which pods answered (the DNAT choice set), which source address
 * the server saw (SNAT for externalTrafficPolicy Cluster, the client's own for Local), and what MTU
 * does to a datagram. Servers are the `whoami` app, which answers with the pod name and the peer
 * address its socket saw; clients are real sockets in the pod's namespace (`probe`) and traces on
 * the emulator. Every scenario also asserts fixed expectations, so the linux run alone is a test.
 *
 * Which scenario needs what: see NEEDS on each layout and scenario.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { bridge } from '@podnet/bridge';
import { clusterDns, dnsApp } from '@podnet/dns';
import {
  type AppModule,
  type ClusterDataplane,
  type ClusterState,
  composeDataplane,
  type DnsPlugin,
  type OverlayBackend,
  type PodNetworkPlugin,
  type ServiceProxy,
} from '@podnet/core';
import { fixtureCluster } from '@podnet/core/testing';
import { hostGw } from '@podnet/overlay-host-gw';
import { flannelUdpApp, udp } from '@podnet/overlay-udp';
import { vxlan } from '@podnet/overlay-vxlan';
import { iptablesProxy } from '@podnet/proxy-iptables';
import { nftablesProxy } from '@podnet/proxy-nftables';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { down, linux } from '../src/linux-backend.js';
import { type ProbeOutcome, probe } from '../src/probe.js';
import { bundle, bundledApp, PACKAGES, skipReason, tempStateDir, uniqueCluster } from './test-support.js';
import { parseWhoami, whoamiApp } from '../src/whoami-app.js';

const reason = skipReason(['nft']);
if (reason) console.log(`differential.linux.test.ts: skipped: ${reason}`);

/** What one backend saw for one scenario. */
interface Outcome {
  ok: boolean;
  /** Pods that answered, sorted. */
  pods: string[];
  /** Source addresses the servers saw, sorted. */
  clients: string[];
  /** DNS scenarios: the rcode, then the A records, sorted. */
  answers?: string[];
}

interface Scenario {
  name: string;
  /** `NS/POD`, `node/NAME` or `external`. */
  from: string;
  host: string;
  port: number;
  proto: 'tcp' | 'udp' | 'http';
  /** Exchanges (linux: connections one after another; emulator: seeds 1..n). @default 1 */
  samples?: number;
  /** UDP payload bytes. */
  size?: number;
  /** A DNS query for this name (type A) instead of a whoami exchange. */
  dns?: string;
  /** Don't Fragment as Linux sets it for this datagram (IP_PMTUDISC_WANT: set when it fits the route MTU). */
  df?: boolean;
  expect: Partial<Outcome>;
  /** What the scenario depends on beyond the layout. */
  needs?: string;
  /**
   * A known difference of the emulator from the kernel, pinned: the emulator's outcome is asserted
   * to be this one, so fixing the emulator makes the test fail and the note gets removed.
   */
  emulatorDiffers?: { outcome: Outcome; why: string };
}

interface Layout {
  name: string;
  /** Plugins and features the layout needs. */
  needs: string;
  state: ClusterState;
  podNetwork: PodNetworkPlugin;
  overlay: OverlayBackend;
  serviceProxy?: ServiceProxy;
  dns?: DnsPlugin;
  scenarios: Scenario[];
}

const POD_PORTS = [{ port: 8080 }, { port: 5353, protocol: 'UDP' as const }];

/** a1, w1, s1 on node-1 (10.244.0.2, .3, .4); w2, c2, the DNS pod on node-2 (10.244.1.2, .3, .4). */
function serviceCluster(): ClusterState {
  return fixtureCluster({
    nodes: [{ name: 'node-1' }, { name: 'node-2' }],
    pods: [
      { name: 'a1', node: 'node-1' },
      { name: 'w1', node: 'node-1', labels: { app: 'web' }, ports: POD_PORTS },
      { name: 'w2', node: 'node-2', labels: { app: 'web' }, ports: POD_PORTS },
      { name: 's1', node: 'node-1', labels: { app: 'solo' }, ports: [{ port: 8080 }] },
      { name: 'c2', node: 'node-2' },
      {
        namespace: 'kube-system',
        name: 'coredns-0',
        node: 'node-2',
        labels: { 'k8s-app': 'kube-dns' },
        ports: [
          { port: 53, protocol: 'UDP' },
          { port: 53, protocol: 'TCP' },
        ],
      },
    ],
    services: [
      {
        name: 'web',
        type: 'NodePort',
        selector: { app: 'web' },
        ports: [
          { name: 'http', port: 80, targetPort: 8080, nodePort: 30080 },
          { name: 'dns', port: 53, targetPort: 5353, protocol: 'UDP', nodePort: 30053 },
        ],
      },
      { name: 'solo-local', type: 'NodePort', externalTrafficPolicy: 'Local', selector: { app: 'solo' }, ports: [{ port: 80, targetPort: 8080, nodePort: 30081 }] },
      { name: 'solo-cluster', type: 'NodePort', selector: { app: 'solo' }, ports: [{ port: 80, targetPort: 8080, nodePort: 30082 }] },
      { name: 'empty', selector: { app: 'none' }, ports: [{ port: 80, targetPort: 8080 }] },
      {
        namespace: 'kube-system',
        name: 'kube-dns',
        clusterIP: '10.96.0.10',
        selector: { 'k8s-app': 'kube-dns' },
        ports: [
          { name: 'dns', port: 53, protocol: 'UDP' },
          { name: 'dns-tcp', port: 53, protocol: 'TCP' },
        ],
      },
    ],
  });
}

function twoPods(): ClusterState {
  return fixtureCluster({
    nodes: [{ name: 'node-1' }, { name: 'node-2' }],
    pods: [
      { name: 'a1', node: 'node-1' },
      { name: 'w2', node: 'node-2', labels: { app: 'web' }, ports: POD_PORTS },
    ],
  });
}

const WEB = '10.96.0.100';
const SOLO_LOCAL = '10.96.0.101';
const SOLO_CLUSTER = '10.96.0.102';
const EMPTY = '10.96.0.103';
const N1 = '192.168.50.10';
const N2 = '192.168.50.11';
const EXTERNAL = '203.0.113.10';

/** Service scenarios both proxy layouts run. NEEDS: a service proxy plugin, br_netfilter, hairpin veths. */
function serviceScenarios(): Scenario[] {
  return [
    { name: 'pod → ClusterIP (TCP): both endpoints are chosen, no SNAT', from: 'default/a1', host: WEB, port: 80, proto: 'tcp', samples: 16, expect: { ok: true, pods: ['default/w1', 'default/w2'], clients: ['10.244.0.2'] } },
    { name: 'pod → ClusterIP (UDP): both endpoints are chosen', from: 'default/a1', host: WEB, port: 53, proto: 'udp', samples: 16, expect: { ok: true, pods: ['default/w1', 'default/w2'], clients: ['10.244.0.2'] } },
    { name: 'external → NodePort, externalTrafficPolicy Cluster: both endpoints, source masqueraded', from: 'external', host: N1, port: 30080, proto: 'tcp', samples: 16, expect: { ok: true, pods: ['default/w1', 'default/w2'] } },
    { name: 'external → NodePort, externalTrafficPolicy Local, endpoint on this node: client address kept', from: 'external', host: N1, port: 30081, proto: 'tcp', expect: { ok: true, pods: ['default/s1'], clients: [EXTERNAL] } },
    { name: 'external → NodePort, externalTrafficPolicy Local, no endpoint on this node: dropped', from: 'external', host: N2, port: 30081, proto: 'tcp', expect: { ok: false } },
    { name: 'external → NodePort, externalTrafficPolicy Cluster, endpoint on the other node: source masqueraded', from: 'external', host: N2, port: 30082, proto: 'tcp', expect: { ok: true, pods: ['default/s1'] } },
    { name: 'pod → ClusterIP of a service without endpoints: rejected', from: 'default/a1', host: EMPTY, port: 80, proto: 'tcp', expect: { ok: false } },
    { name: 'DNS: a Service name resolves through the kube-dns ClusterIP to its ClusterIP', from: 'default/a1', host: '10.96.0.10', port: 53, proto: 'udp', dns: 'web.default.svc.cluster.local', expect: { ok: true, answers: ['NOERROR', WEB] } },
    { name: 'DNS: a name that does not exist is NXDOMAIN', from: 'default/c2', host: '10.96.0.10', port: 53, proto: 'udp', dns: 'nosuch.default.svc.cluster.local', expect: { ok: true, answers: ['NXDOMAIN'] } },
  ];
}

const LAYOUTS: Layout[] = [
  {
    name: 'bridge + vxlan + iptables proxy',
    needs: '@podnet/bridge, @podnet/overlay-vxlan, @podnet/proxy-iptables; kernel vxlan, xt statistic/comment/conntrack/addrtype, br_netfilter',
    state: serviceCluster(),
    podNetwork: bridge(),
    overlay: vxlan(),
    serviceProxy: iptablesProxy(),
    dns: clusterDns(),
    scenarios: [
      { name: 'pod → pod, same node (TCP)', from: 'default/a1', host: '10.244.0.3', port: 8080, proto: 'tcp', expect: { ok: true, pods: ['default/w1'], clients: ['10.244.0.2'] } },
      { name: 'pod → pod, across nodes over VXLAN (TCP)', from: 'default/a1', host: '10.244.1.2', port: 8080, proto: 'tcp', expect: { ok: true, pods: ['default/w2'], clients: ['10.244.0.2'] } },
      { name: 'pod → pod, across nodes over VXLAN (UDP)', from: 'default/a1', host: '10.244.1.2', port: 5353, proto: 'udp', expect: { ok: true, pods: ['default/w2'], clients: ['10.244.0.2'] } },
      { name: 'pod → pod, across nodes (HTTP)', from: 'default/c2', host: '10.244.0.3', port: 8080, proto: 'http', expect: { ok: true, pods: ['default/w1'], clients: ['10.244.1.3'] } },
      { name: 'pod → pod, closed port: refused', from: 'default/a1', host: '10.244.1.2', port: 9999, proto: 'tcp', expect: { ok: false } },
      { name: 'node → pod on another node: source is flannel.1’s .0 address', from: 'node/node-1', host: '10.244.1.2', port: 8080, proto: 'tcp', expect: { ok: true, pods: ['default/w2'], clients: ['10.244.0.0'] } },
      { name: 'pod → ClusterIP (HTTP) from node-2', from: 'default/c2', host: WEB, port: 80, proto: 'http', samples: 16, expect: { ok: true, pods: ['default/w1', 'default/w2'], clients: ['10.244.1.3'] } },
      { name: 'node → ClusterIP: both endpoints, source masqueraded', from: 'node/node-2', host: WEB, port: 80, proto: 'tcp', samples: 16, expect: { ok: true, pods: ['default/w1', 'default/w2'] } },
      { name: 'pod → its own Service (hairpin): answered by itself, source masqueraded', from: 'default/s1', host: SOLO_CLUSTER, port: 80, proto: 'tcp', expect: { ok: true, pods: ['default/s1'] }, needs: 'hairpin mode on the host veth' },
      { name: 'external → pod IP: the underlay does not route pod CIDRs', from: 'external', host: '10.244.0.3', port: 8080, proto: 'tcp', expect: { ok: false } },
      { name: 'MTU: 1422-byte UDP payload (1450-byte packet = pod MTU) crosses in one packet', from: 'default/a1', host: '10.244.1.2', port: 5353, proto: 'udp', size: 1422, df: true, expect: { ok: true, pods: ['default/w2'] } },
      {
        name: 'MTU: 1472-byte UDP payload over pod MTU 1450 is fragmented by the pod and arrives',
        from: 'default/a1',
        host: '10.244.1.2',
        port: 5353,
        proto: 'udp',
        size: 1472,
        df: false,
        expect: { ok: true, pods: ['default/w2'], clients: ['10.244.0.2'] },
        needs: 'IP fragmentation (at the pod’s eth0) and reassembly (in the receiving pod)',
      },
      ...serviceScenarios(),
    ],
  },
  {
    name: 'bridge (pod MTU 1500, wrong) + vxlan + nftables proxy',
    needs: '@podnet/bridge with mtu 1500, @podnet/overlay-vxlan, @podnet/proxy-nftables; kernel nf_tables, br_netfilter',
    state: serviceCluster(),
    podNetwork: bridge({ mtu: 1500 }),
    overlay: vxlan(),
    serviceProxy: nftablesProxy(),
    dns: clusterDns(),
    scenarios: [
      ...serviceScenarios(),
      { name: 'wrong MTU: a 1472-byte UDP payload fits the pod’s 1500 MTU, gets DF, and dies at flannel.1 (1450)', from: 'default/a1', host: '10.244.1.2', port: 5353, proto: 'udp', size: 1472, df: true, expect: { ok: false }, needs: 'ICMP fragmentation needed on the node' },
      { name: 'wrong MTU: a 1000-byte UDP payload still crosses', from: 'default/a1', host: '10.244.1.2', port: 5353, proto: 'udp', size: 1000, df: true, expect: { ok: true, pods: ['default/w2'], clients: ['10.244.0.2'] } },
    ],
  },
  {
    name: 'bridge + host-gw',
    needs: '@podnet/bridge, @podnet/overlay-host-gw (nodes on one segment)',
    state: twoPods(),
    podNetwork: bridge(),
    overlay: hostGw(),
    scenarios: [
      { name: 'host-gw: pod → pod across nodes (TCP)', from: 'default/a1', host: '10.244.1.2', port: 8080, proto: 'tcp', expect: { ok: true, pods: ['default/w2'], clients: ['10.244.0.2'] } },
      { name: 'host-gw: node → pod on another node: source is the node’s underlay address', from: 'node/node-1', host: '10.244.1.2', port: 8080, proto: 'tcp', expect: { ok: true, pods: ['default/w2'], clients: [N1] } },
      { name: 'host-gw: 1472-byte UDP payload at pod MTU 1500 crosses unfragmented', from: 'default/a1', host: '10.244.1.2', port: 5353, proto: 'udp', size: 1472, df: true, expect: { ok: true, pods: ['default/w2'] } },
    ],
  },
  {
    name: 'bridge + udp overlay',
    needs: '@podnet/bridge, @podnet/overlay-udp (flannel-udp app), kernel TUN, the TUN helper addon',
    state: twoPods(),
    podNetwork: bridge(),
    overlay: udp(),
    scenarios: [
      { name: 'udp overlay: pod → pod across nodes (HTTP)', from: 'default/a1', host: '10.244.1.2', port: 8080, proto: 'http', expect: { ok: true, pods: ['default/w2'], clients: ['10.244.0.2'] } },
      { name: 'udp overlay: pod → pod across nodes (UDP)', from: 'default/a1', host: '10.244.1.2', port: 5353, proto: 'udp', expect: { ok: true, pods: ['default/w2'], clients: ['10.244.0.2'] } },
    ],
  },
];

/** The plan with every pod served by the whoami app instead of the workload. */
function planOf(l: Layout): ClusterDataplane {
  const plan = composeDataplane(l.state, {
    podNetwork: l.podNetwork,
    overlay: l.overlay,
    ...(l.serviceProxy ? { serviceProxy: l.serviceProxy } : {}),
    ...(l.dns ? { dns: l.dns } : {}),
  });
  for (const n of plan.nodes) for (const a of n.apps) if (a.app === 'workload') a.app = 'whoami';
  return plan;
}

function summarize(list: { ok: boolean; pod?: string; client?: string }[]): Outcome {
  const good = list.filter((x) => x.ok);
  return {
    ok: list.length > 0 && good.length === list.length,
    pods: [...new Set(good.map((x) => x.pod).filter((p): p is string => !!p))].sort(),
    clients: [...new Set(good.map((x) => x.client).filter((c): c is string => !!c))].sort(),
  };
}

/** A DNS query (RD set, type A, class IN) as hex. */
function dnsQuery(name: string): string {
  const labels = name.split('.').flatMap((l) => [l.length, ...new TextEncoder().encode(l)]);
  return Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, ...labels, 0, 0, 1, 0, 1]).toString('hex');
}

const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];

/** The rcode and the A records of a DNS response (hex). */
function dnsAnswers(hex: string): string[] {
  const b = Buffer.from(hex, 'hex');
  const skipName = (i: number): number => {
    while (b[i] !== 0) {
      if ((b[i] & 0xc0) === 0xc0) return i + 2;
      i += b[i] + 1;
    }
    return i + 1;
  };
  let i = skipName(12) + 4;
  const a: string[] = [];
  for (let n = b.readUInt16BE(6); n > 0; n--) {
    i = skipName(i);
    const type = b.readUInt16BE(i);
    const len = b.readUInt16BE(i + 8);
    if (type === 1 && len === 4) a.push([...b.subarray(i + 10, i + 14)].join('.'));
    i += 10 + len;
  }
  return [RCODES[b[3] & 0x0f] ?? String(b[3] & 0x0f), ...a.sort()];
}

function fromLinuxDns(list: ProbeOutcome[]): Outcome {
  const o = list[0];
  return o.ok && o.reply ? { ok: true, pods: [], clients: [], answers: dnsAnswers(o.reply) } : { ok: false, pods: [], clients: [] };
}

function fromLinux(list: ProbeOutcome[]): Outcome {
  return summarize(list.map((o) => ({ ok: o.ok && o.whoami !== undefined, pod: o.whoami?.pod, client: o.whoami?.client })));
}

const HTTP_GET = 'GET / HTTP/1.1\r\nHost: probe\r\nUser-Agent: podnet-probe\r\nConnection: close\r\n\r\n';

interface EmulatorTrace {
  verdict: string;
  reply?: { verdict: string };
  response?: Uint8Array;
}
interface EmulatorNet {
  trace(o: Record<string, unknown>): EmulatorTrace | Promise<EmulatorTrace>;
  destroy(): Promise<void>;
}
type EmulatorFactory = () => { apply(plan: ClusterDataplane, o: { apps: Map<string, AppModule> }): Promise<EmulatorNet> };

async function fromEmulator(net: EmulatorNet, s: Scenario): Promise<Outcome> {
  if (s.dns) {
    const r = await net.trace({ from: s.from, to: `${s.host}:${s.port}`, proto: 'udp', payload: Buffer.from(dnsQuery(s.dns), 'hex'), seed: 1 });
    return r.verdict === 'delivered' && r.response
      ? { ok: true, pods: [], clients: [], answers: dnsAnswers(Buffer.from(r.response).toString('hex')) }
      : { ok: false, pods: [], clients: [] };
  }
  const n = s.samples ?? 1;
  const text = s.proto === 'http' ? HTTP_GET : s.size ? `ping\n${'.'.repeat(Math.max(0, s.size - 5))}`.slice(0, s.size) : 'ping\n';
  const out: { ok: boolean; pod?: string; client?: string }[] = [];
  for (let seed = 1; seed <= n; seed++) {
    const r = await net.trace({
      from: s.from,
      to: `${s.host}:${s.port}`,
      proto: s.proto === 'udp' ? 'udp' : 'tcp',
      payload: new TextEncoder().encode(text),
      seed,
      ...(s.size ? { size: s.size + 28 } : {}),
      ...(s.df !== undefined ? { df: s.df } : {}),
    });
    const w = r.response ? parseWhoami(new TextDecoder().decode(r.response)) : undefined;
    out.push({ ok: r.verdict === 'delivered' && r.reply?.verdict === 'delivered' && w !== undefined, pod: w?.pod, client: w?.client });
  }
  return summarize(out);
}

async function loadEmulator(): Promise<EmulatorFactory | undefined> {
  try {
    const mod = (await import('@podnet/emulator')) as { emulator?: unknown };
    return typeof mod.emulator === 'function' ? (mod.emulator as EmulatorFactory) : undefined;
  } catch {
    return undefined;
  }
}

/** Made in beforeAll, so a run that filters every test out leaves nothing behind. */
let stateDir = '';
let emulatorFactory: EmulatorFactory | undefined;
let linuxApps: Map<string, AppModule>;
const emulatorApps = new Map<string, AppModule>([
  ['whoami', whoamiApp as AppModule],
  ['flannel-udp', flannelUdpApp as AppModule],
  ['dns', dnsApp as AppModule],
]);

beforeAll(async () => {
  if (reason) return;
  stateDir = tempStateDir();
  emulatorFactory = await loadEmulator();
  if (!emulatorFactory) console.log('differential.linux.test.ts: @podnet/emulator has no emulator(); running the linux backend alone');
  linuxApps = new Map<string, AppModule>([
    ['whoami', { ...whoamiApp, entry: await bundle(join(PACKAGES, 'linux/src/whoami-app.ts'), stateDir, 'whoami') } as AppModule],
    ['flannel-udp', (await bundledApp(flannelUdpApp, join(PACKAGES, 'overlay-udp/src/index.ts'), stateDir)) as AppModule],
    ['dns', (await bundledApp(dnsApp, join(PACKAGES, 'dns/src/index.ts'), stateDir)) as AppModule],
  ]);
});

afterAll(() => {
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

for (const layout of LAYOUTS) {
  describe.skipIf(reason !== '')(`differential: ${layout.name}`, () => {
    const cluster = uniqueCluster('df');
    let emulated: EmulatorNet | undefined;

    beforeAll(async () => {
      const plan = planOf(layout);
      await linux({ clusterName: cluster, stateDir }).apply(plan, { apps: linuxApps });
      if (emulatorFactory) emulated = await emulatorFactory().apply(planOf(layout), { apps: emulatorApps });
    });

    afterAll(async () => {
      await down(cluster, { stateDir });
      await emulated?.destroy();
    });

    for (const s of layout.scenarios) {
      it(s.name, async () => {
        const timeoutMs = s.expect.ok === false ? 800 : 1500;
        const request = { proto: s.proto, host: s.host, port: s.port, count: s.samples ?? 1, size: s.size, timeoutMs };
        const real = s.dns
          ? fromLinuxDns(await probe(cluster, s.from, { ...request, payloadHex: dnsQuery(s.dns) }, { stateDir }))
          : fromLinux(await probe(cluster, s.from, request, { stateDir }));
        expect(real).toMatchObject(s.expect);
        if (!emulated) return;
        const emu = await fromEmulator(emulated, s);
        if (s.emulatorDiffers) expect(emu, `known emulator difference: ${s.emulatorDiffers.why}`).toEqual(s.emulatorDiffers.outcome);
        else expect(emu, 'emulator vs linux').toEqual(real);
      });
    }
  });
}

/**
 * `podnet demo`: the guided tour on the emulated backend. It loads the two-node example, then walks
 * the packet paths the concepts guide describes — same node, across nodes over VXLAN, through a
 * Service VIP with every random branch, the DNS search path, an MTU black hole, and the same packet
 * over the other two overlays — printing the hops that matter for each.
 */
import { readFile } from 'node:fs/promises';
import { buildClusterState, parseManifestText } from '@podnet/cluster';
import type { ClusterState, PodInfo } from '@podnet/core';
import { resolveFromPod } from '@podnet/dns';
import { emulator, type TraceHop, type TraceOptions, type TraceResult } from '@podnet/emulator';
import { type Command, EXIT } from '../command.js';
import type { CliIo } from '../io.js';
import { appRegistry, buildPlan } from '../plan.js';

const EXAMPLE = new URL('./examples/two-node.yaml', import.meta.url);

/** Hops worth showing in a tour: where the packet is routed, rewritten, wrapped or handed over. */
function keyHop(h: TraceHop): boolean {
  if (h.step === 'netfilter') return h.before !== undefined;
  return [
    'send',
    'forward',
    'vxlan-encap',
    'vxlan-decap',
    'tun',
    'deliver',
    'drop',
    'reject',
    'icmp',
  ].includes(h.step);
}

function hopLine(h: TraceHop): string {
  const where = `${h.node}${h.netns === 'root' ? '' : `/${h.netns}`} ${h.device}`;
  const p = h.packet;
  const ports = (ip: string, port?: number) => (port === undefined ? ip : `${ip}:${port}`);
  let pkt = `${ports(p.src, p.sport)} > ${ports(p.dst, p.dport)} ${p.proto}`;
  if (p.encap)
    pkt += ` in ${p.encap.type}${p.encap.vni !== undefined ? ` vni ${p.encap.vni}` : ''} ${p.encap.outerSrc} > ${p.encap.outerDst}:${p.encap.dport}`;
  return `    ${where.padEnd(44)} ${h.step.padEnd(11)} ${h.detail}\n${' '.repeat(62)}${pkt}`;
}

function showTrace(io: CliIo, r: TraceResult): void {
  for (const h of r.hops.filter(keyHop)) io.out(`${hopLine(h)}\n`);
  const to = r.delivered ? `${r.delivered.pod ?? r.delivered.node} (${r.delivered.ip})` : '';
  io.out(`    => ${r.verdict}${to ? ` to ${to}` : ''}${r.reason ? `: ${r.reason}` : ''}\n`);
  if (r.reply)
    io.out(`    <= reply ${r.reply.verdict}${r.reply.delivered ? ` to ${r.reply.delivered.ip}` : ''}\n`);
}

function section(io: CliIo, n: number, title: string, text: string): void {
  io.out(
    `\n${n}. ${title}\n${text
      .split('\n')
      .map((l) => `   ${l}`)
      .join('\n')}\n\n`,
  );
}

async function traceOn(state: ClusterState, options: TraceOptions): Promise<TraceResult> {
  const net = await emulator().apply(buildPlan(state), { apps: appRegistry() });
  try {
    return net.trace(options);
  } finally {
    await net.destroy();
  }
}

function withOverlay(state: ClusterState, backend: string): ClusterState {
  return { ...state, network: { ...state.network, overlay: { backend } } };
}

export async function runDemo(io: CliIo, manifest: string, file: string): Promise<number> {
  const state = buildClusterState(parseManifestText(manifest, file));
  const client = state.pods.find((p) => p.name === 'client')!;
  const web = state.pods.filter((p) => p.labels.app === 'web');
  const near = web.find((p) => p.node === client.node)!;
  const far = web.find((p) => p.node !== client.node)!;
  const svc = state.services.find((s) => s.name === 'web')!;
  const pod = (p: PodInfo) => `${p.namespace}/${p.name}`;

  io.out(`podnet demo — the Kubernetes network, emulated (${file})\n\n`);
  for (const n of state.nodes) {
    io.out(`  node ${n.name}  underlay ${n.internalIPs[0]}  pods ${n.podCIDRs.join(', ')}\n`);
    for (const p of state.pods.filter((x) => x.node === n.name))
      io.out(`      ${pod(p).padEnd(40)} ${p.ips[0]}\n`);
  }
  io.out(`  service default/web  ClusterIP ${svc.clusterIPs[0]}:80 -> ${web.length} pods on :8080\n`);

  section(
    io,
    1,
    'Pod to pod, same node',
    `${pod(client)} -> ${pod(near)}: out of the pod's eth0, across the veth into the\nbridge cni0, and down the other pod's veth. No routing on the node.`,
  );
  showTrace(io, await traceOn(state, { from: pod(client), to: `${near.ips[0]}:8080` }));

  section(
    io,
    2,
    'Pod to pod, across nodes (VXLAN)',
    `${pod(client)} -> ${pod(far)}: the node routes ${far.ips[0]} to flannel.1, which wraps\nthe frame in UDP 8472 to the other node's underlay address; the other node unwraps it.`,
  );
  showTrace(io, await traceOn(state, { from: pod(client), to: `${far.ips[0]}:8080` }));

  section(
    io,
    3,
    'Through the Service VIP (kube-proxy, iptables mode)',
    `${pod(client)} -> ${svc.clusterIPs[0]}:80: no device holds the ClusterIP; netfilter DNATs it to an\nendpoint chosen at random. Every branch, with its probability:`,
  );
  const all = await traceOn(state, { from: pod(client), to: `${svc.clusterIPs[0]}:80`, allPaths: true });
  for (const p of all.paths ?? [])
    io.out(
      `    p=${p.probability.toFixed(4)}  ${p.verdict} to ${p.delivered?.pod} (${p.delivered?.ip}:${p.delivered?.port})\n`,
    );
  const http = await traceOn(state, {
    from: pod(client),
    to: `${svc.clusterIPs[0]}:80`,
    payload: new TextEncoder().encode(`GET / HTTP/1.1\r\nHost: web\r\n\r\n`),
  });
  const body = http.response
    ? new TextDecoder().decode(http.response).split('\r\n\r\n')[1]?.trim()
    : undefined;
  io.out(`    an HTTP GET on the default seed is answered by: ${body ?? '(no answer)'}\n`);

  section(
    io,
    4,
    'Cluster DNS and the search path',
    `The pod asks for "web". With ndots:5 the resolver tries its search list first:`,
  );
  const dns = resolveFromPod(state, pod(client), 'web.default.svc.cluster.local');
  const short = resolveFromPod(state, pod(client), 'web');
  io.out(`    web: ${short.queries.map((q) => `${q.name} ${q.rcode}`).join(', ')}\n`);
  io.out(`    web.default.svc.cluster.local: ${dns.queries.map((q) => `${q.name} ${q.rcode}`).join(', ')}\n`);
  io.out(`    (a fully qualified name still costs ${dns.queries.length} queries without a trailing dot)\n`);

  section(
    io,
    5,
    'MTU',
    `VXLAN adds 50 bytes, so flannel.1 and the pods get MTU ${state.network.underlay.mtu - 50}. A ping from node\n${client.node} to ${pod(far)} with Don't Fragment set:`,
  );
  for (const size of [1500, 1450]) {
    const r = await traceOn(state, {
      from: `node/${client.node}`,
      to: far.ips[0],
      proto: 'icmp',
      size,
      df: true,
    });
    io.out(`    ${size} bytes: ${r.verdict}${r.reason ? ` (${r.reason})` : ''}\n`);
  }

  for (const [n, backend, text] of [
    [6, 'host-gw', 'No encapsulation: a plain route to the remote pod CIDR via the other node.'],
    [
      7,
      'udp',
      "flannel's UDP backend: the packet goes into the TUN flannel0, a userspace daemon sends it in UDP 8285.",
    ],
  ] as const) {
    section(io, n, `Same packet, overlay ${backend}`, text);
    showTrace(
      io,
      await traceOn(withOverlay(state, backend), { from: pod(client), to: `${far.ips[0]}:8080` }),
    );
  }

  io.out(
    '\nNext: podnet trace -f examples/two-node.yaml --from default/client --to <ip:port> [--all-paths] [--pcap out.pcapng]\n' +
      '      podnet render -f examples/two-node.yaml --node node-1      podnet dig -f examples/two-node.yaml web --from default/client\n',
  );
  return EXIT.ok;
}

export const demo: Command = {
  name: 'demo',
  summary: 'the guided tour on the emulated backend',
  usage: 'podnet demo [-f FILE]',
  options: { file: { type: 'string', short: 'f' } },
  async run({ values }, io) {
    const file = typeof values.file === 'string' ? values.file : undefined;
    const text = await readFile(file ?? EXAMPLE, 'utf8');
    return runDemo(io, text, file ?? 'examples/two-node.yaml');
  },
};

/**
 * `podnet trace -f FILE... --from SRC --to DST [--proto tcp|udp|icmp] [--port P] [--size BYTES]
 * [--df] [--all-paths] [--pcap OUT] [-o json]`: send one exchange through the emulated network
 * built from the manifests and print every hop, the reply's way back and, with --all-paths,
 * every random branch with its probability. Exit 0 when delivered, 1 otherwise. A DNS name in
 * `--to` is first resolved the way the source would: its resolv.conf's search list, each query a
 * real UDP exchange with the nameserver through the emulated network (kube-proxy's DNAT to a DNS
 * pod and back), then the final trace goes to the first address.
 */
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  type AppRegistry,
  type ClusterDataplane,
  type ClusterState,
  InvalidArgumentError,
  isIp,
  NotFoundError,
  objectKey,
  stableJson,
} from '@podnet/core';
import {
  type DnsAnswer,
  type DnsSnapshot,
  decodeAnswer,
  encodeQuestion,
  podResolvConf,
  type Rcode,
  type ResolvConf,
  searchResolve,
} from '@podnet/dns';
import {
  emulator,
  type EmulatedNetwork,
  type EmulatorOptions,
  type PacketSummary,
  type TraceHop,
  type TraceResult,
  type TraceVerdict,
} from '@podnet/emulator';
import { type Command, EXIT, fileOptions, outputOption } from '../command.js';
import type { CliIo } from '../io.js';
import { loadStateFromArgs, printWarnings } from '../load.js';
import { appRegistry, buildPlan } from '../plan.js';

export interface TraceArgs {
  from: string;
  to: string;
  proto?: 'tcp' | 'udp' | 'icmp';
  port?: number;
  size?: number;
  df?: boolean;
  allPaths?: boolean;
  /** Write the pcapng here (relative to the working directory). */
  pcap?: string;
  output?: 'json';
}

export interface TraceRunOptions {
  apps?: AppRegistry;
  emulator?: EmulatorOptions;
  /**
   * The cluster the plan came from: the source's resolv.conf when `--to` is a DNS name.
   * @default the snapshot the plan's `dns` app carries
   */
  state?: Pick<ClusterState, 'network' | 'pods'>;
}

/** One query the source's resolver sent while resolving a `--to` name, and its emulated exchange. */
export interface ResolveQuery {
  /** The name asked, without the trailing dot. */
  name: string;
  type: string;
  rcode: Rcode;
  nameserver: string;
  verdict: TraceVerdict;
  reason?: string;
  /** The DNS pod (`namespace/name`) the query was delivered to. */
  answeredBy?: string;
  hops: TraceHop[];
  /** The answer's way back to the source. */
  reply?: TraceResult['reply'];
}

export interface ResolveResult {
  /** `--to`'s name as given. */
  name: string;
  queries: ResolveQuery[];
  /** The first A (AAAA for an IPv6-only source) address of the answer. */
  address?: string;
  /** Where the queries left from (the traced source). */
  source?: TraceResult['source'];
}

/** First source port of the resolver's queries; each query takes the next one. */
const QUERY_PORT = 41000;
const DNS_NAME =
  /^(?=.{1,253}\.?$)[a-z0-9_]([-a-z0-9_]{0,61}[a-z0-9_])?(\.[a-z0-9_]([-a-z0-9_]{0,61}[a-z0-9_])?)*\.?$/i;

/** `--to`'s host and port when the host is a DNS name (not an IP, not NAMESPACE/POD), else undefined. */
export function dnsTarget(to: string): { name: string; port?: number } | undefined {
  if (to.startsWith('[') || isIp(to)) return undefined;
  const colon = to.lastIndexOf(':');
  const host = colon > 0 ? to.slice(0, colon) : to;
  const portText = colon > 0 ? to.slice(colon + 1) : undefined;
  if (host.includes('/') || host.includes(':') || isIp(host) || !DNS_NAME.test(host)) return undefined;
  if (/^[\d.]+$/.test(host)) return undefined;
  if (portText === undefined) return { name: host };
  if (!/^\d+$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535)
    throw new InvalidArgumentError('--to', `"${to}": port "${portText}" must be an integer 1-65535`);
  return { name: host, port: Number(portText) };
}

function snapshotOf(plan: ClusterDataplane): DnsSnapshot | undefined {
  for (const n of plan.nodes)
    for (const a of n.apps) {
      const snap = (a.config as { snapshot?: DnsSnapshot } | undefined)?.snapshot;
      if (a.app === 'dns' && snap?.network && Array.isArray(snap.pods)) return snap;
    }
  return undefined;
}

/** The resolv.conf `from` resolves with, and the record type it asks for. */
function sourceResolver(
  from: string,
  state: Pick<ClusterState, 'network' | 'pods'>,
): { conf: ResolvConf; type: 'A' | 'AAAA' } {
  const net = state.network;
  const v6only = (ips: readonly string[]) => ips.length > 0 && ips.every((ip) => ip.includes(':'));
  if (from === 'external')
    throw new InvalidArgumentError(
      '--from',
      'external has no resolver in the cluster: give --to an IP address, or trace from a pod or node/NAME',
    );
  if (from.startsWith('node/')) {
    // The node's own /etc/resolv.conf: the upstream nameservers, no search list.
    return {
      conf: { nameservers: [...net.dns.upstreams], searches: [], options: [] },
      type: v6only(net.clusterCIDRs) ? 'AAAA' : 'A',
    };
  }
  const pod = state.pods.find((p) => objectKey(p) === from);
  if (!pod) throw new NotFoundError(`--from ${from}: no pod of that name (use NAMESPACE/POD, node/NAME)`);
  return { conf: podResolvConf(net, pod), type: v6only(pod.ips) ? 'AAAA' : 'A' };
}

/**
 * Resolve `name` as `from`'s stub resolver does (glibc's search order), each query a UDP trace to
 * the nameserver's port 53 carrying the query; no answer counts as SERVFAIL (a timeout).
 */
export function traceResolve(
  net: Pick<EmulatedNetwork, 'trace'>,
  from: string,
  name: string,
  state: Pick<ClusterState, 'network' | 'pods'>,
): ResolveResult {
  const { conf, type } = sourceResolver(from, state);
  const queries: ResolveQuery[] = [];
  let source: TraceResult['source'] | undefined;
  const ask = (nameserver: string, question: { name: string; type: string }): DnsAnswer => {
    const sourcePort = QUERY_PORT + queries.length;
    const r = net.trace({
      from,
      to: `${nameserver.includes(':') ? `[${nameserver}]` : nameserver}:53`,
      proto: 'udp',
      payload: encodeQuestion(question, sourcePort),
      sourcePort,
    });
    source ??= r.source;
    const answer = (r.response && decodeAnswer(r.response)) || undefined;
    const rcode: Rcode = answer?.rcode ?? 'SERVFAIL';
    queries.push({
      name: question.name,
      type: question.type,
      rcode,
      nameserver,
      verdict: r.verdict,
      ...(r.reason ? { reason: r.reason } : {}),
      ...(r.delivered?.pod ? { answeredBy: r.delivered.pod } : {}),
      hops: r.hops,
      ...(r.reply ? { reply: r.reply } : {}),
    });
    return (
      answer ?? {
        rcode: 'SERVFAIL',
        authoritative: false,
        recursionAvailable: false,
        answers: [],
        authorities: [],
        additionals: [],
        source: 'forward',
      }
    );
  };
  const result = searchResolve(name, type, conf, ask);
  const address = result.response.answers.find((a) => a.type === type && typeof a.data === 'string')?.data as
    | string
    | undefined;
  return { name, queries, ...(address ? { address } : {}), ...(source ? { source } : {}) };
}

/** The command's core: realize `plan` on the emulator, trace, print. Returns the exit code. */
export async function traceCommand(
  plan: ClusterDataplane,
  args: TraceArgs,
  io: CliIo,
  options: TraceRunOptions = {},
): Promise<number> {
  const target = dnsTarget(args.to);
  let state = options.state;
  if (target && !state) {
    state = snapshotOf(plan);
    if (!state)
      throw new InvalidArgumentError(
        '--to',
        `"${args.to}" is a DNS name and the plan runs no cluster DNS to resolve it: give an IP or NAMESPACE/POD`,
      );
  }
  const apps = options.apps ?? appRegistry();
  const net = await emulator(options.emulator).apply(plan, { apps });
  try {
    let resolved: ResolveResult | undefined;
    let to = args.to;
    if (target && state) {
      resolved = traceResolve(net, args.from, target.name, state);
      if (resolved.address === undefined) return unresolved(resolved, args, io, target.port);
      const host = resolved.address.includes(':') ? `[${resolved.address}]` : resolved.address;
      to = target.port !== undefined ? `${host}:${target.port}` : resolved.address;
    }
    const r = net.trace({
      from: args.from,
      to,
      proto: args.proto,
      port: args.port,
      size: args.size,
      df: args.df,
      allPaths: args.allPaths,
      pcap: args.pcap !== undefined,
    });
    if (args.pcap !== undefined && r.pcap) {
      const file = resolve(io.cwd, args.pcap);
      await writeFile(file, r.pcap);
      io.err(`wrote ${r.pcap.length} bytes of pcapng to ${args.pcap}\n`);
    }
    if (args.output === 'json') {
      const json = traceJson(r);
      if (resolved) json.resolve = resolveJson(resolved);
      io.out(`${stableJson(json)}\n`);
    } else {
      io.out((resolved ? resolveText(resolved, args) : '') + traceText(r, args));
    }
    return r.verdict === 'delivered' ? EXIT.ok : EXIT.negative;
  } finally {
    await net.destroy();
  }
}

/** The name did not resolve: verdict `unreachable`, no trace of the destination. */
function unresolved(resolved: ResolveResult, args: TraceArgs, io: CliIo, port: number | undefined): number {
  const last = resolved.queries.at(-1);
  const rcode = last?.rcode ?? 'SERVFAIL';
  const reason =
    rcode === 'NOERROR'
      ? `${resolved.name}: no address (the answer to ${last!.name} ${last!.type} has no record)`
      : `${resolved.name}: could not be resolved (${rcode}${last?.verdict !== 'delivered' ? `, the query was ${last?.verdict ?? 'not sent'}` : ''})`;
  if (args.output === 'json') {
    const proto = args.proto ?? 'tcp';
    const p = proto === 'icmp' ? undefined : (port ?? args.port ?? 80);
    io.out(
      `${stableJson({
        verdict: 'unreachable',
        reason,
        hops: [],
        ...(resolved.source ? { source: resolved.source } : {}),
        destination: { name: resolved.name, ...(p !== undefined ? { port: p } : {}), proto },
        resolve: resolveJson(resolved),
      })}\n`,
    );
  } else {
    io.out(`${resolveText(resolved, args)}verdict: unreachable: ${reason}\n`);
  }
  return EXIT.negative;
}

function resolveJson(r: ResolveResult): Record<string, unknown> {
  return {
    name: r.name,
    queries: r.queries.map((q) => ({ ...q })),
    ...(r.address !== undefined ? { address: r.address } : {}),
  };
}

/** The resolver's queries, each with its hops, before the main trace. */
export function resolveText(r: ResolveResult, args: Pick<TraceArgs, 'from'>): string {
  const out = [
    `resolve ${r.name} from ${args.from} (${r.queries.length} ${r.queries.length === 1 ? 'query' : 'queries'}):`,
  ];
  r.queries.forEach((q, i) => {
    const by = q.answeredBy ? ` answered by ${q.answeredBy}` : '';
    out.push(`query ${i + 1}: ${q.name}. ${q.type} @${q.nameserver}:53 → ${q.rcode}${by}`);
    out.push(...hopLines(q.hops));
    out.push(
      `  query: ${q.verdict === 'delivered' && q.answeredBy ? `delivered to ${q.answeredBy}` : verdictLine(q)}`,
    );
    if (q.reply) out.push(`  reply: ${verdictLine(q.reply)}`, ...hopLines(q.reply.hops));
  });
  out.push(r.address !== undefined ? `${r.name} → ${r.address}` : `${r.name}: no address`, '', '');
  return out.join('\n');
}

/** ARCHITECTURE.md's trace JSON: the result without the pcap and response bytes. */
export function traceJson(r: TraceResult): Record<string, unknown> {
  const { pcap: _pcap, response: _response, ...rest } = r;
  return rest;
}

function endpoint(ip: string, port?: number): string {
  const host = ip.includes(':') ? `[${ip}]` : ip;
  return port === undefined ? host : `${host}:${port}`;
}

export function packetText(p: PacketSummary): string {
  let s = `${endpoint(p.src, p.sport)} > ${endpoint(p.dst, p.dport)} ${p.proto}`;
  if (p.flags) s += ` [${p.flags}]`;
  if (p.icmp) s += ` type ${p.icmp.type} code ${p.icmp.code}`;
  if (p.ttl !== undefined && p.proto !== 'arp') s += ` ttl ${p.ttl}`;
  s += ` len ${p.length}`;
  if (p.encap)
    s += ` in ${p.encap.type} vni ${p.encap.vni} ${p.encap.outerSrc}:${p.encap.sport} > ${p.encap.outerDst}:${p.encap.dport}`;
  return s;
}

function hopLines(hops: readonly TraceHop[]): string[] {
  const width = String(hops.length).length;
  const out: string[] = [];
  hops.forEach((h, i) => {
    const where =
      h.node === 'fabric'
        ? `fabric ${h.device}`
        : `${h.node}${h.netns === 'root' ? '' : `/${h.netns}`}${h.device ? ` ${h.device}` : ''}`;
    out.push(
      `  ${String(i + 1).padStart(width)}  ${where}  ${h.step}: ${h.detail}  (${packetText(h.packet)})`,
    );
    if (h.before) out.push(`  ${' '.repeat(width)}      was: ${packetText(h.before)}`);
    for (const rule of h.rules ?? []) out.push(`  ${' '.repeat(width)}      rule: ${rule}`);
  });
  return out;
}

function verdictLine(r: { verdict: string; reason?: string; delivered?: TraceResult['delivered'] }): string {
  if (r.verdict === 'delivered' && r.delivered) {
    const d = r.delivered;
    return `delivered to ${d.pod ?? `node ${d.node}`} (${endpoint(d.ip, d.port)})${d.pod ? ` on ${d.node}` : ''}`;
  }
  return `${r.verdict}${r.reason ? `: ${r.reason}` : ''}`;
}

/** One line per hop, like a packet walk. */
export function traceText(r: TraceResult, args: Pick<TraceArgs, 'from'>): string {
  const d = r.destination;
  const out = [
    `trace ${d.proto} ${args.from} (${r.source.ip}) → ${endpoint(d.ip, d.port)}`,
    ...hopLines(r.hops),
    `verdict: ${verdictLine(r)}`,
  ];
  if (r.reply) out.push('', `reply: ${verdictLine(r.reply)}`, ...hopLines(r.reply.hops));
  if (r.paths) {
    out.push('', `paths (${r.paths.length}${r.pathsTruncated ? ', truncated' : ''}):`);
    for (const p of r.paths) {
      const pct = `${(p.probability * 100).toFixed(1)}%`.padStart(6);
      out.push(`  ${pct}  ${verdictLine(p)}${p.choices.length ? `  [${p.choices.join(' → ')}]` : ''}`);
    }
  }
  return `${out.join('\n')}\n`;
}

function int(name: string, v: unknown, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || !/^\d+$/.test(v) || n < min || n > max)
    throw new InvalidArgumentError(name, `"${String(v)}" must be an integer ${min}-${max}`);
  return n;
}

export const trace: Command = {
  name: 'trace',
  summary: 'follow one packet hop by hop through the emulated network (and its reply), optionally as pcap',
  usage:
    'podnet trace -f FILE... --from NS/POD|node/NAME|external --to IP[:PORT]|NS/POD[:PORT]|NAME[:PORT] [--proto tcp|udp|icmp] [--port P] [--size BYTES] [--df] [--all-paths] [--pcap OUT] [-o json]',
  options: {
    ...fileOptions,
    ...outputOption,
    from: { type: 'string' },
    to: { type: 'string' },
    proto: { type: 'string' },
    port: { type: 'string' },
    size: { type: 'string' },
    df: { type: 'boolean' },
    'all-paths': { type: 'boolean' },
    pcap: { type: 'string' },
  },
  async run({ values, positionals }, io) {
    if (positionals.length > 0)
      throw new InvalidArgumentError('trace', `unexpected argument "${positionals[0]}"`);
    const { from, to, proto, output, pcap } = values;
    if (typeof from !== 'string' || from === '')
      throw new InvalidArgumentError('--from', 'give the source: NS/POD, node/NAME or external');
    if (typeof to !== 'string' || to === '')
      throw new InvalidArgumentError('--to', 'give the destination: IP[:PORT] or NS/POD[:PORT]');
    if (proto !== undefined && proto !== 'tcp' && proto !== 'udp' && proto !== 'icmp')
      throw new InvalidArgumentError('--proto', `"${String(proto)}" is not tcp, udp or icmp`);
    if (output !== undefined && output !== 'json')
      throw new InvalidArgumentError('-o', `"${String(output)}" is not an output format (json)`);
    if (pcap !== undefined && (typeof pcap !== 'string' || pcap === ''))
      throw new InvalidArgumentError('--pcap', 'give the file to write');
    const args: TraceArgs = {
      from,
      to,
      proto,
      port: int('--port', values.port, 1, 65535),
      size: int('--size', values.size, 28, 65535),
      df: values.df === true ? true : undefined,
      allPaths: values['all-paths'] === true,
      pcap: pcap as string | undefined,
      output,
    };
    const state = await loadStateFromArgs(values, io);
    printWarnings(state, io);
    return traceCommand(buildPlan(state), args, io, { state });
  },
};

/**
 * `podnet trace -f FILE... --from SRC --to DST [--proto tcp|udp|icmp] [--port P] [--size BYTES]
 * [--df] [--all-paths] [--pcap OUT] [-o json]`: send one exchange through the emulated network
 * built from the manifests and print every hop, the reply's way back and, with --all-paths,
 * every random branch with its probability. Exit 0 when delivered, 1 otherwise.
 */
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  type AppRegistry,
  type ClusterDataplane,
  InvalidArgumentError,
  stableJson,
} from '@podnet/core';
import {
  emulator,
  type EmulatorOptions,
  type PacketSummary,
  type TraceHop,
  type TraceResult,
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
}

/** The command's core: realize `plan` on the emulator, trace, print. Returns the exit code. */
export async function traceCommand(
  plan: ClusterDataplane,
  args: TraceArgs,
  io: CliIo,
  options: TraceRunOptions = {},
): Promise<number> {
  const apps = options.apps ?? appRegistry();
  const net = await emulator(options.emulator).apply(plan, { apps });
  try {
    const r = net.trace({
      from: args.from,
      to: args.to,
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
    io.out(args.output === 'json' ? `${stableJson(traceJson(r))}\n` : traceText(r, args));
    return r.verdict === 'delivered' ? EXIT.ok : EXIT.negative;
  } finally {
    await net.destroy();
  }
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
    'podnet trace -f FILE... --from NS/POD|node/NAME|external --to IP[:PORT]|NS/POD[:PORT] [--proto tcp|udp|icmp] [--port P] [--size BYTES] [--df] [--all-paths] [--pcap OUT] [-o json]',
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
    return traceCommand(buildPlan(state), args, io);
  },
};

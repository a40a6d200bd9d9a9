/**
 * `tracePacket` in the style of kube-proxy's test tracers (pkg/proxy/iptables/proxier_test.go,
 * pkg/proxy/nftables/helpers_test.go): given a rule dump and a packet, every path through the
 * random choices with the DNAT target it ends at (or ACCEPT / DROP / REJECT) and whether the
 * packet leaves masqueraded. Unlike those tracers it interprets every rule (marks, ctstate,
 * recent, sets) rather than skipping what it does not understand.
 */
import { type EnumeratedPath, enumeratePaths } from './chooser.js';
import { NetfilterHarness } from './harness.js';
import { Netfilter } from './netfilter.js';
import { hostPort } from './packet.js';
import type { NfTraceEvent } from './types.js';

export interface TraceRules {
  /** `iptables-restore` input (an `iptables-save` dump). */
  iptables?: string;
  /** `ip6tables-restore` input. */
  ip6tables?: string;
  /** `nft -f` input. */
  nft?: string;
  /** `ipset restore` input. */
  ipset?: string;
  /** `ipvsadm -R` input. */
  ipvs?: string;
}

export interface TracePacketInput {
  source: string;
  destination: string;
  port: number;
  /** @default 'tcp' */
  protocol?: 'tcp' | 'udp' | 'sctp';
  /** The node's own addresses: `addrtype LOCAL`, `fib daddr type local`, MASQUERADE's source. */
  nodeIPs: string[];
  /** The node's interface. @default 'eth0' */
  dev?: string;
  /** @default 40000 */
  sourcePort?: number;
}

export interface TracePath {
  probability: number;
  /** `ip:port` after DNAT, or ACCEPT, DROP, REJECT. */
  output: string;
  masquerade: boolean;
  /** The choices made on this path (statistic / numgen / IPVS labels). */
  choices: string[];
  /** Rule texts that matched, in order. */
  matches: string[];
}

export interface TracePacketResult {
  /** kube-proxy's form: the DNAT targets joined with ", ", or ACCEPT / DROP / REJECT. */
  output: string;
  /** Distinct outputs in the order first reached. */
  targets: string[];
  /** True when any path leaves masqueraded. */
  masquerade: boolean;
  /** Rules matched on any path, in order of first match. */
  matches: string[];
  paths: TracePath[];
}

export function tracePacket(rules: TraceRules, input: TracePacketInput): TracePacketResult {
  const nf = new Netfilter();
  if (rules.ipset) nf.applyIpset(rules.ipset, { source: 'ipset' });
  if (rules.iptables) nf.applyIptables(rules.iptables, 4, { source: 'iptables' });
  if (rules.ip6tables) nf.applyIptables(rules.ip6tables, 6, { source: 'ip6tables' });
  if (rules.nft) nf.applyNft(rules.nft, { source: 'nft' });
  if (rules.ipvs) nf.applyIpvs(rules.ipvs, { source: 'ipvs' });
  const dev = input.dev ?? 'eth0';
  const harness = new NetfilterHarness(
    {
      addresses: input.nodeIPs.map((ip) => ({ dev, cidr: `${ip}/${ip.includes(':') ? 128 : 32}` })),
      routes: [{ dst: 'default', dev }],
    },
    { nf },
  );
  const local = input.nodeIPs.includes(input.source);
  const paths: EnumeratedPath<TracePath>[] = enumeratePaths((chooser) => {
    const undo: (() => void)[] = [];
    const out = harness.send(
      {
        proto: input.protocol ?? 'tcp',
        src: input.source,
        dst: input.destination,
        sport: input.sourcePort ?? 40000,
        dport: input.port,
        iif: local ? undefined : dev,
      },
      { chooser, undo: (fn) => undo.push(fn) },
    );
    for (let i = undo.length - 1; i >= 0; i--) undo[i]();
    const matches = out.events
      .filter((e): e is Extract<NfTraceEvent, { kind: 'rule' }> => e.kind === 'rule')
      .map((e) => e.rule);
    const dnat = out.packet.dst !== input.destination || out.packet.dport !== input.port;
    const output =
      out.disposition === 'dropped' || out.disposition === 'unroutable'
        ? 'DROP'
        : out.disposition === 'rejected'
          ? 'REJECT'
          : dnat
            ? hostPort(out.packet.dst, out.packet.dport)
            : 'ACCEPT';
    // A MASQUERADE/SNAT rule fired on the way out (even when it kept the address, as for the node's own IP).
    const masquerade = out.events.some(
      (e) =>
        e.kind === 'nat' && e.type === 'snat' && !e.by.startsWith('conntrack') && !e.by.startsWith('ipvs'),
    );
    return { probability: 0, output, masquerade, choices: [], matches };
  });
  const result: TracePath[] = paths.map((p) => ({
    ...p.result,
    probability: p.probability,
    choices: p.choices,
  }));
  const targets: string[] = [];
  const matches: string[] = [];
  for (const p of result) {
    if (!targets.includes(p.output)) targets.push(p.output);
    for (const m of p.matches) if (!matches.includes(m)) matches.push(m);
  }
  return {
    output: targets.join(', '),
    targets,
    masquerade: result.some((p) => p.masquerade),
    matches,
    paths: result,
  };
}

import { ipCommands, NotFoundError, InvalidArgumentError, type NodeDataplane } from '@podnet/core';
import { type Command, EXIT, fileOptions } from '../command.js';
import { loadStateFromArgs, printWarnings } from '../load.js';
import { buildPlan } from '../plan.js';

const PARTS = ['ip', 'iptables', 'nft', 'ipvs', 'all'] as const;
type Part = (typeof PARTS)[number];

/** The exact text one node gets, per part. Sections are headed by `#` comments in `all`. */
export function renderNode(plan: NodeDataplane, part: Part): string {
  const sections: [string, string][] = [];
  if (part === 'ip' || part === 'all') sections.push(['ip', ipCommands(plan).join('\n')]);
  if (part === 'iptables' || part === 'all') {
    sections.push(['iptables-restore (IPv4)', plan.iptables.ipv4]);
    if (plan.iptables.ipv6 || part === 'iptables')
      sections.push(['ip6tables-restore (IPv6)', plan.iptables.ipv6]);
  }
  if (part === 'nft' || part === 'all') sections.push(['nft -f', plan.nftables]);
  if (part === 'ipvs' || part === 'all') {
    sections.push(['ipvsadm -R', plan.ipvs]);
    if (plan.ipset) sections.push(['ipset restore', plan.ipset]);
  }
  const shown = part === 'all' ? sections.filter(([, text]) => text.trim() !== '') : sections;
  if (shown.length === 1) return ensureNewline(shown[0][1]);
  return shown.map(([title, text]) => `# ---- ${title} ----\n${ensureNewline(text)}`).join('\n');
}

function ensureNewline(text: string): string {
  return text === '' || text.endsWith('\n') ? text : `${text}\n`;
}

export const render: Command = {
  name: 'render',
  summary: 'print the exact text a node gets: ip/bridge commands, iptables-restore, nft -f, ipvsadm -R input',
  usage: 'podnet render -f FILE... --node NAME [--part ip|iptables|nft|ipvs|all]',
  options: { ...fileOptions, node: { type: 'string' }, part: { type: 'string' } },
  async run({ values }, io) {
    const part = (values.part ?? 'all') as Part;
    if (!PARTS.includes(part)) throw new InvalidArgumentError('--part', `must be one of ${PARTS.join(', ')}`);
    const node = values.node;
    if (typeof node !== 'string') throw new InvalidArgumentError('--node', 'name the node to render');
    const state = await loadStateFromArgs(values, io);
    printWarnings(state, io);
    const plan = buildPlan(state).nodes.find((n) => n.node === node);
    if (!plan) {
      throw new NotFoundError(
        `--node: no node "${node}" (nodes: ${state.nodes.map((n) => n.name).join(', ')})`,
      );
    }
    io.out(renderNode(plan, part));
    return EXIT.ok;
  },
};

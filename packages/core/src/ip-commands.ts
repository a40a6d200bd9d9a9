/**
 * A node's dataplane as iproute2 commands, one per line: the text `podnet render --part ip` prints
 * and the linux backend feeds to `ip -batch` / `bridge -batch`. Order matters and follows what the
 * kernel needs: namespaces, devices, bridge ports, link state, addresses, sysctls, then neighbours
 * and FDB entries before the routes that use them (flannel's order, so the kernel never ARPs).
 */
import { type Link, type NodeDataplane, ROOT_NETNS } from './dataplane.js';

/**
 * Kernel name of a logical namespace. Kubernetes namespace names are DNS labels (no `_`), so
 * `<namespace>_<pod>` cannot collide. `prefix` keeps several clusters apart on one host.
 */
export function kernelNetnsName(netns: string, prefix = ''): string {
  return `${prefix}${netns.replace('/', '_')}`;
}

export interface IpCommandOptions {
  /** Map a logical namespace to the `-n` argument; undefined = the current namespace. */
  netnsName?: (netns: string) => string | undefined;
}

const defaultName = (netns: string) => (netns === ROOT_NETNS ? undefined : kernelNetnsName(netns));

export function ipCommands(plan: NodeDataplane, options: IpCommandOptions = {}): string[] {
  const nsName = options.netnsName ?? defaultName;
  const n = (netns: string) => {
    const k = nsName(netns);
    return k === undefined ? '' : `-n ${k} `;
  };
  const out: string[] = [];
  for (const ns of plan.namespaces) {
    const k = nsName(ns.name);
    if (k !== undefined) out.push(`ip netns add ${k}`);
  }
  for (const l of plan.links) {
    const add = linkAdd(l, nsName);
    if (add) out.push(`ip ${n(l.netns)}${add}`);
  }
  for (const l of plan.links) {
    // `ip tuntap add` takes no MTU and `ip link add` no promisc flag: both are set afterwards.
    if (l.kind === 'tun' && l.mtu) out.push(`ip ${n(l.netns)}link set ${l.name} mtu ${l.mtu}`);
    if (l.kind === 'bridge' && l.promisc) out.push(`ip ${n(l.netns)}link set ${l.name} promisc on`);
    if (l.master) out.push(`ip ${n(l.netns)}link set ${l.name} master ${l.master}`);
    if (l.hairpin) out.push(`bridge ${n(l.netns)}link set dev ${l.name} hairpin on`);
  }
  for (const l of plan.links) {
    if (l.kind === 'physical' || l.kind === 'loopback') {
      const mtu = l.kind === 'physical' && l.mtu ? ` mtu ${l.mtu}` : '';
      out.push(`ip ${n(l.netns)}link set ${l.name}${mtu}${l.up === false ? ' down' : ' up'}`);
      continue;
    }
    if (l.up !== false) out.push(`ip ${n(l.netns)}link set ${l.name} up`);
    if (l.kind === 'veth' && l.peer.up !== false) out.push(`ip ${n(l.peer.netns)}link set ${l.peer.name} up`);
  }
  for (const a of plan.addresses) {
    if (a.dev === 'lo' && a.cidr === '127.0.0.1/8') continue; // the kernel adds it when lo comes up
    const scope = a.scope && a.scope !== 'global' ? ` scope ${a.scope}` : '';
    out.push(`ip ${n(a.netns)}addr add ${a.cidr} dev ${a.dev}${scope}${a.noprefixroute ? ' noprefixroute' : ''}`);
  }
  for (const s of plan.sysctls) {
    const k = nsName(s.netns);
    out.push(`${k === undefined ? '' : `ip netns exec ${k} `}sysctl -w ${s.key}=${s.value}`);
  }
  for (const nb of plan.neighbors) {
    out.push(`ip ${n(nb.netns)}neigh replace ${nb.ip} lladdr ${nb.lladdr} dev ${nb.dev} nud ${nb.state ?? 'permanent'}`);
  }
  for (const f of plan.fdb) {
    const dst = f.dst ? ` dst ${f.dst}` : '';
    out.push(`bridge ${n(f.netns)}fdb append ${f.lladdr} dev ${f.dev}${dst} self${f.permanent === false ? '' : ' permanent'}`);
  }
  for (const r of plan.routes) {
    const parts = [`ip ${n(r.netns)}${r.family === 6 ? '-6 ' : ''}route replace`];
    if (r.type && r.type !== 'unicast') parts.push(r.type);
    parts.push(r.dst);
    if (r.via) parts.push(`via ${r.via}`);
    if (r.dev) parts.push(`dev ${r.dev}`);
    if (r.onlink) parts.push('onlink');
    if (r.scope && r.scope !== 'global') parts.push(`scope ${r.scope}`);
    if (r.src) parts.push(`src ${r.src}`);
    if (r.metric !== undefined) parts.push(`metric ${r.metric}`);
    if (r.table !== undefined && r.table !== 'main') parts.push(`table ${r.table}`);
    out.push(parts.join(' '));
  }
  return out;
}

function linkAdd(l: Link, nsName: (netns: string) => string | undefined): string | undefined {
  const mtu = l.mtu ? ` mtu ${l.mtu}` : '';
  const mac = l.mac ? ` address ${l.mac}` : '';
  switch (l.kind) {
    case 'loopback':
    case 'physical':
      return undefined;
    case 'bridge':
      return `link add name ${l.name}${mtu}${mac} type bridge${l.ageingTime !== undefined ? ` ageing_time ${l.ageingTime * 100}` : ''}`;
    case 'veth': {
      const peerNs = nsName(l.peer.netns);
      const pm = l.peer.mtu ? ` mtu ${l.peer.mtu}` : '';
      const pa = l.peer.mac ? ` address ${l.peer.mac}` : '';
      return `link add name ${l.name}${mtu}${mac} type veth peer name ${l.peer.name}${pm}${pa}${peerNs === undefined ? '' : ` netns ${peerNs}`}`;
    }
    case 'vxlan':
      return `link add name ${l.name}${mtu}${mac} type vxlan id ${l.vni} local ${l.local}${l.dev ? ` dev ${l.dev}` : ''} dstport ${l.dstport}${l.learning ? '' : ' nolearning'}`;
    case 'tun':
      return `tuntap add dev ${l.name} mode tun`;
    case 'dummy':
      return `link add name ${l.name}${mtu}${mac} type dummy`;
  }
}


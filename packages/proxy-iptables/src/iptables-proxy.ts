/**
 * kube-proxy's iptables mode as a podnet ServiceProxy. render() is kube-proxy's first (full) sync
 * on the node; renderUpdate() is the partial sync a running kube-proxy writes when some services
 * or endpoints changed (only their chains are declared and rewritten; gone chains are deleted).
 */
import {
  changedServices,
  type IpFamily,
  ipFamily,
  type ProxyUpdate,
  type RenderContext,
  SPECIFICATION_VERSION,
  type ServiceProxy,
  servicePortTable,
} from '@podnet/core';
import {
  type IptablesProxyOptions,
  type ResolvedOptions,
  resolveOptions,
  validateOptions,
} from './iptables-options.js';
import { syncFamily } from './iptables-rules.js';

export type { IptablesProxyOptions } from './iptables-options.js';

interface FamilyState {
  options: ResolvedOptions;
  nodeIPs: string[];
  table: ReturnType<typeof servicePortTable>;
}

function familyState(ctx: RenderContext, options: ResolvedOptions, family: IpFamily): FamilyState {
  return {
    options,
    nodeIPs: ctx.node.internalIPs.filter((ip) => ipFamily(ip) === family),
    table: servicePortTable(ctx.state.services, ctx.state.endpointSlices, ctx.node, family),
  };
}

function families(ctx: RenderContext): IpFamily[] {
  return [4, 6].filter((f) => ctx.state.network.ipFamilies.includes(f as IpFamily)) as IpFamily[];
}

const key = (f: IpFamily) => (f === 4 ? 'ipv4' : 'ipv6');

/** iptables-restore input per family for a full sync ('' for a family the cluster does not use). */
export function renderIptables(
  ctx: RenderContext,
  options: IptablesProxyOptions = {},
): { ipv4: string; ipv6: string } {
  const resolved = resolveOptions(validateOptions(options), ctx);
  const out = { ipv4: '', ipv6: '' };
  for (const family of families(ctx)) {
    const s = familyState(ctx, resolved, family);
    out[key(family)] = syncFamily({ family, entries: s.table, options: resolved, nodeIPs: s.nodeIPs }).text;
  }
  return out;
}

/**
 * The restore input a running kube-proxy writes to go from `previous` to `ctx`: a partial sync,
 * or a full one (without the EnsureRule block, whose jumps already exist) when the options or the
 * node changed.
 */
export function renderIptablesUpdate(
  ctx: RenderContext,
  previous: RenderContext,
  options: IptablesProxyOptions = {},
): { ipv4: string; ipv6: string } {
  const opts = validateOptions(options);
  const now = resolveOptions(opts, ctx);
  const before = resolveOptions(opts, previous);
  const out = { ipv4: '', ipv6: '' };
  for (const family of families(ctx)) {
    const cur = familyState(ctx, now, family);
    const hadFamily = previous.state.network.ipFamilies.includes(family);
    const prev = hadFamily ? familyState(previous, before, family) : undefined;
    const existingNatChains = prev
      ? syncFamily({ family, entries: prev.table, options: before, nodeIPs: prev.nodeIPs, stateOnly: true })
          .activeNatChains
      : new Set<string>();
    const sameSetup =
      prev !== undefined &&
      JSON.stringify([prev.options, prev.nodeIPs, previous.node.name]) ===
        JSON.stringify([now, cur.nodeIPs, ctx.node.name]);
    const changed = sameSetup
      ? changedServices(prev.table, cur.table)
      : new Set(cur.table.map((e) => `${e.sp.namespace}/${e.sp.name}`));
    out[key(family)] = syncFamily({
      family,
      entries: cur.table,
      options: now,
      nodeIPs: cur.nodeIPs,
      partial: { changed, existingNatChains },
    }).text;
  }
  return out;
}

/**
 * kube-proxy's iptables mode. Options use KubeProxyConfiguration names; those in
 * `ClusterNetwork.spec.proxy` are merged over the ones given here at render time.
 */
export function iptablesProxy(options: IptablesProxyOptions = {}): ServiceProxy {
  const validated = validateOptions(options);
  return {
    specificationVersion: SPECIFICATION_VERSION,
    kind: 'service-proxy',
    name: 'iptables',
    mode: 'iptables',
    capabilities: { unservedClusterIPPort: 'pass', unallocatedClusterIP: 'pass' },
    render(ctx) {
      return { iptables: renderIptables(ctx, validated) };
    },
    renderUpdate(ctx, previous): ProxyUpdate {
      return { iptables: renderIptablesUpdate(ctx, previous, validated) };
    },
  };
}

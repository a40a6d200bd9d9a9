/**
 * kube-proxy's nftables mode as a podnet ServiceProxy. render() is the transaction of a starting
 * kube-proxy's first (full) sync, for `ip kube-proxy` and/or `ip6 kube-proxy`; renderUpdate() is
 * the partial-sync transaction a running kube-proxy writes after services or endpoints changed.
 */
import {
  changedServices,
  type IpFamily,
  ipFamily,
  isCidr,
  parseCidr,
  type ProxyUpdate,
  type RenderContext,
  SPECIFICATION_VERSION,
  type ServicePortEntry,
  type ServiceProxy,
  servicePortTable,
} from '@podnet/core';
import {
  type NftablesProxyOptions,
  type ResolvedOptions,
  resolveOptions,
  validateOptions,
} from './nftables-options.js';
import { type NftSyncOutput, syncFamily, TABLE } from './nftables-rules.js';

export type { NftablesProxyOptions } from './nftables-options.js';

interface FamilyInput {
  family: IpFamily;
  options: ResolvedOptions;
  nodeIPs: string[];
  serviceCIDRs: string[];
  entries: ServicePortEntry[];
}

function familyInput(ctx: RenderContext, options: ResolvedOptions, family: IpFamily): FamilyInput {
  return {
    family,
    options,
    nodeIPs: ctx.node.internalIPs.filter((ip) => ipFamily(ip) === family),
    serviceCIDRs: ctx.state.network.serviceCIDRs.filter((c) => isCidr(c) && parseCidr(c).family === family),
    entries: servicePortTable(ctx.state.services, ctx.state.endpointSlices, ctx.node, family),
  };
}

function families(ctx: RenderContext): IpFamily[] {
  return ([4, 6] as IpFamily[]).filter((f) => ctx.state.network.ipFamilies.includes(f));
}

const text = (outputs: NftSyncOutput[]) =>
  outputs
    .map((o) => o.lines.join('\n'))
    .filter((t) => t !== '')
    .map((t) => `${t}\n`)
    .join('');

/** The `nft -f` input of a full sync: one transaction over every family of the cluster. */
export function renderNftables(ctx: RenderContext, options: NftablesProxyOptions = {}): string {
  const resolved = resolveOptions(validateOptions(options), ctx);
  return text(families(ctx).map((f) => syncFamily(familyInput(ctx, resolved, f))));
}

function planUpdate(
  ctx: RenderContext,
  previous: RenderContext,
  options: NftablesProxyOptions,
): NftSyncOutput[] {
  const opts = validateOptions(options);
  const now = resolveOptions(opts, ctx);
  const before = resolveOptions(opts, previous);
  return families(ctx).map((family) => {
    const cur = familyInput(ctx, now, family);
    if (!previous.state.network.ipFamilies.includes(family)) return syncFamily(cur);
    const prev = familyInput(previous, before, family);
    const prevState = syncFamily({ ...prev, stateOnly: true }).state;
    const setupOf = (f: FamilyInput, node: string) =>
      JSON.stringify([f.options, f.nodeIPs, f.serviceCIDRs, node]);
    if (setupOf(prev, previous.node.name) !== setupOf(cur, ctx.node.name)) {
      // kube-proxy restarts on a configuration change: a full sync that also clears what is gone.
      return syncFamily({ ...cur, previous: prevState });
    }
    return syncFamily({ ...cur, previous: prevState, changed: changedServices(prev.entries, cur.entries) });
  });
}

/**
 * The transaction a running kube-proxy writes to go from `previous` to `ctx`: changed services'
 * chains, the set and map elements that differ, flushes of chains that are gone.
 */
export function renderNftablesUpdate(
  ctx: RenderContext,
  previous: RenderContext,
  options: NftablesProxyOptions = {},
): string {
  return text(planUpdate(ctx, previous, options));
}

/**
 * The transaction kube-proxy runs at least a second after an update: deleting the chains that
 * update flushed (`renderNftablesUpdate(ctx, previous)`), once no map element points to them.
 */
export function renderNftablesCleanup(
  ctx: RenderContext,
  previous: RenderContext,
  options: NftablesProxyOptions = {},
): string {
  const outputs = planUpdate(ctx, previous, options);
  const lines: string[] = [];
  families(ctx).forEach((family, i) => {
    for (const chain of outputs[i].staleChains)
      lines.push(`delete chain ${family === 4 ? 'ip' : 'ip6'} ${TABLE} ${chain}`);
  });
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/**
 * kube-proxy's nftables mode. Options use KubeProxyConfiguration names; those in
 * `ClusterNetwork.spec.proxy` are merged over the ones given here at render time.
 */
export function nftablesProxy(options: NftablesProxyOptions = {}): ServiceProxy {
  const validated = validateOptions(options);
  return {
    specificationVersion: SPECIFICATION_VERSION,
    kind: 'service-proxy',
    name: 'nftables',
    mode: 'nftables',
    capabilities: { unservedClusterIPPort: 'reject', unallocatedClusterIP: 'drop' },
    render(ctx) {
      return { nftables: renderNftables(ctx, validated) };
    },
    renderUpdate(ctx, previous): ProxyUpdate {
      return { nftables: renderNftablesUpdate(ctx, previous, validated) };
    },
  };
}

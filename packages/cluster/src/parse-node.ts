/** v1 Node and v1 Namespace (the cluster-scoped objects). */
import { cidrContains, cidrsOverlap, ipFamily } from '@podnet/core';
import type { NodeDraft } from './drafts.js';
import type { Field } from './fields.js';
import { type ObjectContext, UNDERLAY_SUBNET_KEY } from './object-context.js';
import { checkCidr, readCidr, readIp } from './validation.js';

export function parseNode(ctx: ObjectContext): void {
  const { root, network } = ctx;
  const spec = root.get('spec');
  const status = root.get('status');
  const meta = root.get('metadata');

  let subnet: string | undefined;
  let subnetField: Field | undefined;
  const label = ctx.labels[UNDERLAY_SUBNET_KEY];
  const annotation = ctx.annotations[UNDERLAY_SUBNET_KEY];
  if (annotation !== undefined) {
    subnetField = meta.get('annotations').key(UNDERLAY_SUBNET_KEY);
    subnet = chooseSubnet(subnetField, annotation, network.underlay.subnets);
  } else if (label !== undefined) {
    subnetField = meta.get('labels').key(UNDERLAY_SUBNET_KEY);
    subnet = chooseSubnet(subnetField, label.replace(/[-_](\d+)$/, '/$1'), network.underlay.subnets);
  }

  const internalIPs: string[] = [];
  status
    .get('addresses')
    .list()
    .forEach((a) => {
      const type = a.get('type').string(true);
      const addrField = a.get('address');
      const ip = type === 'InternalIP' ? readIp(addrField, true) : addrField.string(true);
      if (type !== 'InternalIP' || ip === undefined) return;
      const fam = ipFamily(ip);
      if (internalIPs.some((x) => ipFamily(x) === fam)) {
        addrField.error(`a second IPv${fam} InternalIP: at most one per IP family`);
        return;
      }
      const containing = network.underlay.subnets.find((s) => cidrContains(s, ip));
      if (internalIPs.length === 0) {
        if (subnet !== undefined && !cidrContains(subnet, ip)) {
          addrField.error(`${ip} is not in the node's underlay subnet ${subnet} (from ${subnetField?.path})`);
          return;
        }
        if (subnet === undefined && containing === undefined) {
          addrField.error(`${ip} is not in any underlay subnet (${network.underlay.subnets.join(', ')})`);
          return;
        }
        subnet ??= containing;
      }
      internalIPs.push(ip);
    });

  const podCIDRs: string[] = [];
  const single = spec.get('podCIDR').string();
  const listField = spec.get('podCIDRs');
  const listed = listField.list();
  if (single !== undefined && listed.length > 0 && listed[0].value !== single)
    listed[0].error(`must equal spec.podCIDR (${single})`);
  const given = listed.length > 0 ? listed : single !== undefined ? [spec.get('podCIDR')] : [];
  for (const f of given) {
    const c = readCidr(f, true);
    if (!c) continue;
    const mask = c.family === 4 ? network.nodeCIDRMaskSize : network.nodeCIDRMaskSizeIPv6;
    const inside = network.clusterCIDRs.find(
      (cc) => cidrsOverlap(cc, c.text) && Number(cc.split('/')[1]) <= c.prefix,
    );
    if (podCIDRs.some((p) => checkCidr(p).cidr?.family === c.family))
      f.error(`a second IPv${c.family} pod CIDR: at most one per IP family`);
    else if (!inside)
      f.error(`${c.text} is not inside the clusterCIDRs (${network.clusterCIDRs.join(', ')})`);
    else if (c.prefix !== mask)
      f.error(`${c.text} must be a /${mask} (nodeCIDRMaskSize${c.family === 6 ? 'IPv6' : ''})`);
    else podCIDRs.push(c.text);
  }

  let ready = true;
  for (const c of status.get('conditions').list()) {
    const type = c.get('type').string(true);
    const st = c.get('status').oneOf(['True', 'False', 'Unknown'] as const);
    if (type === 'Ready' && st !== undefined) ready = st === 'True';
  }
  const labels = { 'kubernetes.io/hostname': ctx.name, 'kubernetes.io/os': 'linux', ...ctx.labels };
  const draft: NodeDraft = {
    source: ctx.source,
    name: ctx.name,
    labels,
    internalIPs,
    podCIDRs,
    ready,
    unschedulable: spec.get('unschedulable').bool() ?? false,
  };
  if (subnet !== undefined) draft.subnet = subnet;
  ctx.drafts.nodes.push(draft);
}

function chooseSubnet(f: Field, text: string, subnets: string[]): string | undefined {
  const r = checkCidr(text);
  if (r.problem || !r.cidr) return f.error(r.problem ?? `invalid CIDR ${JSON.stringify(text)}`);
  if (!subnets.includes(r.cidr.text))
    return f.error(`${r.cidr.text} is not one of the underlay subnets (${subnets.join(', ')})`);
  return r.cidr.text;
}

export function parseNamespace(ctx: ObjectContext): void {
  ctx.drafts.namespaces.push({ source: ctx.source, name: ctx.name, labels: ctx.labels });
}

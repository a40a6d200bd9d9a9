/** The `podnet.dev/v1alpha1 ClusterNetwork` document: defaults, validation, IP families. */
import {
  type Cidr,
  type ClusterNetworkConfig,
  cidrContains,
  cidrSize,
  cidrsOverlap,
  defaultClusterNetwork,
  type IpFamily,
  ipToBigInt,
  nthAddress,
} from '@podnet/core';
import type { Field } from './fields.js';
import { checkedString, dns1123Subdomain, readCidr, readIp } from './validation.js';

export const CLUSTER_NETWORK_API = 'podnet.dev/v1alpha1';

const SPEC_FIELDS = [
  'clusterCIDRs',
  'serviceCIDRs',
  'nodeCIDRMaskSize',
  'nodeCIDRMaskSizeIPv6',
  'clusterDomain',
  'underlay',
  'overlay',
  'proxy',
  'dns',
  'serviceNodePortRange',
  'addons',
];

interface Placed {
  field: string;
  cidr: Cidr;
}

/** The cluster's network config from its ClusterNetwork object (defaults when there is none). */
export function parseClusterNetwork(obj: Field | undefined): ClusterNetworkConfig {
  const cfg = defaultClusterNetwork();
  if (!obj) return cfg;
  cfg.name = obj.get('metadata').get('name').string() ?? cfg.name;
  const spec = obj.get('spec');
  spec.warnUnknown(SPEC_FIELDS);

  const cluster = readCidrList(spec.get('clusterCIDRs'));
  const service = readCidrList(spec.get('serviceCIDRs'));
  if (cluster) cfg.clusterCIDRs = cluster.map((p) => p.cidr.text);
  if (service) cfg.serviceCIDRs = service.map((p) => p.cidr.text);
  cfg.ipFamilies = cfg.clusterCIDRs.map((c) => (c.includes(':') ? 6 : 4)) as IpFamily[];
  const serviceFamilies = cfg.serviceCIDRs.map((c) => (c.includes(':') ? 6 : 4));
  if (cluster || service) {
    const a = [...cfg.ipFamilies].sort().join();
    const b = [...serviceFamilies].sort().join();
    if (a !== b) {
      spec
        .get(service ? 'serviceCIDRs' : 'clusterCIDRs')
        .error(
          `clusterCIDRs are ${familyList(cfg.ipFamilies)} but serviceCIDRs are ${familyList(serviceFamilies)}: both must cover the same IP families`,
        );
    }
  }

  const maskV4 = spec.get('nodeCIDRMaskSize').int({ min: 1, max: 32 });
  const maskV6 = spec.get('nodeCIDRMaskSizeIPv6').int({ min: 1, max: 128 });
  if (maskV4 !== undefined) cfg.nodeCIDRMaskSize = maskV4;
  if (maskV6 !== undefined) cfg.nodeCIDRMaskSizeIPv6 = maskV6;
  cfg.clusterCIDRs.forEach((text, i) => {
    const v6 = text.includes(':');
    const mask = v6 ? cfg.nodeCIDRMaskSizeIPv6 : cfg.nodeCIDRMaskSize;
    const maskField = spec.get(v6 ? 'nodeCIDRMaskSizeIPv6' : 'nodeCIDRMaskSize');
    const prefix = Number(text.split('/')[1]);
    const hostBits = (v6 ? 128 : 32) - mask;
    if (mask < prefix)
      maskField.error(
        `${mask} is shorter than clusterCIDRs[${i}] (${text}): node subnets must fit inside it`,
      );
    else if (mask - prefix > 16)
      maskField.error(`${mask} is more than 16 bits longer than clusterCIDRs[${i}] (${text})`);
    else if (hostBits < 2) maskField.error(`${mask} leaves no pod addresses in a node subnet`);
  });

  const domain = checkedString(spec.get('clusterDomain'), dns1123Subdomain);
  if (domain !== undefined) cfg.clusterDomain = domain;

  const underlay: Placed[] = [];
  const u = spec.get('underlay');
  u.warnUnknown(['subnets', 'mtu', 'externalSubnet']);
  const subnets = readCidrList(u.get('subnets'), 0);
  if (subnets) {
    cfg.underlay.subnets = subnets.map((p) => p.cidr.text);
    underlay.push(...subnets);
  } else underlay.push(...placeDefaults('spec.underlay.subnets', cfg.underlay.subnets));
  const mtu = u.get('mtu').int({ min: 576, max: 65535 });
  if (mtu !== undefined) cfg.underlay.mtu = mtu;
  const external = readCidr(u.get('externalSubnet'));
  if (external) cfg.underlay.externalSubnet = external.text;

  const groups: Placed[][] = [
    cluster ?? placeDefaults('spec.clusterCIDRs', cfg.clusterCIDRs),
    service ?? placeDefaults('spec.serviceCIDRs', cfg.serviceCIDRs),
    ...underlay.map((p) => [p]),
    [{ field: 'spec.underlay.externalSubnet', cidr: external ?? readDefault(cfg.underlay.externalSubnet) }],
  ];
  checkOverlaps(spec, groups);

  readOverlay(spec.get('overlay'), cfg);
  const proxy = spec.get('proxy');
  if (proxy.mapping()) {
    const mode = proxy.get('mode').string();
    cfg.proxy = { ...(proxy.value as Record<string, unknown>), mode: mode ?? cfg.proxy.mode };
  }
  readDns(spec.get('dns'), cfg, service !== undefined);
  readNodePortRange(spec.get('serviceNodePortRange'), cfg);

  const addons = spec.get('addons');
  addons.warnUnknown(['dns', 'ingressController']);
  const dnsAddon = addons.get('dns').bool();
  if (dnsAddon !== undefined) cfg.addons.dns = dnsAddon;
  const ic = addons.get('ingressController');
  if (ic.present) {
    if (ic.value === 'auto' || typeof ic.value === 'boolean') cfg.addons.ingressController = ic.value;
    else ic.error(`must be auto, true or false, got ${JSON.stringify(ic.value)}`);
  }
  return cfg;
}

function familyList(fams: number[]): string {
  return fams.map((f) => `IPv${f}`).join('+') || 'empty';
}

function readDefault(text: string): Cidr {
  const [addr, prefix] = text.split('/');
  return { family: addr.includes(':') ? 6 : 4, network: ipToBigInt(addr), prefix: Number(prefix), text };
}

function placeDefaults(field: string, texts: string[]): Placed[] {
  return texts.map((t, i) => ({ field: `${field}[${i}]`, cidr: readDefault(t) }));
}

/** A list of CIDRs: 1 or 2 (one per family) unless `maxPerFamily` is 0 (any number). */
function readCidrList(f: Field, maxPerFamily = 1): Placed[] | undefined {
  if (!f.present) return undefined;
  const items = f.list();
  if (Array.isArray(f.value) && items.length === 0) {
    f.error('must list at least one CIDR');
    return undefined;
  }
  const out: Placed[] = [];
  for (const item of items) {
    const c = readCidr(item, true);
    if (!c) continue;
    if (maxPerFamily > 0 && out.some((p) => p.cidr.family === c.family)) {
      item.error(
        `a second IPv${c.family} CIDR: at most one per IP family (dual-stack is one IPv4 and one IPv6)`,
      );
      continue;
    }
    out.push({ field: item.path, cidr: c });
  }
  return out.length === items.length && out.length > 0 ? out : undefined;
}

function checkOverlaps(spec: Field, groups: Placed[][]): void {
  for (let g = 1; g < groups.length; g++) {
    for (const b of groups[g]) {
      for (let h = 0; h < g; h++) {
        for (const a of groups[h]) {
          if (cidrsOverlap(a.cidr, b.cidr)) {
            spec.scope.issues.error(
              { file: spec.scope.file, object: spec.scope.object, field: b.field },
              `${b.cidr.text} overlaps ${a.field} (${a.cidr.text})`,
            );
          }
        }
      }
    }
  }
}

function readOverlay(f: Field, cfg: ClusterNetworkConfig): void {
  if (!f.mapping()) return;
  const backend = f.get('backend').string() ?? 'vxlan';
  f.get('vni').int({ min: 0, max: 16777215 });
  f.get('port').int({ min: 1, max: 65535 });
  const given = f.value as Record<string, unknown>;
  cfg.overlay = backend === 'vxlan' ? { ...cfg.overlay, ...given, backend } : { ...given, backend };
}

function readDns(f: Field, cfg: ClusterNetworkConfig, serviceCidrsGiven: boolean): void {
  const first = cfg.serviceCIDRs[0];
  if (serviceCidrsGiven && cidrSize(first) > 10n) cfg.dns.serviceIP = nthAddress(first, 10);
  if (!f.mapping()) return;
  const known = ['serviceIP', 'ttl', 'pods', 'upstreams', 'staticHosts'];
  const given = f.value as Record<string, unknown>;
  for (const [k, v] of Object.entries(given)) if (!known.includes(k)) cfg.dns[k] = v;
  const ipField = f.get('serviceIP');
  const ip = readIp(ipField);
  if (ip !== undefined) {
    cfg.dns.serviceIP = ip;
    const inside = cfg.serviceCIDRs.find((c) => cidrContains(c, ip));
    if (!inside) ipField.error(`${ip} is not in the serviceCIDRs (${cfg.serviceCIDRs.join(', ')})`);
    else if (ip === nthAddress(inside, 0)) ipField.error(`${ip} is the network address of ${inside}`);
  }
  const ttl = f.get('ttl').int({ min: 0, max: 3600 });
  if (ttl !== undefined) cfg.dns.ttl = ttl;
  const pods = f.get('pods').oneOf(['insecure', 'verified', 'disabled'] as const);
  if (pods) cfg.dns.pods = pods;
  const upstreams = f.get('upstreams');
  if (upstreams.present) cfg.dns.upstreams = upstreams.list().flatMap((u) => readIp(u, true) ?? []);
  const hosts = f.get('staticHosts');
  if (hosts.present) {
    cfg.dns.staticHosts = {};
    for (const [name, addrs] of hosts.entries()) {
      cfg.dns.staticHosts[name.toLowerCase().replace(/\.$/, '')] = addrs
        .list(true)
        .flatMap((a) => readIp(a, true) ?? []);
    }
  }
}

function readNodePortRange(f: Field, cfg: ClusterNetworkConfig): void {
  const s = f.string();
  if (s === undefined) return;
  const m = /^(\d+)(?:-(\d+)|\+(\d+))$/.exec(s.trim());
  if (!m) {
    f.error(`invalid port range ${JSON.stringify(s)}: expected MIN-MAX, e.g. 30000-32767`);
    return;
  }
  const min = Number(m[1]);
  const max = m[2] !== undefined ? Number(m[2]) : min + Number(m[3]) - 1;
  if (min < 1 || max > 65535 || min > max) {
    f.error(`invalid port range ${JSON.stringify(s)}: must satisfy 1 <= MIN <= MAX <= 65535`);
    return;
  }
  cfg.serviceNodePortRange = { min, max };
}

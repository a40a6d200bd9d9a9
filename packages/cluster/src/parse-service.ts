/** v1 Service. Addresses given here are checked; missing ones are allocated later (allocate.ts). */
import { cidrContains, type IpFamily, ipFamily, type ServiceInfo, type ServicePortInfo } from '@podnet/core';
import type { ServiceDraft } from './drafts.js';
import type { Field } from './fields.js';
import type { ObjectContext } from './object-context.js';
import {
  checkedString,
  dns1123Label,
  dns1123Subdomain,
  portName,
  readCidr,
  readIp,
  readLabels,
} from './validation.js';

const TYPES = ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'] as const;
const PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;
const FAMILY_POLICIES = ['SingleStack', 'PreferDualStack', 'RequireDualStack'] as const;

export function parseService(ctx: ObjectContext): void {
  const { root, network } = ctx;
  const spec = root.get('spec');
  if (!spec.mapping(true)) return;
  const type = spec.get('type').oneOf(TYPES, 'ClusterIP');
  if (!type) return;
  const selectorField = spec.get('selector');
  const selectorMap = selectorField.present ? readLabels(selectorField) : undefined;
  const selector = selectorMap && Object.keys(selectorMap).length > 0 ? selectorMap : undefined;
  const ports = readServicePorts(spec.get('ports'), type, ctx);

  const clusterIPField = spec.get('clusterIP');
  const clusterIPsField = spec.get('clusterIPs');
  const single = clusterIPField.string();
  const listed = clusterIPsField.list();
  if (single !== undefined && listed.length > 0 && listed[0].value !== single) {
    listed[0].error(`must equal spec.clusterIP (${single})`);
  }
  const requested =
    listed.length > 0 ? listed : single !== undefined && single !== '' ? [clusterIPField] : [];
  const headless = requested[0]?.value === 'None';
  if (headless && type !== 'ClusterIP')
    clusterIPField.error(`None (headless) is only allowed for type ClusterIP, not ${type}`);

  const portsField = spec.get('ports');
  if (!headless && type !== 'ExternalName') {
    if (!portsField.present) portsField.error('required');
    else if (Array.isArray(portsField.value) && portsField.value.length === 0)
      portsField.error('must have at least one port');
  }

  const policy = spec.get('ipFamilyPolicy').oneOf(FAMILY_POLICIES, 'SingleStack') ?? 'SingleStack';
  const familiesField = spec.get('ipFamilies');
  const givenFamilies: IpFamily[] = [];
  familiesField.list().forEach((f) => {
    const fam = f.oneOf(['IPv4', 'IPv6'] as const);
    if (!fam) return;
    const n: IpFamily = fam === 'IPv4' ? 4 : 6;
    if (givenFamilies.includes(n)) f.error(`duplicate IP family ${fam}`);
    else if (!network.ipFamilies.includes(n))
      f.error(
        `${fam} is not one of the cluster's IP families (clusterCIDRs ${network.clusterCIDRs.join(', ')})`,
      );
    else givenFamilies.push(n);
  });
  if (policy === 'SingleStack' && givenFamilies.length > 1)
    familiesField.error('must list one family when ipFamilyPolicy is SingleStack');
  if (policy === 'RequireDualStack' && network.ipFamilies.length < 2) {
    spec
      .get('ipFamilyPolicy')
      .error('RequireDualStack needs a dual-stack cluster (one IPv4 and one IPv6 clusterCIDR)');
  }

  const clusterIPs: string[] = [];
  if (!headless && type !== 'ExternalName') {
    requested.forEach((f) => {
      const ip = readIp(f, true);
      if (ip === undefined) return;
      const fam = ipFamily(ip);
      if (clusterIPs.some((x) => ipFamily(x) === fam))
        f.error(`a second IPv${fam} address: at most one per IP family`);
      else if (!network.serviceCIDRs.some((c) => cidrContains(c, ip))) {
        f.error(`${ip} is not in the serviceCIDRs (${network.serviceCIDRs.join(', ')})`);
      } else clusterIPs.push(ip);
    });
  }
  let families: IpFamily[];
  if (givenFamilies.length > 0) families = [...givenFamilies];
  else if (clusterIPs.length > 0) families = clusterIPs.map(ipFamily);
  else families = [network.ipFamilies[0]];
  if (policy !== 'SingleStack')
    for (const f of network.ipFamilies) if (!families.includes(f)) families.push(f);
  if (policy === 'SingleStack') families = families.slice(0, 1);
  clusterIPs.forEach((ip, i) => {
    if (families[i] !== ipFamily(ip))
      requested[i].error(`${ip} is IPv${ipFamily(ip)} but spec.ipFamilies[${i}] is IPv${families[i]}`);
  });

  let externalName: string | undefined;
  if (type === 'ExternalName') {
    const f = spec.get('externalName');
    const s = f.string(true);
    if (s !== undefined) {
      const problem = dns1123Subdomain(s.replace(/\.$/, '').toLowerCase());
      if (problem) f.error(problem);
      else externalName = s.replace(/\.$/, '');
    }
  }
  const externalIPs = spec
    .get('externalIPs')
    .list()
    .flatMap((f) => readIp(f, true) ?? []);
  const loadBalancerIPs: string[] = [];
  const lbIP = readIp(spec.get('loadBalancerIP'));
  if (lbIP) loadBalancerIPs.push(lbIP);
  for (const ing of root.get('status').get('loadBalancer').get('ingress').list()) {
    const ip = readIp(ing.get('ip'));
    if (ip && !loadBalancerIPs.includes(ip)) loadBalancerIPs.push(ip);
  }
  const sourceRanges = spec
    .get('loadBalancerSourceRanges')
    .list()
    .flatMap((f) => readCidr(f, true)?.text ?? []);
  const etpField = spec.get('externalTrafficPolicy');
  let etp = etpField.oneOf(['Cluster', 'Local'] as const, 'Cluster') ?? 'Cluster';
  if (etp === 'Local' && type !== 'NodePort' && type !== 'LoadBalancer' && externalIPs.length === 0) {
    etpField.warn('ignored: only applies to NodePort and LoadBalancer services or services with externalIPs');
    etp = 'Cluster';
  }
  const itp = spec.get('internalTrafficPolicy').oneOf(['Cluster', 'Local'] as const, 'Cluster') ?? 'Cluster';
  const affinity = spec.get('sessionAffinity').oneOf(['None', 'ClientIP'] as const, 'None') ?? 'None';
  const timeout =
    spec.get('sessionAffinityConfig').get('clientIP').get('timeoutSeconds').int({ min: 1, max: 86400 }) ??
    10800;
  const hcField = spec.get('healthCheckNodePort');
  const hc = hcField.int({ min: 1, max: 65535 });
  if (hc !== undefined && !(type === 'LoadBalancer' && etp === 'Local')) {
    hcField.error('may only be set for type LoadBalancer with externalTrafficPolicy Local');
  }

  const info: ServiceInfo = {
    namespace: ctx.namespace,
    name: ctx.name,
    type,
    clusterIPs,
    headless,
    ipFamilies: type === 'ExternalName' ? [] : families,
    ports,
    externalIPs,
    loadBalancerIPs,
    loadBalancerSourceRanges: sourceRanges,
    externalTrafficPolicy: etp,
    internalTrafficPolicy: itp,
    sessionAffinity: affinity,
    sessionAffinityTimeoutSeconds: timeout,
    publishNotReadyAddresses: spec.get('publishNotReadyAddresses').bool() ?? false,
    labels: ctx.labels,
    annotations: ctx.annotations,
  };
  if (selector && type !== 'ExternalName') info.selector = selector;
  if (externalName) info.externalName = externalName;
  if (hc !== undefined) info.healthCheckNodePort = hc;
  const draft: ServiceDraft = {
    source: ctx.source,
    info,
    ipFamilyPolicy: policy,
    allocateLoadBalancerNodePorts: spec.get('allocateLoadBalancerNodePorts').bool() ?? true,
  };
  ctx.drafts.services.push(draft);
}

function readServicePorts(f: Field, type: ServiceInfo['type'], ctx: ObjectContext): ServicePortInfo[] {
  const items = f.list();
  const out: ServicePortInfo[] = [];
  const names = new Map<string, string>();
  const seen = new Map<string, string>();
  const range = ctx.network.serviceNodePortRange;
  for (const p of items) {
    if (!p.mapping(true)) continue;
    const nameField = p.get('name');
    const name = checkedString(nameField, dns1123Label) ?? '';
    if (items.length > 1 && !nameField.present)
      nameField.error('required when the Service has more than one port');
    if (name !== '') {
      const prev = names.get(name);
      if (prev) nameField.error(`duplicate port name ${JSON.stringify(name)} (also ${prev})`);
      names.set(name, nameField.path);
    }
    const protocol = p.get('protocol').oneOf(PROTOCOLS, 'TCP');
    const portField = p.get('port');
    const port = portField.int({ required: true, min: 1, max: 65535 });
    if (port !== undefined && protocol !== undefined) {
      const key = `${port}/${protocol}`;
      const prev = seen.get(key);
      if (prev) portField.error(`duplicate port ${key} (also ${prev})`);
      seen.set(key, portField.path);
    }
    const targetPort = readTargetPort(p.get('targetPort'));
    const npField = p.get('nodePort');
    const nodePort = npField.int({ min: 1, max: 65535 });
    if (nodePort !== undefined) {
      if (type !== 'NodePort' && type !== 'LoadBalancer')
        npField.error(`may only be set for type NodePort or LoadBalancer, not ${type}`);
      else if (nodePort < range.min || nodePort > range.max) {
        npField.error(`${nodePort} is outside serviceNodePortRange ${range.min}-${range.max}`);
      }
    }
    const appProtocol = p.get('appProtocol').string();
    if (port === undefined || protocol === undefined || targetPort === null) continue;
    const sp: ServicePortInfo = { name, protocol, port, targetPort: targetPort ?? port };
    if (nodePort !== undefined) sp.nodePort = nodePort;
    if (appProtocol !== undefined) sp.appProtocol = appProtocol;
    out.push(sp);
  }
  return out;
}

/** IntOrString: a port number or a named container port; null after an error. */
function readTargetPort(f: Field): number | string | undefined | null {
  if (!f.present) return undefined;
  if (typeof f.value === 'number') return f.int({ min: 1, max: 65535 }) ?? null;
  if (typeof f.value === 'string') {
    const problem = portName(f.value);
    if (problem) {
      f.error(/^\d+$/.test(f.value) ? `${problem} (write a port number without quotes)` : problem);
      return null;
    }
    return f.value;
  }
  f.error(`must be a port number or a port name, got ${f.value === null ? 'null' : typeof f.value}`);
  return null;
}

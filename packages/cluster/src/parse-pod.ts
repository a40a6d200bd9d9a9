/** v1 Pod and the pod template of workloads. */
import {
  cidrContains,
  type ContainerInfo,
  type ContainerPortInfo,
  ipFamily,
  type PodDnsConfig,
  type PodInfo,
} from '@podnet/core';
import type { PodSpecDraft, PodTemplateDraft } from './drafts.js';
import type { Field } from './fields.js';
import { deterministicUid } from './names.js';
import { type ObjectContext, READY_ANNOTATION } from './object-context.js';
import {
  checkedString,
  dns1123Label,
  dns1123Subdomain,
  portName,
  readAnnotations,
  readIp,
  readLabels,
} from './validation.js';

const PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;
const DNS_POLICIES = ['ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None'] as const;

export function readPodSpec(spec: Field): PodSpecDraft | undefined {
  if (!spec.mapping(true)) return undefined;
  const containers: ContainerInfo[] = [];
  const containersField = spec.get('containers');
  const items = containersField.list(true);
  if (Array.isArray(containersField.value) && items.length === 0)
    containersField.error('must have at least one container');
  const containerNames = new Map<string, string>();
  const portNames = new Map<string, string>();
  for (const c of items) {
    if (!c.mapping(true)) continue;
    const nameField = c.get('name');
    const name = checkedString(nameField, dns1123Label, true);
    if (name !== undefined) {
      const prev = containerNames.get(name);
      if (prev) nameField.error(`duplicate container name ${JSON.stringify(name)} (also ${prev})`);
      containerNames.set(name, nameField.path);
    }
    const ports: ContainerPortInfo[] = [];
    for (const p of c.get('ports').list()) {
      if (!p.mapping(true)) continue;
      const containerPort = p.get('containerPort').int({ required: true, min: 1, max: 65535 });
      const protocol = p.get('protocol').oneOf(PROTOCOLS, 'TCP');
      const pnField = p.get('name');
      const pn = checkedString(pnField, portName);
      if (pn !== undefined) {
        const prev = portNames.get(pn);
        if (prev) pnField.error(`duplicate port name ${JSON.stringify(pn)} (also ${prev})`);
        portNames.set(pn, pnField.path);
      }
      const hostPort = p.get('hostPort').int({ min: 1, max: 65535 });
      if (containerPort === undefined || protocol === undefined) continue;
      const port: ContainerPortInfo = { containerPort, protocol };
      if (pn !== undefined) port.name = pn;
      if (hostPort !== undefined) port.hostPort = hostPort;
      ports.push(port);
    }
    const container: ContainerInfo = { name: name ?? '', ports };
    const image = c.get('image').string();
    if (image !== undefined) container.image = image;
    if (c.get('command').present) container.command = c.get('command').stringList();
    if (c.get('args').present) container.args = c.get('args').stringList();
    containers.push(container);
  }
  const draft: PodSpecDraft = {
    containers,
    hostNetwork: spec.get('hostNetwork').bool() ?? false,
    dnsPolicy: spec.get('dnsPolicy').oneOf(DNS_POLICIES, 'ClusterFirst') ?? 'ClusterFirst',
    nodeSelector: readLabels(spec.get('nodeSelector')),
  };
  const dnsConfig = readDnsConfig(spec.get('dnsConfig'));
  if (dnsConfig) draft.dnsConfig = dnsConfig;
  else if (draft.dnsPolicy === 'None') spec.get('dnsConfig').error('required when dnsPolicy is None');
  const nodeName = checkedString(spec.get('nodeName'), dns1123Subdomain);
  if (nodeName) draft.nodeName = nodeName;
  const hostname = checkedString(spec.get('hostname'), dns1123Label);
  if (hostname) draft.hostname = hostname;
  const subdomain = checkedString(spec.get('subdomain'), dns1123Label);
  if (subdomain) draft.subdomain = subdomain;
  return draft;
}

function readDnsConfig(f: Field): PodDnsConfig | undefined {
  if (!f.mapping()) return undefined;
  const ns = f.get('nameservers');
  const nameservers = ns.list().flatMap((n) => readIp(n, true) ?? []);
  if (nameservers.length > 3) ns.error(`at most 3 nameservers, got ${nameservers.length}`);
  const searchField = f.get('searches');
  const searches = searchField.stringList();
  if (searches.length > 32) searchField.error(`at most 32 search domains, got ${searches.length}`);
  const options: PodDnsConfig['options'] = [];
  for (const o of f.get('options').list()) {
    const name = o.get('name').string(true);
    const value = o.get('value').string();
    if (name !== undefined) options.push(value === undefined ? { name } : { name, value });
  }
  return { nameservers, searches, options };
}

/** `podnet.dev/ready` read from annotations: true, false, or undefined when absent. */
export function readReadyAnnotation(
  annotations: Record<string, string>,
  metadata: Field,
): boolean | undefined {
  const v = annotations[READY_ANNOTATION];
  if (v === undefined) return undefined;
  if (v === 'true' || v === 'false') return v === 'true';
  metadata
    .get('annotations')
    .key(READY_ANNOTATION)
    .error(`must be "true" or "false", got ${JSON.stringify(v)}`);
  return undefined;
}

export function readPodTemplate(template: Field): PodTemplateDraft | undefined {
  if (!template.mapping(true)) return undefined;
  const meta = template.get('metadata');
  const labels = readLabels(meta.get('labels'));
  const annotations = readAnnotations(meta.get('annotations'));
  readReadyAnnotation(annotations, meta);
  const spec = readPodSpec(template.get('spec'));
  if (!spec) return undefined;
  return { labels, annotations, spec, raw: template.value };
}

export function parsePod(ctx: ObjectContext): void {
  const { root, network } = ctx;
  const spec = readPodSpec(root.get('spec'));
  if (!spec) return;
  const status = root.get('status');
  const phase =
    status.get('phase').oneOf(['Pending', 'Running', 'Succeeded', 'Failed'] as const, 'Running') ?? 'Running';
  const ips: string[] = [];
  const podIP = status.get('podIP');
  const given = readIp(podIP);
  const ipsField = status.get('podIPs');
  const listed = ipsField.list().map((e) => ({ field: e.get('ip'), ip: readIp(e.get('ip'), true) }));
  if (given !== undefined && listed.length > 0 && listed[0].ip !== undefined && listed[0].ip !== given) {
    ipsField.list()[0].get('ip').error(`must equal status.podIP (${given})`);
  }
  const candidates = listed.length > 0 ? listed : given !== undefined ? [{ field: podIP, ip: given }] : [];
  for (const { field, ip } of candidates) {
    if (ip === undefined) continue;
    if (spec.hostNetwork) {
      field.warn('ignored: hostNetwork pods have the node addresses');
      continue;
    }
    const fam = ipFamily(ip);
    if (ips.some((x) => ipFamily(x) === fam))
      field.error(`a second IPv${fam} address: at most one per IP family`);
    else if (!network.clusterCIDRs.some((c) => cidrContains(c, ip))) {
      field.error(`${ip} is not in the clusterCIDRs (${network.clusterCIDRs.join(', ')})`);
    } else ips.push(ip);
  }
  let readyCondition: boolean | undefined;
  for (const c of status.get('conditions').list()) {
    const type = c.get('type').string(true);
    const st = c.get('status').oneOf(['True', 'False', 'Unknown'] as const);
    if (type === 'Ready' && st !== undefined) readyCondition = st === 'True';
  }
  const readyAnnotation = readReadyAnnotation(ctx.annotations, root.get('metadata'));
  const terminating = root.get('metadata').get('deletionTimestamp').present;
  const pod = {
    source: ctx.source,
    specPath: 'spec',
    namespace: ctx.namespace,
    name: ctx.name,
    uid: ctx.uid ?? deterministicUid('Pod', ctx.namespace, ctx.name),
    labels: ctx.labels,
    annotations: ctx.annotations,
    spec,
    ips,
    ipsPath: listed.length > 0 ? 'status.podIPs' : 'status.podIP',
    phase: phase as PodInfo['phase'],
    ready: phase === 'Running' && (readyAnnotation ?? readyCondition ?? true),
    terminating,
  };
  ctx.drafts.pods.push(pod);
}

/**
 * The EndpointSlice controller: for each Service with a selector, one slice per address family and
 * per set of resolved ports (named target ports resolve per pod), at most 100 endpoints each, named
 * `<service>-<5 char suffix>`. Services without a selector keep the slices the manifests give.
 */
import {
  type EndpointInfo,
  type EndpointPortInfo,
  type EndpointSliceInfo,
  type IpFamily,
  ipFamily,
  labelSelector,
  type NodeInfo,
  objectKey,
  type PodInfo,
  type ServiceInfo,
  type ServicePortInfo,
  selectorMatches,
  sortBy,
  compareIps,
} from '@podnet/core';
import { type EndpointSliceDraft, familyName, type ServiceDraft } from './drafts.js';
import type { Issues } from './issues.js';
import { canonicalJson, generateNames } from './names.js';

/** Kubernetes' maxEndpointsPerSlice default. */
export const MAX_ENDPOINTS_PER_SLICE = 100;
export const ZONE_LABEL = 'topology.kubernetes.io/zone';

/** The container port a service port reaches on this pod; undefined when the pod has no such named port. */
export function resolveTargetPort(pod: PodInfo, port: ServicePortInfo): number | undefined {
  if (typeof port.targetPort === 'number') return port.targetPort;
  for (const c of pod.containers) {
    for (const p of c.ports)
      if (p.name === port.targetPort && p.protocol === port.protocol) return p.containerPort;
  }
  return undefined;
}

/** Pods a Service's selector picks: same namespace, labels match, not finished, with an address. */
export function selectedPods(svc: ServiceInfo, pods: readonly PodInfo[]): PodInfo[] {
  if (!svc.selector) return [];
  const sel = labelSelector(svc.selector);
  return pods.filter(
    (p) =>
      p.namespace === svc.namespace &&
      selectorMatches(sel, p.labels) &&
      p.phase !== 'Succeeded' &&
      p.phase !== 'Failed' &&
      p.ips.length > 0,
  );
}

function toEndpoint(
  svc: ServiceInfo,
  pod: PodInfo,
  address: string,
  nodes: ReadonlyMap<string, NodeInfo>,
): EndpointInfo {
  const ep: EndpointInfo = {
    addresses: [address],
    ready: svc.publishNotReadyAddresses || (pod.ready && !pod.terminating),
    serving: pod.ready,
    terminating: pod.terminating,
    nodeName: pod.node,
    targetRef: { kind: 'Pod', namespace: pod.namespace, name: pod.name },
  };
  if (pod.hostname && pod.subdomain === svc.name) ep.hostname = pod.hostname;
  const zone = nodes.get(pod.node)?.labels[ZONE_LABEL];
  if (zone) ep.zone = zone;
  return ep;
}

function sliceGroups(
  svc: ServiceInfo,
  pods: PodInfo[],
  family: IpFamily,
  nodes: ReadonlyMap<string, NodeInfo>,
) {
  const groups = new Map<string, { ports: EndpointPortInfo[]; endpoints: EndpointInfo[] }>();
  for (const pod of sortBy(pods, objectKey)) {
    const address = pod.ips.find((ip) => ipFamily(ip) === family);
    if (address === undefined) continue;
    const ports: EndpointPortInfo[] = [];
    for (const sp of svc.ports) {
      const port = resolveTargetPort(pod, sp);
      if (port === undefined) continue;
      const ep: EndpointPortInfo = { name: sp.name, port, protocol: sp.protocol };
      if (sp.appProtocol !== undefined) ep.appProtocol = sp.appProtocol;
      ports.push(ep);
    }
    const key = canonicalJson(ports);
    let g = groups.get(key);
    if (!g) {
      g = { ports, endpoints: [] };
      groups.set(key, g);
    }
    g.endpoints.push(toEndpoint(svc, pod, address, nodes));
  }
  return [...groups.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, g]) => ({ key, ...g }));
}

export function buildEndpointSlices(
  services: readonly ServiceDraft[],
  pods: readonly PodInfo[],
  nodes: readonly NodeInfo[],
  given: readonly EndpointSliceDraft[],
  issues: Issues,
): EndpointSliceInfo[] {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const svcByKey = new Map(services.map((s) => [objectKey(s.info), s]));
  const out: EndpointSliceInfo[] = [];
  const takenNames = new Set<string>();
  for (const g of given) {
    const svc = svcByKey.get(`${g.info.namespace}/${g.info.serviceName}`);
    if (svc?.info.selector) {
      issues.warnAt(
        g.source,
        'metadata.labels[kubernetes.io/service-name]',
        `ignored: Service ${objectKey(svc.info)} has a selector, so the EndpointSlice controller manages its endpoints`,
      );
      continue;
    }
    if (!svc)
      issues.warnAt(
        g.source,
        'metadata.labels[kubernetes.io/service-name]',
        `Service ${g.info.namespace}/${g.info.serviceName} not found`,
      );
    takenNames.add(objectKey(g.info));
    out.push(g.info);
  }
  for (const s of sortBy(services, (x) => objectKey(x.info))) {
    const svc = s.info;
    if (!svc.selector || svc.type === 'ExternalName') continue;
    const selected = selectedPods(svc, pods);
    if (selected.length === 0)
      issues.warnAt(s.source, 'spec.selector', 'selects no pods: the Service has no endpoints');
    svc.ports.forEach((sp, i) => {
      if (typeof sp.targetPort !== 'string' || selected.length === 0) return;
      if (!selected.some((p) => resolveTargetPort(p, sp) !== undefined)) {
        issues.warnAt(
          s.source,
          `spec.ports[${i}].targetPort`,
          `no selected pod declares a ${sp.protocol} container port named ${JSON.stringify(sp.targetPort)}`,
        );
      }
    });
    const made: Omit<EndpointSliceInfo, 'name'>[] = [];
    const seeds: string[] = [];
    for (const family of svc.ipFamilies) {
      for (const g of sliceGroups(svc, selected, family, byName)) {
        const endpoints = [...g.endpoints].sort((a, b) => compareIps(a.addresses[0], b.addresses[0]));
        for (let i = 0; i < endpoints.length; i += MAX_ENDPOINTS_PER_SLICE) {
          seeds.push(`${objectKey(svc)}/${family}/${g.key}/${i}`);
          made.push({
            namespace: svc.namespace,
            serviceName: svc.name,
            addressType: familyName(family),
            ports: g.ports,
            endpoints: endpoints.slice(i, i + MAX_ENDPOINTS_PER_SLICE),
          });
        }
      }
    }
    if (made.length === 0) {
      seeds.push(`${objectKey(svc)}/placeholder`);
      made.push({
        namespace: svc.namespace,
        serviceName: svc.name,
        addressType: familyName(svc.ipFamilies[0] ?? 4),
        ports: [],
        endpoints: [],
      });
    }
    const taken = new Set(
      [...takenNames]
        .filter((k) => k.startsWith(`${svc.namespace}/`))
        .map((k) => k.slice(svc.namespace.length + 1)),
    );
    const names = generateNames(`${svc.name}-`, seeds, taken);
    made.forEach((m, i) => {
      takenNames.add(`${svc.namespace}/${names[i]}`);
      out.push({ ...m, name: names[i] });
    });
  }
  return sortBy(out, objectKey);
}

/** Warnings for references that lead nowhere: Ingress backends and classes, pod subdomains. */
import type { IngressBackendInfo, ServiceInfo } from '@podnet/core';
import type { Drafts } from './drafts.js';
import type { Issues, Source } from './issues.js';

function checkBackend(
  b: IngressBackendInfo,
  namespace: string,
  field: string,
  source: Source,
  services: ReadonlyMap<string, ServiceInfo>,
  issues: Issues,
): void {
  if (!b.service) return;
  const svc = services.get(`${namespace}/${b.service.name}`);
  if (!svc) {
    issues.warnAt(source, `${field}.service.name`, `Service ${namespace}/${b.service.name} not found`);
    return;
  }
  const { number, name } = b.service.port;
  if (number !== undefined && !svc.ports.some((p) => p.port === number)) {
    issues.warnAt(
      source,
      `${field}.service.port.number`,
      `Service ${namespace}/${svc.name} has no port ${number}`,
    );
  }
  if (name !== undefined && !svc.ports.some((p) => p.name === name)) {
    issues.warnAt(
      source,
      `${field}.service.port.name`,
      `Service ${namespace}/${svc.name} has no port named ${JSON.stringify(name)}`,
    );
  }
}

export function checkReferences(drafts: Drafts, dnsServiceIP: string, issues: Issues): void {
  const services = new Map(drafts.services.map((s) => [`${s.info.namespace}/${s.info.name}`, s.info]));
  const classes = new Set(drafts.ingressClasses.map((c) => c.info.name));
  for (const { source, info } of drafts.ingresses) {
    if (info.ingressClassName && !classes.has(info.ingressClassName)) {
      issues.warnAt(source, 'spec.ingressClassName', `IngressClass ${info.ingressClassName} not found`);
    }
    if (info.defaultBackend)
      checkBackend(info.defaultBackend, info.namespace, 'spec.defaultBackend', source, services, issues);
    for (const [i, r] of info.rules.entries()) {
      for (const [j, p] of r.paths.entries()) {
        checkBackend(
          p.backend,
          info.namespace,
          `spec.rules[${i}].http.paths[${j}].backend`,
          source,
          services,
          issues,
        );
      }
    }
  }
  const dns = drafts.services.find((s) => s.info.namespace === 'kube-system' && s.info.name === 'kube-dns');
  if (dns && dns.info.clusterIPs.length > 0 && !dns.info.clusterIPs.includes(dnsServiceIP)) {
    issues.warnAt(
      dns.source,
      'spec.clusterIP',
      `pods resolve through dns.serviceIP ${dnsServiceIP}, not ${dns.info.clusterIPs[0]}`,
    );
  }
}

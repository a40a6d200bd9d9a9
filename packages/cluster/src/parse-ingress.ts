/** networking.k8s.io/v1 Ingress and IngressClass. */
import type { IngressBackendInfo, IngressInfo, IngressPathInfo } from '@podnet/core';
import type { Field } from './fields.js';
import type { ObjectContext } from './object-context.js';
import { checkedString, dns1035Label, dns1123Subdomain, portName } from './validation.js';

const PATH_TYPES = ['Exact', 'Prefix', 'ImplementationSpecific'] as const;
export const DEFAULT_CLASS_ANNOTATION = 'ingressclass.kubernetes.io/is-default-class';

function readHost(f: Field): string | undefined {
  const s = f.string();
  if (s === undefined) return undefined;
  const bare = s.startsWith('*.') ? s.slice(2) : s;
  if (/^[\d.]+$/.test(bare) || bare.includes(':'))
    return f.error(`must be a DNS name, not an IP address: ${JSON.stringify(s)}`);
  const problem = dns1123Subdomain(bare);
  return problem ? f.error(problem.replace('invalid name', 'invalid host')) : s;
}

function readBackend(f: Field): IngressBackendInfo | undefined {
  if (!f.mapping(true)) return undefined;
  const svc = f.get('service');
  const res = f.get('resource');
  if (svc.present && res.present) return f.error('must set exactly one of service and resource');
  if (res.present) {
    const kind = res.get('kind').string(true);
    const name = res.get('name').string(true);
    const apiGroup = res.get('apiGroup').string();
    if (!kind || !name) return undefined;
    return { resource: apiGroup === undefined ? { kind, name } : { apiGroup, kind, name } };
  }
  if (!svc.mapping(true)) return undefined;
  const name = checkedString(svc.get('name'), dns1035Label, true);
  const port = svc.get('port');
  if (!port.mapping(true)) return undefined;
  const number = port.get('number').int({ min: 1, max: 65535 });
  const pname = checkedString(port.get('name'), portName);
  if (port.get('number').present === port.get('name').present) {
    port.error('must set exactly one of number and name');
    return undefined;
  }
  if (!name || (number === undefined && pname === undefined)) return undefined;
  return { service: { name, port: number !== undefined ? { number } : { name: pname } } };
}

export function parseIngress(ctx: ObjectContext): void {
  const spec = ctx.root.get('spec');
  if (!spec.mapping(true)) return;
  const info: IngressInfo = {
    namespace: ctx.namespace,
    name: ctx.name,
    tls: [],
    rules: [],
    annotations: ctx.annotations,
  };
  const cls = checkedString(spec.get('ingressClassName'), dns1123Subdomain);
  if (cls) info.ingressClassName = cls;
  if (spec.get('defaultBackend').present) {
    const b = readBackend(spec.get('defaultBackend'));
    if (b) info.defaultBackend = b;
  }
  for (const t of spec.get('tls').list()) {
    const hosts = t
      .get('hosts')
      .list()
      .flatMap((h) => readHost(h) ?? []);
    const secretName = checkedString(t.get('secretName'), dns1123Subdomain);
    info.tls.push(secretName ? { hosts, secretName } : { hosts });
  }
  for (const r of spec.get('rules').list()) {
    const host = readHost(r.get('host'));
    const paths: IngressPathInfo[] = [];
    const http = r.get('http');
    const pathItems = http.present ? http.get('paths').list(true) : [];
    for (const p of pathItems) {
      const pathType = p.get('pathType').oneOf(PATH_TYPES);
      if (!p.get('pathType').present)
        p.get('pathType').error('required (Exact, Prefix or ImplementationSpecific)');
      const pathField = p.get('path');
      const path = pathField.string() ?? '/';
      if (pathType !== 'ImplementationSpecific' && !path.startsWith('/'))
        pathField.error(`must be an absolute path, got ${JSON.stringify(path)}`);
      const backend = readBackend(p.get('backend'));
      if (pathType && backend) paths.push({ path, pathType, backend });
    }
    info.rules.push(host !== undefined ? { host, paths } : { paths });
  }
  if (!info.defaultBackend && info.rules.length === 0)
    spec.error('must set defaultBackend or at least one rule');
  ctx.drafts.ingresses.push({ source: ctx.source, info });
}

export function parseIngressClass(ctx: ObjectContext): void {
  const controller = ctx.root.get('spec').get('controller').string(true);
  if (controller === undefined) return;
  const flag = ctx.annotations[DEFAULT_CLASS_ANNOTATION];
  if (flag !== undefined && flag !== 'true' && flag !== 'false') {
    ctx.root
      .get('metadata')
      .get('annotations')
      .key(DEFAULT_CLASS_ANNOTATION)
      .error(`must be "true" or "false", got ${JSON.stringify(flag)}`);
  }
  ctx.drafts.ingressClasses.push({
    source: ctx.source,
    info: { name: ctx.name, controller, isDefault: flag === 'true' },
  });
}

/** discovery.k8s.io/v1 EndpointSlice, for Services without a selector (endpoints managed by hand). */
import { type EndpointInfo, type EndpointPortInfo, ipFamily } from '@podnet/core';
import type { ObjectContext } from './object-context.js';
import { checkedString, dns1123Label, dns1123Subdomain, portName, readIp } from './validation.js';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export function parseEndpointSlice(ctx: ObjectContext): void {
  const { root } = ctx;
  const addressType = root.get('addressType').oneOf(['IPv4', 'IPv6', 'FQDN'] as const);
  if (!root.get('addressType').present) root.get('addressType').error('required');
  const serviceName = ctx.labels[SERVICE_NAME_LABEL];
  if (serviceName === undefined) {
    root
      .get('metadata')
      .get('labels')
      .warn(`no ${SERVICE_NAME_LABEL} label: the slice belongs to no Service and is ignored`);
  }
  const ports: EndpointPortInfo[] = [];
  for (const p of root.get('ports').list()) {
    const name = checkedString(p.get('name'), portName) ?? '';
    const port = p.get('port').int({ required: true, min: 1, max: 65535 });
    const protocol = p.get('protocol').oneOf(['TCP', 'UDP', 'SCTP'] as const, 'TCP');
    const appProtocol = p.get('appProtocol').string();
    if (port === undefined || protocol === undefined) continue;
    const ep: EndpointPortInfo = { name, port, protocol };
    if (appProtocol !== undefined) ep.appProtocol = appProtocol;
    ports.push(ep);
  }
  const endpoints: EndpointInfo[] = [];
  for (const e of root.get('endpoints').list()) {
    const addrField = e.get('addresses');
    const addrs = addrField.list(true);
    if (Array.isArray(addrField.value) && addrs.length === 0)
      addrField.error('must have at least one address');
    const addresses: string[] = [];
    for (const a of addrs) {
      if (addressType === 'FQDN') {
        const s = checkedString(a, dns1123Subdomain, true);
        if (s !== undefined) addresses.push(s);
        continue;
      }
      const ip = readIp(a, true);
      if (ip === undefined) continue;
      if (addressType && `IPv${ipFamily(ip)}` !== addressType)
        a.error(`${ip} is not an ${addressType} address (addressType)`);
      else addresses.push(ip);
    }
    const cond = e.get('conditions');
    const ready = cond.get('ready').bool() ?? true;
    const info: EndpointInfo = {
      addresses,
      ready,
      serving: cond.get('serving').bool() ?? ready,
      terminating: cond.get('terminating').bool() ?? false,
    };
    const hostname = checkedString(e.get('hostname'), dns1123Label);
    if (hostname) info.hostname = hostname;
    const nodeName = checkedString(e.get('nodeName'), dns1123Subdomain);
    if (nodeName) info.nodeName = nodeName;
    const zone = e.get('zone').string();
    if (zone) info.zone = zone;
    const ref = e.get('targetRef');
    if (ref.mapping()) {
      const kind = ref.get('kind').string(true);
      const name = ref.get('name').string(true);
      if (kind && name)
        info.targetRef = { kind, namespace: ref.get('namespace').string() ?? ctx.namespace, name };
    }
    endpoints.push(info);
  }
  if (!addressType || serviceName === undefined) return;
  ctx.drafts.endpointSlices.push({
    source: ctx.source,
    info: { namespace: ctx.namespace, name: ctx.name, serviceName, addressType, ports, endpoints },
  });
}

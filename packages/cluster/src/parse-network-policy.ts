/** networking.k8s.io/v1 NetworkPolicy. */
import {
  cidrContains,
  type NetworkPolicyPeer,
  type NetworkPolicyPort,
  type NetworkPolicyRule,
} from '@podnet/core';
import type { Field } from './fields.js';
import type { ObjectContext } from './object-context.js';
import { portName, readCidr, readLabelSelector } from './validation.js';

export function parseNetworkPolicy(ctx: ObjectContext): void {
  const spec = ctx.root.get('spec');
  if (!spec.mapping(true)) return;
  const podSelector = readLabelSelector(spec.get('podSelector'));
  const ingress = spec
    .get('ingress')
    .list()
    .map((r) => readRule(r, 'from'));
  const egress = spec
    .get('egress')
    .list()
    .map((r) => readRule(r, 'to'));
  const typesField = spec.get('policyTypes');
  let policyTypes: ('Ingress' | 'Egress')[] = [];
  if (typesField.present) {
    for (const t of typesField.list()) {
      const v = t.oneOf(['Ingress', 'Egress'] as const);
      if (v && !policyTypes.includes(v)) policyTypes.push(v);
    }
  } else {
    policyTypes = ['Ingress'];
    if (spec.get('egress').present) policyTypes.push('Egress');
  }
  ctx.drafts.networkPolicies.push({
    source: ctx.source,
    info: { namespace: ctx.namespace, name: ctx.name, podSelector, policyTypes, ingress, egress },
  });
}

function readRule(r: Field, peersKey: 'from' | 'to'): NetworkPolicyRule {
  const peers: NetworkPolicyPeer[] = [];
  for (const p of r.get(peersKey).list()) {
    if (!p.mapping(true)) continue;
    const peer: NetworkPolicyPeer = {};
    const ipBlock = p.get('ipBlock');
    if (p.get('podSelector').present) peer.podSelector = readLabelSelector(p.get('podSelector'));
    if (p.get('namespaceSelector').present)
      peer.namespaceSelector = readLabelSelector(p.get('namespaceSelector'));
    if (ipBlock.present) {
      if (peer.podSelector || peer.namespaceSelector) {
        ipBlock.error('may not be combined with podSelector or namespaceSelector in one peer');
        continue;
      }
      const cidr = readCidr(ipBlock.get('cidr'), true);
      const except: string[] = [];
      for (const e of ipBlock.get('except').list()) {
        const c = readCidr(e, true);
        if (!c || !cidr) continue;
        if (
          c.family !== cidr.family ||
          c.prefix <= cidr.prefix ||
          !cidrContains(cidr, c.text.split('/')[0])
        ) {
          e.error(`${c.text} must be a strict subset of ipBlock.cidr ${cidr.text}`);
        } else except.push(c.text);
      }
      if (cidr) peer.ipBlock = { cidr: cidr.text, except };
    }
    if (!ipBlock.present && !peer.podSelector && !peer.namespaceSelector) {
      p.error('must set at least one of podSelector, namespaceSelector and ipBlock');
      continue;
    }
    peers.push(peer);
  }
  const ports: NetworkPolicyPort[] = [];
  for (const p of r.get('ports').list()) {
    const protocol = p.get('protocol').oneOf(['TCP', 'UDP', 'SCTP'] as const, 'TCP') ?? 'TCP';
    const portField = p.get('port');
    let port: number | string | undefined;
    if (typeof portField.value === 'string') {
      const problem = portName(portField.value);
      if (problem) portField.error(problem);
      else port = portField.value;
    } else port = portField.int({ min: 1, max: 65535 });
    const endField = p.get('endPort');
    const endPort = endField.int({ min: 1, max: 65535 });
    if (endPort !== undefined && typeof port !== 'number') endField.error('requires a numeric port');
    else if (endPort !== undefined && typeof port === 'number' && endPort < port)
      endField.error(`must be >= port (${port})`);
    const np: NetworkPolicyPort = { protocol };
    if (port !== undefined) np.port = port;
    if (endPort !== undefined && typeof port === 'number' && endPort >= port) np.endPort = endPort;
    ports.push(np);
  }
  return { peers, ports };
}

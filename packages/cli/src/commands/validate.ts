/**
 * `podnet validate -f FILE...`: the cluster as the control plane resolved it (nodes with their
 * underlay IPs and podCIDRs, pods with nodes and IPs, services with ClusterIPs, ports and the
 * endpoints each port reaches), then the warnings; or every error, one per line, exit 2.
 */
import { selectedPods } from '@podnet/cluster';
import {
  type ClusterState,
  type IngressBackendInfo,
  InvalidArgumentError,
  objectKey,
  type ServiceInfo,
  stableJson,
} from '@podnet/core';
import { type Command, fileOptions, outputOption } from '../command.js';
import { clusterIP, labelSelectorText, nodeStatus, podStatus } from '../format.js';
import type { CliIo } from '../io.js';
import { formatWarning, loadStateFromArgs } from '../load.js';
import { formatTable, hostPort } from '../table.js';

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function header(state: ClusterState): string {
  const n = state.network;
  return [
    `ClusterNetwork ${n.name}: ${n.ipFamilies.map((f) => `IPv${f}`).join('/')}`,
    `clusterCIDRs ${n.clusterCIDRs.join(',')}`,
    `serviceCIDRs ${n.serviceCIDRs.join(',')}`,
    `underlay ${n.underlay.subnets.join(',')}`,
    `overlay ${n.overlay.backend}`,
    `proxy ${n.proxy.mode}`,
    `dns ${n.dns.serviceIP} (${n.clusterDomain})`,
  ].join(', ');
}

/** One line per service port: `http 80/TCP -> http: 10.244.0.3:8080, 10.244.1.2:8080 (not ready)`. */
function serviceLines(state: ClusterState, svc: ServiceInfo): string[] {
  const head = [
    objectKey(svc),
    svc.type,
    clusterIP(svc),
    ...(svc.clusterIPs.length > 1 ? [`(${svc.clusterIPs.slice(1).join(',')})`] : []),
    ...(svc.type === 'ExternalName' ? [`-> ${svc.externalName}`] : []),
  ].join('  ');
  if (svc.type === 'ExternalName') return [head];
  const slices = state.endpointSlices.filter(
    (e) => e.namespace === svc.namespace && e.serviceName === svc.name,
  );
  const lines = [head];
  if (svc.selector && selectedPods(svc, state.pods).length === 0) lines.push('  (selector matches no pods)');
  for (const p of svc.ports) {
    const targets: string[] = [];
    for (const slice of slices) {
      const sp = slice.ports.find((x) => x.name === p.name && x.protocol === p.protocol);
      if (!sp) continue;
      for (const e of slice.endpoints) {
        for (const a of e.addresses) targets.push(`${hostPort(a, sp.port)}${e.ready ? '' : ' (not ready)'}`);
      }
    }
    const name = p.name ? `${p.name} ` : '';
    const nodePort = p.nodePort !== undefined ? ` nodePort ${p.nodePort}` : '';
    lines.push(
      `  ${name}${p.port}/${p.protocol} -> ${p.targetPort}${nodePort}: ${targets.length > 0 ? targets.join(', ') : '<no endpoints>'}`,
    );
  }
  return lines;
}

export function summary(state: ClusterState): string {
  const out: string[] = [header(state), ''];
  out.push(`NODES (${state.nodes.length})`);
  out.push(
    formatTable([
      ['NAME', 'STATUS', 'INTERNAL-IP', 'UNDERLAY-SUBNET', 'POD-CIDRS'],
      ...state.nodes.map((n) => [
        n.name,
        nodeStatus(n),
        n.internalIPs.join(',') || '<none>',
        n.underlaySubnet,
        n.podCIDRs.join(','),
      ]),
    ]),
  );
  out.push(`PODS (${state.pods.length})`);
  if (state.pods.length > 0) {
    out.push(
      formatTable([
        ['NAMESPACE', 'NAME', 'NODE', 'IP', 'STATUS', 'READY'],
        ...state.pods.map((p) => [
          p.namespace,
          p.name,
          p.node,
          p.ips.join(',') || '<none>',
          podStatus(p),
          p.ready ? 'true' : 'false',
        ]),
      ]),
    );
  } else out.push('');
  out.push(`SERVICES (${state.services.length})`);
  for (const s of state.services) out.push(...serviceLines(state, s));
  out.push('');
  if (state.ingresses.length > 0) {
    out.push(`INGRESSES (${state.ingresses.length})`);
    for (const i of state.ingresses) {
      const cls = i.ingressClassName ?? state.ingressClasses.find((c) => c.isDefault)?.name ?? '<none>';
      out.push(`${objectKey(i)}  class ${cls}`);
      const target = (b: IngressBackendInfo) =>
        b.service
          ? `${b.service.name}:${b.service.port.number ?? b.service.port.name}`
          : `${b.resource?.kind}/${b.resource?.name}`;
      if (i.defaultBackend) out.push(`  (default backend) -> ${target(i.defaultBackend)}`);
      for (const r of i.rules) {
        for (const p of r.paths)
          out.push(`  ${r.host ?? '*'}${p.path} (${p.pathType}) -> ${target(p.backend)}`);
      }
    }
    out.push('');
  }
  if (state.networkPolicies.length > 0) {
    out.push(`NETWORK POLICIES (${state.networkPolicies.length})`);
    for (const n of state.networkPolicies) {
      out.push(`${objectKey(n)}  pods ${labelSelectorText(n.podSelector)}  ${n.policyTypes.join(',')}`);
    }
    out.push('');
  }
  if (state.warnings.length > 0) {
    out.push(`WARNINGS (${state.warnings.length})`);
    for (const w of state.warnings) out.push(formatWarning(w));
    out.push('');
  }
  out.push(
    `valid: ${plural(state.nodes.length, 'node')}, ${plural(state.pods.length, 'pod')}, ${plural(state.services.length, 'service')}, ${plural(state.endpointSlices.length, 'endpoint slice')}, ${plural(state.warnings.length, 'warning')}`,
  );
  return `${out.join('\n')}\n`;
}

export const validate: Command = {
  name: 'validate',
  summary: 'check manifests and print the resolved cluster (nodes, pods, services, endpoints) or every error',
  usage: 'podnet validate -f FILE... [-o json]',
  options: { ...fileOptions, ...outputOption },
  async run({ values, positionals }, io: CliIo) {
    if (positionals.length > 0)
      throw new InvalidArgumentError(
        'validate',
        `unexpected argument "${positionals[0]}" (give each manifest with its own -f)`,
      );
    const output = values.output as string | undefined;
    if (output !== undefined && output !== 'json')
      throw new InvalidArgumentError('-o', `unknown output format "${output}" (json)`);
    const state = await loadStateFromArgs(values, io);
    io.out(output === 'json' ? `${stableJson(state)}\n` : summary(state));
    return 0;
  },
};

/** `podnet get RESOURCE [NAME...] -f FILE... [-n NS] [-o wide|json|name]`: kubectl-like tables. */
import { INGRESS_NAMESPACE } from '@podnet/cluster';
import { type ClusterState, InvalidArgumentError, NotFoundError, stableJson } from '@podnet/core';
import { type Command, fileOptions, outputOption } from '../command.js';
import {
  clusterIP,
  externalIP,
  ingressAddress,
  labelSelectorText,
  mapSelector,
  nodeRoles,
  nodeStatus,
  podReady,
  podStatus,
  servicePorts,
} from '../format.js';
import type { CliIo } from '../io.js';
import { loadStateFromArgs, printWarnings } from '../load.js';
import { formatTable } from '../table.js';

interface Item {
  namespace?: string;
  name: string;
}

interface Resource {
  /** Plural, as `kubectl get` takes it. */
  name: string;
  /** Singular, for `-o name` and messages. */
  kind: string;
  aliases: string[];
  items(state: ClusterState): readonly Item[];
  header: string[];
  wide: string[];
  row(item: never, state: ClusterState, wide: boolean): string[];
}

const resource = <T extends Item>(
  r: Omit<Resource, 'items' | 'row'> & {
    items(state: ClusterState): readonly T[];
    row(item: T, state: ClusterState, wide: boolean): string[];
  },
): Resource => r as unknown as Resource;

const MAX_ENDPOINTS_SHOWN = 3;

export const RESOURCES: Resource[] = [
  resource({
    name: 'nodes',
    kind: 'node',
    aliases: ['node', 'no'],
    items: (s) => s.nodes,
    header: ['NAME', 'STATUS', 'ROLES', 'INTERNAL-IP', 'POD-CIDRS'],
    wide: ['UNDERLAY-SUBNET'],
    row: (n, _s, wide) => [
      n.name,
      nodeStatus(n),
      nodeRoles(n),
      n.internalIPs.join(',') || '<none>',
      n.podCIDRs.join(','),
      ...(wide ? [n.underlaySubnet] : []),
    ],
  }),
  resource({
    name: 'pods',
    kind: 'pod',
    aliases: ['pod', 'po'],
    items: (s) => s.pods,
    header: ['NAME', 'READY', 'STATUS', 'RESTARTS'],
    wide: ['IP', 'NODE'],
    row: (p, _s, wide) => [
      p.name,
      podReady(p),
      podStatus(p),
      '0',
      ...(wide ? [p.ips[0] ?? '<none>', p.node] : []),
    ],
  }),
  resource({
    name: 'services',
    kind: 'service',
    aliases: ['service', 'svc'],
    items: (s) => s.services,
    header: ['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)'],
    wide: ['SELECTOR'],
    row: (v, _s, wide) => [
      v.name,
      v.type,
      clusterIP(v),
      externalIP(v),
      servicePorts(v),
      ...(wide ? [mapSelector(v.selector)] : []),
    ],
  }),
  resource({
    name: 'endpointslices',
    kind: 'endpointslice',
    aliases: ['endpointslice'],
    items: (s) => s.endpointSlices,
    header: ['NAME', 'ADDRESSTYPE', 'PORTS', 'ENDPOINTS'],
    wide: ['SERVICE'],
    row: (e, _s, wide) => {
      const addrs = e.endpoints.flatMap((x) => x.addresses);
      const shown = addrs.slice(0, MAX_ENDPOINTS_SHOWN).join(',');
      const more =
        addrs.length > MAX_ENDPOINTS_SHOWN ? ` + ${addrs.length - MAX_ENDPOINTS_SHOWN} more...` : '';
      return [
        e.name,
        e.addressType,
        e.ports.length > 0 ? e.ports.map((p) => p.port).join(',') : '<unset>',
        addrs.length > 0 ? shown + more : '<none>',
        ...(wide ? [e.serviceName] : []),
      ];
    },
  }),
  resource({
    name: 'ingresses',
    kind: 'ingress',
    aliases: ['ingress', 'ing'],
    items: (s) => s.ingresses,
    header: ['NAME', 'CLASS', 'HOSTS', 'ADDRESS', 'PORTS'],
    wide: [],
    row: (i, s) => {
      const hosts = [...new Set(i.rules.map((r) => r.host ?? '*'))];
      return [
        i.name,
        i.ingressClassName ?? s.ingressClasses.find((c) => c.isDefault)?.name ?? '<none>',
        hosts.length > 0 ? hosts.join(',') : '*',
        ingressAddress(s, INGRESS_NAMESPACE),
        i.tls.length > 0 ? '80, 443' : '80',
      ];
    },
  }),
  resource({
    name: 'networkpolicies',
    kind: 'networkpolicy',
    aliases: ['networkpolicy', 'netpol'],
    items: (s) => s.networkPolicies,
    header: ['NAME', 'POD-SELECTOR', 'POLICY-TYPES'],
    wide: [],
    row: (n) => [n.name, labelSelectorText(n.podSelector), n.policyTypes.join(',')],
  }),
];

export function findResource(name: string): Resource | undefined {
  const n = name.toLowerCase();
  return RESOURCES.find((r) => r.name === n || r.aliases.includes(n));
}

function render(
  r: Resource,
  items: readonly Item[],
  state: ClusterState,
  output: string | undefined,
  allNamespaces: boolean,
): string {
  if (output === 'json') return `${stableJson({ items })}\n`;
  if (output === 'name') return items.map((i) => `${r.kind}/${i.name}\n`).join('');
  const wide = output === 'wide';
  const namespaced = items.some((i) => i.namespace !== undefined);
  const showNs = namespaced && allNamespaces;
  const header = [...(showNs ? ['NAMESPACE'] : []), ...r.header, ...(wide ? r.wide : [])];
  const rows = items.map((i) => [...(showNs ? [i.namespace ?? ''] : []), ...r.row(i as never, state, wide)]);
  return formatTable([header, ...rows]);
}

export const get: Command = {
  name: 'get',
  summary: 'list nodes, pods, services, endpointslices, ingresses or networkpolicies as kubectl does',
  usage:
    'podnet get nodes|pods|services|endpointslices|ingresses|networkpolicies [NAME...] -f FILE... [-n NAMESPACE] [-o wide|json|name]',
  options: { ...fileOptions, ...outputOption, namespace: { type: 'string', short: 'n' } },
  async run({ values, positionals }, io: CliIo) {
    const [what, ...names] = positionals;
    if (!what)
      throw new InvalidArgumentError('get', `name a resource: ${RESOURCES.map((r) => r.name).join(', ')}`);
    const r = findResource(what);
    if (!r)
      throw new InvalidArgumentError(
        'get',
        `unknown resource "${what}" (one of ${RESOURCES.map((x) => x.name).join(', ')})`,
      );
    const output = values.output as string | undefined;
    if (output !== undefined && !['wide', 'json', 'name'].includes(output)) {
      throw new InvalidArgumentError('-o', `unknown output format "${output}" (wide, json or name)`);
    }
    const namespace = values.namespace as string | undefined;
    const state = await loadStateFromArgs(values, io);
    printWarnings(state, io);
    let items = r
      .items(state)
      .filter((i) => namespace === undefined || i.namespace === undefined || i.namespace === namespace);
    if (names.length > 0) {
      const missing = names.filter((n) => !items.some((i) => i.name === n));
      if (missing.length > 0) {
        const where = namespace ? ` in namespace ${namespace}` : '';
        throw new NotFoundError(missing.map((n) => `${r.name} "${n}" not found${where}`).join('\n'));
      }
      items = items.filter((i) => names.includes(i.name));
    }
    if (items.length === 0 && output !== 'json') {
      io.err(`No resources found${namespace ? ` in ${namespace} namespace` : ''}.\n`);
      return 0;
    }
    io.out(render(r, items, state, output, namespace === undefined));
    return 0;
  },
};

/**
 * A pod's /etc/resolv.conf as the kubelet writes it (pkg/kubelet/network/dns: GetPodDNS): the
 * dnsPolicy picks the base (cluster DNS, the node's resolv.conf, or nothing), `dnsConfig` is merged
 * in (nameservers and searches appended without duplicates, options overriding by name), then the
 * limits are applied: 3 nameservers; 32 search domains and 2048 characters (ExpandedDNSConfig, GA
 * in 1.28; 6 and 256 before), search domains longer than 253 characters dropped.
 */
import type { ClusterNetworkConfig, PodInfo } from '@podnet/core';

export interface ResolvConfOption {
  name: string;
  value?: string;
}

export interface ResolvConf {
  nameservers: string[];
  searches: string[];
  options: ResolvConfOption[];
}

export interface PodResolvConfOptions {
  /** The node's /etc/resolv.conf (kubelet `--resolv-conf`). @default nameservers = network.dns.upstreams, no searches */
  node?: ResolvConf;
  /** kubelet's ExpandedDNSConfig limits (32 domains, 2048 chars); false: the legacy 6 and 256. @default true */
  expandedDnsConfig?: boolean;
}

export const MAX_NAMESERVERS = 3;

function unique<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}

function mergeOptions(base: ResolvConfOption[], extra: ResolvConfOption[]): ResolvConfOption[] {
  const m = new Map<string, string | undefined>();
  for (const o of [...base, ...extra]) m.set(o.name, o.value);
  return [...m].map(([name, value]) => (value === undefined || value === '' ? { name } : { name, value }));
}

function fitSearches(searches: string[], expanded: boolean): string[] {
  const [maxPaths, maxChars] = expanded ? [32, 2048] : [6, 256];
  let s = searches.slice(0, maxPaths).filter((d) => d.length <= 253);
  while (s.length > 0 && s.join(' ').length > maxChars) s = s.slice(0, -1);
  return s;
}

/** The kubelet's pod DNS type for a dnsPolicy (ClusterFirst on hostNetwork falls back to Default). */
export function podDnsType(pod: Pick<PodInfo, 'dnsPolicy' | 'hostNetwork'>): 'cluster' | 'host' | 'none' {
  switch (pod.dnsPolicy) {
    case 'None':
      return 'none';
    case 'ClusterFirstWithHostNet':
      return 'cluster';
    case 'Default':
      return 'host';
    default:
      return pod.hostNetwork ? 'host' : 'cluster';
  }
}

/** The resolv.conf the kubelet gives `pod`. */
export function podResolvConf(
  network: Pick<ClusterNetworkConfig, 'clusterDomain' | 'dns'>,
  pod: Pick<PodInfo, 'namespace' | 'dnsPolicy' | 'hostNetwork' | 'dnsConfig'>,
  options: PodResolvConfOptions = {},
): ResolvConf {
  const node = options.node ?? { nameservers: [...network.dns.upstreams], searches: [], options: [] };
  let conf: ResolvConf;
  switch (podDnsType(pod)) {
    case 'none':
      conf = { nameservers: [], searches: [], options: [] };
      break;
    case 'cluster': {
      const zone = network.clusterDomain.replace(/\.$/, '');
      conf = {
        nameservers: [network.dns.serviceIP],
        searches: unique([`${pod.namespace}.svc.${zone}`, `svc.${zone}`, zone, ...node.searches]),
        options: [{ name: 'ndots', value: '5' }],
      };
      break;
    }
    default:
      conf = { nameservers: [...node.nameservers], searches: [...node.searches], options: [...node.options] };
  }
  if (pod.dnsConfig) {
    conf = {
      nameservers: unique([...conf.nameservers, ...pod.dnsConfig.nameservers]),
      searches: unique([...conf.searches, ...pod.dnsConfig.searches]),
      options: mergeOptions(conf.options, pod.dnsConfig.options),
    };
  }
  return {
    nameservers: conf.nameservers.slice(0, MAX_NAMESERVERS),
    searches: fitSearches(conf.searches, options.expandedDnsConfig ?? true),
    options: conf.options,
  };
}

/** The file text, in the order container runtimes write it. */
export function renderResolvConf(conf: ResolvConf): string {
  const lines: string[] = [];
  if (conf.searches.length > 0) lines.push(`search ${conf.searches.join(' ')}`);
  for (const ns of conf.nameservers) lines.push(`nameserver ${ns}`);
  if (conf.options.length > 0) {
    lines.push(
      `options ${conf.options.map((o) => (o.value === undefined ? o.name : `${o.name}:${o.value}`)).join(' ')}`,
    );
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

/** Parse resolv.conf text as the kubelet does: nameservers accumulate, the last search/options line wins. */
export function parseResolvConf(text: string): ResolvConf {
  const conf: ResolvConf = { nameservers: [], searches: [], options: [] };
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || line.startsWith(';')) continue;
    const f = line.split(/\s+/).filter(Boolean);
    if (f[0] === 'nameserver' && f[1]) conf.nameservers.push(f[1]);
    else if (f[0] === 'search' || f[0] === 'domain')
      conf.searches = f.slice(1).map((s) => s.replace(/\.$/, ''));
    else if (f[0] === 'options') {
      conf.options = f.slice(1).map((o) => {
        const i = o.indexOf(':');
        return i < 0 ? { name: o } : { name: o.slice(0, i), value: o.slice(i + 1) };
      });
    }
  }
  return conf;
}

/** glibc's ndots (default 1, capped at 15). */
export function ndotsOf(conf: ResolvConf): number {
  const o = conf.options.filter((x) => x.name === 'ndots').pop();
  const n = o?.value !== undefined && /^\d+$/.test(o.value) ? Number(o.value) : 1;
  return Math.min(n, 15);
}
